"""A thin, typed layer over llama-cpp-python's low-level (ctypes) API.

Only what the diffusion engine needs: load a model, make a context, decode a
batch of tokens at explicit positions with logits for chosen rows only, drop
cache cells (from a position on, or chosen ones), know which token each cached
position holds, switch causal attention, tokenize and detokenize. llama.cpp's own
log lines are kept in a small ring buffer (shown when something fails) instead
of being printed.
"""

from __future__ import annotations

import collections
import ctypes
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from dgcode.engine.errors import EngineError, ModelFileError

_LOG_LINES: collections.deque[str] = collections.deque(maxlen=200)
_init_lock = threading.Lock()
_initialised = False
_log_callback_ref = None


def _lib():
    """llama_cpp, imported on first use with the library engine/libllama.py chooses (importing it loads it)."""
    from dgcode.engine.libllama import load_llama_cpp

    return load_llama_cpp()[0]


def init_backend() -> None:
    """Initialise llama.cpp once per process and capture its log."""
    global _initialised, _log_callback_ref
    with _init_lock:
        if _initialised:
            return
        lib = _lib()
        echo = os.environ.get("DGCODE_LLAMA_LOG") == "1"

        @lib.llama_log_callback
        def _on_log(level, text, user_data):  # noqa: ARG001 - ctypes signature
            line = text.decode("utf-8", "replace") if text else ""
            _LOG_LINES.append(line)
            if echo:
                os.write(2, text or b"")

        _log_callback_ref = _on_log  # keep alive: llama.cpp holds the pointer
        lib.llama_log_set(_on_log, None)
        lib.llama_backend_init()
        _initialised = True


def recent_log(n: int = 20) -> str:
    return "".join(list(_LOG_LINES)[-n:]).strip()


def physical_cores() -> int:
    """Number of physical cores (llama.cpp is slower with hyper-threads), at least 1."""
    try:
        pairs = set()
        phys = core = None
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("physical id"):
                    phys = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":")[1].strip()
                    pairs.add((phys, core))
        if pairs:
            return len(pairs)
    except OSError:
        pass
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, (os.cpu_count() or 2) // 2)


def gpu_offload_supported() -> bool:
    init_backend()
    return bool(_lib().llama_supports_gpu_offload())


class LlamaModel:
    """A loaded GGUF model and its vocabulary."""

    def __init__(self, path: Path, *, n_gpu_layers: int | None = None):
        init_backend()
        lib = _lib()
        params = lib.llama_model_default_params()
        if n_gpu_layers is None:
            n_gpu_layers = -1 if lib.llama_supports_gpu_offload() else 0
        params.n_gpu_layers = n_gpu_layers
        self.path = Path(path)
        self._ptr = lib.llama_model_load_from_file(str(self.path).encode(), params)
        if not self._ptr:
            raise ModelFileError(f"llama.cpp could not load {self.path}: {recent_log(5) or 'no details'}")
        self._vocab = lib.llama_model_get_vocab(self._ptr)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self._vocab))
        self.is_diffusion = bool(lib.llama_model_is_diffusion(self._ptr))
        self.n_ctx_train = int(lib.llama_model_n_ctx_train(self._ptr))
        self._pieces: list[bytes] | None = None

    @property
    def ptr(self):
        return self._ptr

    def tokenize(self, text: str, *, parse_special: bool = True) -> list[int]:
        lib = _lib()
        data = text.encode("utf-8")
        cap = len(data) + 16
        buf = (lib.llama_token * cap)()
        n = lib.llama_tokenize(self._vocab, data, len(data), buf, cap, False, parse_special)
        if n < 0:
            cap = -n
            buf = (lib.llama_token * cap)()
            n = lib.llama_tokenize(self._vocab, data, len(data), buf, cap, False, parse_special)
        if n < 0:
            raise EngineError("tokenization failed")
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (special tokens rendered as their text)."""
        if self._pieces is None:
            self._pieces = [b""] * self.n_vocab
            self._have = bytearray(self.n_vocab)
        if not self._have[token]:
            lib = _lib()
            buf = ctypes.create_string_buffer(64)
            n = lib.llama_token_to_piece(self._vocab, token, buf, 64, 0, True)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = lib.llama_token_to_piece(self._vocab, token, buf, -n, 0, True)
            self._pieces[token] = buf.raw[: max(n, 0)]
            self._have[token] = 1
        return self._pieces[token]

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", "replace")

    def token_text(self, token: int) -> str:
        return self.piece(token).decode("utf-8", "replace")

    def close(self) -> None:
        if self._ptr:
            _lib().llama_model_free(self._ptr)
            self._ptr = None


@dataclass(frozen=True)
class ContextSettings:
    n_ctx: int
    n_batch: int          # the most tokens one decode call may carry (= n_ubatch: one micro-batch)
    n_outputs_max: int    # the most logit rows one decode call may ask for
    n_threads: int
    flash_attn: bool = True
    kv_f32: bool = False  # f32 KV cache instead of f16 (exact comparisons in tests)


def context_params(settings: ContextSettings, n_seq: int = 1, unified: bool = False):
    """llama.cpp's context parameters for ``settings``: one micro-batch per decode (a window is bidirectional
    only within one), ``n_seq`` sequences, sharing one unified KV cache when ``unified``."""
    lib = _lib()
    params = lib.llama_context_default_params()
    params.n_ctx = settings.n_ctx
    params.n_batch = settings.n_batch
    params.n_ubatch = settings.n_batch
    params.n_seq_max = n_seq
    if unified:
        params.kv_unified = True
    params.n_outputs_max = settings.n_outputs_max
    params.n_threads = settings.n_threads
    params.n_threads_batch = settings.n_threads
    params.flash_attn_type = (lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if settings.flash_attn
                              else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED)
    params.no_perf = True
    if settings.kv_f32:
        params.type_k = params.type_v = lib.GGML_TYPE_F32
    return params


class LlamaContext:
    """A decoding context with one sequence (id 0) whose KV cells can be kept or dropped."""

    def __init__(self, model: LlamaModel, settings: ContextSettings):
        lib = _lib()
        params = context_params(settings)
        self.model = model
        self.settings = settings
        self._ptr = lib.llama_init_from_model(model.ptr, params)
        if not self._ptr:
            raise EngineError(f"llama.cpp could not create a context (n_ctx={settings.n_ctx}): "
                              f"{recent_log(5) or 'out of memory?'}")
        self._mem = lib.llama_get_memory(self._ptr)
        self.has_cache = bool(self._mem)
        from dgcode.engine.libllama import has_free_positions

        self.free_positions = self.has_cache and has_free_positions()
        """dgcode's libllama: with causal attention off, a batch may sit at any uncached positions."""
        self._batch = lib.llama_batch_init(settings.n_batch, 0, 1)
        self._causal: bool | None = None
        self._cells: dict[int, int] = {}  # position -> token of every cell the KV cache holds (sequence 0)
        self._run = 0                     # positions [0, _run) are all cached
        self.working_from: int | None = None
        """Cells from this position on are a denoising step's working cells (engine/masked_rows_forward.py),
        not a prefix another request may reuse: ``cell_tokens`` stops here. Dropping them ends it."""
        self._end = 0                     # one past the highest cached position

    def set_causal(self, causal: bool) -> None:
        if causal != self._causal:
            _lib().llama_set_causal_attn(self._ptr, causal)
            self._causal = causal

    @property
    def cell_tokens(self) -> list[int]:
        """The tokens of the cached run that starts at position 0, position by position (what a new
        prompt's common prefix can reuse); cells beyond a hole are in ``cells``."""
        run = self._run if self.working_from is None else min(self._run, self.working_from)
        return [self._cells[p] for p in range(run)]

    @property
    def cells(self) -> Mapping[int, int]:
        """Every cached cell: position -> token (read-only view)."""
        return MappingProxyType(self._cells)

    @property
    def end(self) -> int:
        """One past the highest cached position: where the next decode must start."""
        return self._end

    def decode(self, tokens: list[int] | np.ndarray, start_pos: int, logit_rows=()) -> np.ndarray:
        """Decode tokens at positions start_pos.., returning logits (len(logit_rows), n_vocab).

        Rows are indices into `tokens`; they must be increasing. Guards the
        limits that would otherwise abort inside llama.cpp.
        """
        if self.has_cache and len(tokens) and start_pos != self._end:
            raise EngineError(f"internal: decode at position {start_pos} but the cache ends at {self._end}")
        return self.decode_at(tokens, range(start_pos, start_pos + len(tokens)), logit_rows)

    def decode_at(self, tokens: list[int] | np.ndarray, positions, logit_rows=()) -> np.ndarray:
        """Decode tokens at explicit positions (one per token), returning logits for `logit_rows`.

        With a KV cache, llama.cpp 0.3.36 takes a batch for a sequence only at
        consecutive positions starting right after the sequence's highest
        cached position (llama_batch_allocr: "Y = X + 1", "positions are not
        continuous"); anything else is refused here, naming why, with the
        cache left as it was (llama.cpp would fail the decode).  Positions
        below that may have holes (``drop``).  Without a cache any positions go.
        With dgcode's libllama (``free_positions``) and causal attention off, a
        batch may sit at any increasing positions that hold no cell, below,
        between or above the cached ones (the non-causal mask sees every cell).
        """
        n = len(tokens)
        s = self.settings
        if n == 0:
            return np.zeros((0, self.model.n_vocab), dtype=np.float32)
        pos = np.asarray(list(positions), dtype=np.int64)
        if pos.shape != (n,):
            raise EngineError(f"internal: {n} tokens but {pos.size} positions")
        if n > s.n_batch:
            raise EngineError(f"internal: batch of {n} tokens exceeds the context's batch size {s.n_batch}")
        if pos.min() < 0 or pos.max() >= s.n_ctx:
            raise EngineError(f"internal: positions up to {int(pos.max()) + 1} exceed the context ({s.n_ctx})")
        if self.free_positions and self._causal is False:
            if np.any(np.diff(pos) <= 0):
                raise EngineError(f"internal: batch positions must increase, not {_ranges(pos.tolist())}")
            taken = sorted(self._cells.keys() & set(pos.tolist()))
            if taken:
                raise EngineError(f"internal: positions {_ranges(taken)} are cached already: drop them first")
        elif self.has_cache:
            if np.any(np.diff(pos) != 1):
                raise EngineError("internal: llama.cpp decodes a batch only at consecutive positions, not "
                                  f"{_ranges(pos.tolist())}")
            if pos[0] != self._end:
                raise EngineError(f"internal: llama.cpp decodes only right after the highest cached position "
                                  f"({self._end - 1}), not from {int(pos[0])}")
        rows = list(logit_rows)
        if len(rows) > s.n_outputs_max:
            raise EngineError(f"internal: {len(rows)} logit rows exceed n_outputs_max {s.n_outputs_max}")
        lib = _lib()
        b = self._batch
        b.n_tokens = n
        want = np.zeros(n, dtype=np.int8)
        want[rows] = 1
        for i in range(n):
            b.token[i] = int(tokens[i])
            b.pos[i] = int(pos[i])
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = int(want[i])
        rc = lib.llama_decode(self._ptr, b)
        if rc != 0:
            self.clear()  # a failed decode may leave some cells behind: start clean
            raise EngineError(f"llama_decode failed (code {rc}): {recent_log(5)}")
        if self.has_cache:
            for p, t in zip(pos.tolist(), tokens):
                self._cells[p] = int(t)
            self._end = max(self._end, int(pos[-1]) + 1)
            while self._run in self._cells:
                self._run += 1
        if not rows:
            return np.zeros((0, self.model.n_vocab), dtype=np.float32)
        ptr = lib.llama_get_logits(self._ptr)
        flat = np.ctypeslib.as_array(ptr, shape=(len(rows) * self.model.n_vocab,))
        return flat.reshape(len(rows), self.model.n_vocab).copy()

    def drop_from(self, pos: int) -> None:
        """Forget every cached cell at position >= pos."""
        if self.has_cache:
            if not _lib().llama_memory_seq_rm(self._mem, 0, pos, -1):
                raise EngineError(f"internal: could not drop cache cells from position {pos}")
            for p in range(max(pos, 0), self._end):
                self._cells.pop(p, None)
            self._forgot(pos)
            if self.working_from is not None and pos <= self.working_from:
                self.working_from = None

    def drop(self, positions) -> None:
        """Forget the cached cells at these positions (one llama_memory_seq_rm per run of consecutive
        positions); positions with no cell are ignored. The cells left keep their positions."""
        if not self.has_cache:
            return
        cached = sorted({int(p) for p in positions} & self._cells.keys())
        lib = _lib()
        for lo, hi in _runs(cached):
            if not lib.llama_memory_seq_rm(self._mem, 0, lo, hi):
                raise EngineError(f"internal: could not drop cache cells [{lo}, {hi})")
            for p in range(lo, hi):
                del self._cells[p]
        if cached:
            self._forgot(cached[0])

    def _forgot(self, lowest: int) -> None:
        self._run = min(self._run, max(lowest, 0))
        while self._end > 0 and self._end - 1 not in self._cells:
            self._end -= 1

    def clear(self) -> None:
        if self.has_cache:
            _lib().llama_memory_clear(self._mem, True)
        self._cells = {}
        self._run = self._end = 0
        self.working_from = None

    def close(self) -> None:
        if self._ptr:
            lib = _lib()
            lib.llama_batch_free(self._batch)
            lib.llama_free(self._ptr)
            self._ptr = None


def _runs(sorted_positions: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive positions as half-open ranges: [1, 2, 3, 7] -> [(1, 4), (7, 8)]."""
    runs: list[tuple[int, int]] = []
    for p in sorted_positions:
        if runs and runs[-1][1] == p:
            runs[-1] = (runs[-1][0], p + 1)
        else:
            runs.append((p, p + 1))
    return runs


def _ranges(positions: list[int]) -> str:
    return ", ".join(f"{lo}" if hi == lo + 1 else f"{lo}-{hi - 1}" for lo, hi in _runs(sorted(positions)))


QUANT_TYPES = {"F16": 1, "Q8_0": 7, "Q4_0": 2, "Q4_K_M": 15, "Q4_K_S": 14, "Q5_K_M": 17, "Q6_K": 18}


def quantize(src: Path, dst: Path, quant: str, n_threads: int | None = None) -> None:
    """Quantize a GGUF with llama.cpp's own quantizer (written to a temp file, then renamed)."""
    quant = quant.upper()
    if quant not in QUANT_TYPES:
        raise EngineError(f"unknown quantization {quant!r}; choose one of {', '.join(QUANT_TYPES)}")
    init_backend()
    lib = _lib()
    params = lib.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[quant]
    params.nthread = n_threads or physical_cores()
    tmp = dst.with_name(dst.name + ".tmp")
    rc = lib.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0:
        tmp.unlink(missing_ok=True)
        raise EngineError(f"quantizing {src.name} to {quant} failed: {recent_log(5)}")
    os.replace(tmp, dst)
