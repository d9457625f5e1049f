"""The fused confidence kernel: one C pass pair per row of logits instead of numpy's softmax, behind `propose`.

A denoising step needs a handful of numbers per masked row (top-1 token and
probability, the runner-up's probability, the entropy, a sampled token), not
the (rows x vocab) probability matrix numpy builds to get them. The C kernel
(`kernels/cpu/confidence.c`, built by `setup.py` into `dgcode/engine/_kernels/`
and loaded here with ctypes) computes them in two streaming passes over each
row, multithreaded over rows. `unmasking.propose` uses it whenever it is
loaded (every setting: greedy or temperature sampling, with or without top-k
and top-p, every scoring algorithm); otherwise numpy's
`unmasking.propose_numpy`, which stays the reference.

Same seed, same tokens: the per-row uniforms for sampling come from the same
`rng.random(rows)` call the numpy path makes, and the kernel inverts the same
CDF. Where the library is missing (no C compiler at install time), fails to
load, or `DGCODE_KERNELS=numpy` asks for numpy, dgcode says so once per
process (`DGCODE_KERNELS_QUIET=1` silences it) and uses numpy: on stderr,
or, in the engine's child process, through the front end's progress line
(`fallback_notice`).
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:  # numpy is imported where the kernel runs: `dgcode models info` asks status() only
    import numpy as np

ENV_BACKEND = "DGCODE_KERNELS"          # numpy: always the numpy path; c or unset: the C kernel where it loads
ENV_LIBRARY = "DGCODE_CONFIDENCE_LIB"   # a path to the built library instead of the installed one
ENV_THREADS = "DGCODE_KERNEL_THREADS"   # threads for the kernel (default: the CPUs this process may use)
ENV_QUIET = "DGCODE_KERNELS_QUIET"      # 1: no notice when the numpy path is used
ABI_VERSION = 2  # 2: top_k and top_p
LIBRARY_DIR = Path(__file__).resolve().parent / "_kernels"


@dataclass(frozen=True)
class KernelStatus:
    """Which confidence kernel `propose` uses, and why."""

    backend: str            # "c" | "numpy"
    threads: int            # the C kernel's threads (0 for numpy)
    reason: str             # for numpy: why; for C: the instruction set its clone uses
    path: Path | None       # the library, where one was found

    def describe(self) -> str:
        if self.backend == "c":
            return f"C ({self.threads} thread{'s' if self.threads != 1 else ''}, {self.reason})"
        return f"numpy ({self.reason})"

    def to_json(self) -> dict:
        return {"backend": self.backend, "threads": self.threads, "reason": self.reason,
                "path": str(self.path) if self.path else None, "describe": self.describe()}


class Settings(Protocol):
    """What the kernel reads of `unmasking.SamplerSettings` (this module does not import unmasking: that one
    imports it)."""

    temperature: float
    top_k: int
    top_p: float
    algorithm: str


class Chosen(NamedTuple):
    """`unmasking.Proposal`'s fields: each row's token, its probability, its score (higher commits first)."""

    tokens: np.ndarray       # int64
    probability: np.ndarray  # float32
    score: np.ndarray        # float32


class Fused(NamedTuple):
    """The kernel's per-row outputs (see kernels/cpu/confidence.h)."""

    token: np.ndarray    # int64: the sampled token, or top1 when greedy
    prob: np.ndarray     # float32: softmax(y)[token]
    top1: np.ndarray     # int64: first index of max(y)
    p1: np.ndarray       # float32: softmax(y)[top1]
    p2: np.ndarray       # float32: the runner-up's probability
    negent: np.ndarray   # float32: sum p log p


class CKernel:
    """The loaded library and its one entry point."""

    def __init__(self, path: Path, threads: int):
        self.path, self.threads = path, threads
        self.lib = ctypes.CDLL(str(path))
        self.lib.dgc_abi_version.restype = ctypes.c_int
        self.lib.dgc_isa.restype = ctypes.c_char_p
        version = self.lib.dgc_abi_version()
        if version != ABI_VERSION:
            raise OSError(f"{path.name} has kernel ABI {version}, this dgcode needs {ABI_VERSION}: rebuild it")
        self.isa = self.lib.dgc_isa().decode()
        fn = self.lib.dgc_confidence
        p = ctypes.c_void_p
        fn.argtypes = [p, ctypes.c_int64, ctypes.c_int64, ctypes.c_float, ctypes.c_int64, ctypes.c_float, p,
                       ctypes.c_int, p, p, p, p, p, p]
        fn.restype = ctypes.c_int
        self._fn = fn

    def run(self, logits: np.ndarray, temperature: float = 0.0, draws: np.ndarray | None = None,
            threads: int | None = None, top_k: int = 0, top_p: float = 1.0) -> Fused:
        import numpy as np

        x = np.ascontiguousarray(logits, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"logits must be (rows, vocab), not shape {x.shape}")
        rows, vocab = x.shape
        if draws is not None:
            draws = np.ascontiguousarray(draws, dtype=np.float64)
            if draws.shape != (rows,):
                raise ValueError(f"one draw per row: {rows} rows, draws of shape {draws.shape}")
        token, top1 = np.empty(rows, np.int64), np.empty(rows, np.int64)
        prob, p1, p2, negent = (np.empty(rows, np.float32) for _ in range(4))
        status = self._fn(x.ctypes.data, rows, vocab, temperature, top_k, top_p,
                          None if draws is None else draws.ctypes.data,
                          threads or self.threads, token.ctypes.data, prob.ctypes.data, top1.ctypes.data,
                          p1.ctypes.data, p2.ctypes.data, negent.ctypes.data)
        if status != 0:
            raise RuntimeError(f"the confidence kernel failed (status {status}) on {rows} x {vocab} logits")
        return Fused(token, prob, top1, p1, p2, negent)


def library_path() -> Path | None:
    """The built library: $DGCODE_CONFIDENCE_LIB, else the one setup.py put beside this module."""
    override = os.environ.get(ENV_LIBRARY)
    if override:
        return Path(override)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = LIBRARY_DIR / f"confidence{suffix}"
        if candidate.is_file():
            return candidate
    return None


def default_threads() -> int:
    value = os.environ.get(ENV_THREADS, "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 64))
    except AttributeError:  # macOS, Windows
        return max(1, min(os.cpu_count() or 1, 64))


_kernel: CKernel | None = None
_status: KernelStatus | None = None
_noticed = False
_quiet: bool | None = None


def _load() -> KernelStatus:
    global _kernel, _status
    if _status is not None:
        return _status
    forced = os.environ.get(ENV_BACKEND, "").strip().lower()
    path = library_path()
    if forced == "numpy":
        _status = KernelStatus("numpy", 0, f"{ENV_BACKEND}=numpy", path)
    elif forced not in ("", "c", "auto"):
        _status = KernelStatus("numpy", 0, f"{ENV_BACKEND}={forced} is not one of c, numpy", path)
    elif path is None:
        _status = KernelStatus("numpy", 0, f"the C kernel is not built (no {LIBRARY_DIR}/confidence*.so; "
                               "reinstall dgcode where a C compiler is available)", None)
    elif not path.is_file():
        _status = KernelStatus("numpy", 0, f"the C kernel library {path} does not exist", path)
    else:
        try:
            _kernel = CKernel(path, default_threads())
            _status = KernelStatus("c", _kernel.threads, _kernel.isa, path)
        except (OSError, AttributeError) as exc:  # not a loadable library, a stale build without the symbols
            _status = KernelStatus("numpy", 0, f"the C kernel {path} did not load: {exc}", path)
    return _status


def status() -> KernelStatus:
    """Which kernel `propose` uses (loads the library on first use; prints nothing)."""
    return _load()


def active() -> CKernel | None:
    """The loaded C kernel, or None (then, once per process, a one-line notice on stderr says why)."""
    state = _load()
    if state.backend == "c":
        return _kernel
    notice = fallback_notice()
    if notice is not None:
        print(f"dgcode: {notice}", file=sys.stderr)
    return None


def fallback_notice() -> str | None:
    """The once-per-process line saying that numpy is used and why; None when the C kernel is, when it was
    said already, or with DGCODE_KERNELS_QUIET.  The engine's child process, whose stderr is llama.cpp's log,
    hands it to the front end this way (workflows/model_engine.py), so the person sees it."""
    global _noticed
    state = _load()
    quiet = _quiet if _quiet is not None else os.environ.get(ENV_QUIET, "") not in ("", "0")
    if state.backend == "c" or _noticed or quiet:
        return None
    _noticed = True
    return f"confidence kernel: numpy, {state.reason}"


def reset(quiet: bool | None = None) -> None:
    """Forget the loaded kernel and the notice (tests; after changing the environment variables)."""
    global _kernel, _status, _noticed, _quiet
    _kernel, _status, _noticed, _quiet = None, None, False, quiet


def supports(settings: Settings, vocab: int) -> bool:
    """Settings the kernel computes: valid ones (greedy or temperature, top-k, top-p, every scoring algorithm)."""
    return settings.temperature >= 0 and settings.top_k >= 0 and 0.0 < settings.top_p <= 1.0 and vocab < 2**31


def fused(logits: np.ndarray, temperature: float = 0.0, draws: np.ndarray | None = None,
          threads: int | None = None, top_k: int = 0, top_p: float = 1.0) -> Fused:
    """Run the C kernel directly (tests, benchmarks); RuntimeError if it is not loaded."""
    kernel = _kernel if _load().backend == "c" else None
    if kernel is None:
        raise RuntimeError(f"the C confidence kernel is not available: {_load().reason}")
    return kernel.run(logits, temperature, draws, threads, top_k, top_p)


def propose(logits: np.ndarray, settings: Settings, rng: np.random.Generator) -> Chosen:
    """`unmasking.propose_numpy`'s answer from the C kernel, drawing from `rng` exactly as numpy does."""
    import numpy as np

    rows = len(logits)
    temperature = settings.temperature
    draws = rng.random(rows) if temperature > 0 else None  # the numpy path's one call, same order
    out = fused(logits, temperature, draws, top_k=settings.top_k, top_p=settings.top_p)
    if settings.algorithm == "margin":
        score = out.p1 - out.p2
    elif settings.algorithm == "entropy":
        score = out.negent
    elif settings.algorithm == "random":
        score = rng.random(rows).astype(np.float32)
    else:  # confidence, origin
        score = out.prob
    return Chosen(out.token, out.prob, score)
