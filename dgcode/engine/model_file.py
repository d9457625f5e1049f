"""What a GGUF file says about a model, read and checked before llama.cpp ever opens it.

llama.cpp aborts the whole process on some malformed inputs, so every check that
can be done from the header is done here, in Python, with a clear message:
missing file, wrong magic, unsupported version, truncated header or tensor data,
unknown architecture, a diffusion model without a mask token.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from dgcode.engine.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)

# Architectures llama.cpp runs as diffusion models, and the autoregressive
# architecture with the same graph (and a name of the same length, so an aliased
# copy only rewrites header bytes in place; see engine/alias.py).
DIFFUSION_ARCH_ALIASES = {"dream": "qwen2", "llada": "llama"}
# Diffusion architectures llama.cpp knows but that have no same-graph AR twin
# dgcode can alias to: they run on the native (uncached) path.
NATIVE_ONLY_DIFFUSION_ARCHS = ("llada-moe", "rnd1")
# Autoregressive architectures that block-diffusion models are stored under.
AR_ARCHS_FOR_BLOCK_DIFFUSION = ("qwen2", "qwen3", "llama")


@dataclass(frozen=True)
class ModelInfo:
    """The header facts the engine needs, plus where they came from."""

    path: Path
    size_bytes: int
    architecture: str
    name: str
    context_length: int
    n_vocab: int
    n_embd: int
    n_layer: int
    n_head: int
    mask_token_id: int | None
    eos_token_id: int | None
    pad_token_id: int | None
    shift_logits: bool
    chat_template: str | None
    file_type: str
    bos_token_id: int | None = None

    @property
    def is_native_diffusion(self) -> bool:
        return self.architecture in DIFFUSION_ARCH_ALIASES or self.architecture in NATIVE_ONLY_DIFFUSION_ARCHS

    @property
    def cached_architecture(self) -> str | None:
        """The architecture name that gives this model a KV cache, or None if it has none."""
        if self.architecture in DIFFUSION_ARCH_ALIASES:
            return DIFFUSION_ARCH_ALIASES[self.architecture]
        if self.architecture in AR_ARCHS_FOR_BLOCK_DIFFUSION:
            return self.architecture
        return None


def _field_value(reader, key: str):
    field_ = reader.fields.get(key)
    if field_ is None:
        return None
    try:
        return field_.contents()
    except Exception:  # a field gguf cannot decode is treated as absent
        return None


def _check_prefix(path: Path) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelFileError(f"model file not found: {path}") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from None
    if path.is_dir():
        raise ModelFileError(f"model path is a folder, not a GGUF file: {path}")
    if not os.access(path, os.R_OK):
        raise ModelFileError(f"model file is not readable: {path}")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if len(head) < 8 or head[:4] != GGUF_MAGIC:
        raise ModelFileError(f"not a GGUF model file (bad magic bytes): {path}")
    (version,) = struct.unpack("<I", head[4:8])
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(f"unsupported GGUF version {version} in {path} (supported: 2, 3)")
    return size


def _check_tensor_extent(reader, path: Path, size: int) -> None:
    """Every tensor's bytes must lie inside the file (a cut download fails here)."""
    end = 0
    for tensor in reader.tensors:
        end = max(end, int(tensor.data_offset) + int(tensor.n_bytes))
    if end > size:
        raise ModelFileError(
            f"model file is truncated: tensor data needs {end:,} bytes but {path} has {size:,}"
            " (an interrupted download?)"
        )


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """Read and validate a GGUF header; raise ModelFileError with a clear message on any problem."""
    path = Path(path).expanduser()
    size = _check_prefix(path)
    try:
        import gguf  # deferred: importing gguf costs start-up time

        reader = gguf.GGUFReader(path, "r")
    except (ValueError, IndexError, struct.error, OSError, KeyError, TypeError) as exc:
        raise ModelFileError(f"model file is truncated or corrupt ({exc.__class__.__name__}): {path}") from None
    _check_tensor_extent(reader, path, size)

    arch = _field_value(reader, "general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelFileError(f"GGUF file has no general.architecture: {path}")
    tokens_field = reader.fields.get("tokenizer.ggml.tokens")
    if tokens_field is None:
        raise ModelFileError(f"GGUF file has no tokenizer (tokenizer.ggml.tokens): {path}")
    n_vocab = len(tokens_field.data)

    def hparam(name: str, default=None):
        value = _field_value(reader, f"{arch}.{name}")
        return default if value is None else value

    def token_id(key: str) -> int | None:
        value = _field_value(reader, key)
        if value is None:
            return None
        value = int(value)
        if not 0 <= value < n_vocab:
            raise ModelFileError(f"{key} = {value} is outside the vocabulary (size {n_vocab}) in {path}")
        return value

    shift = _field_value(reader, "diffusion.shift_logits")
    file_type = _field_value(reader, "general.file_type")
    info = ModelInfo(
        path=path.resolve(),
        size_bytes=size,
        architecture=arch,
        name=str(_field_value(reader, "general.name") or path.stem),
        context_length=int(hparam("context_length", 0) or 0),
        n_vocab=n_vocab,
        n_embd=int(hparam("embedding_length", 0) or 0),
        n_layer=int(hparam("block_count", 0) or 0),
        n_head=_first_int(hparam("attention.head_count", 0)),
        mask_token_id=token_id("tokenizer.ggml.mask_token_id"),
        eos_token_id=token_id("tokenizer.ggml.eos_token_id"),
        pad_token_id=token_id("tokenizer.ggml.padding_token_id"),
        # llama-diffusion-cli's rule: shift unless the file says otherwise.
        shift_logits=True if shift is None else bool(shift),
        chat_template=_field_value(reader, "tokenizer.chat_template"),
        file_type=_file_type_name(file_type),
        bos_token_id=token_id("tokenizer.ggml.bos_token_id"),
    )
    if info.context_length <= 0 or info.n_layer <= 0:
        raise ModelFileError(f"GGUF header of {path} lacks {arch}.context_length or {arch}.block_count")
    return info


def _first_int(value) -> int:
    """A per-layer array (some models vary head counts by layer) or a scalar, as one int."""
    if isinstance(value, (list, tuple)):
        return int(max(value)) if value else 0
    return int(value or 0)


def _file_type_name(file_type) -> str:
    if file_type is None:
        return "unknown"
    try:
        import gguf

        return gguf.LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_")
    except ValueError:
        return f"type {int(file_type)}"


def require_diffusion(info: ModelInfo, *, mask_token_id: int | None = None) -> int:
    """Return the mask token id to use, or explain why this model cannot be run as a diffusion model."""
    mask = mask_token_id if mask_token_id is not None else info.mask_token_id
    if mask is None:
        if info.is_native_diffusion:
            raise ModelFileError(f"{info.path.name}: a {info.architecture} model with no mask token id in its header")
        raise ModelFileError(
            f"{info.path.name} is an autoregressive '{info.architecture}' model with no mask token: "
            "dgcode needs a diffusion model (Dream, DiffuCoder, LLaDA, ...) or, for a block-diffusion model "
            "stored under an autoregressive architecture, its mask token id (--mask-token-id)"
        )
    if not 0 <= mask < info.n_vocab:
        raise ModelFileError(f"mask token id {mask} is outside the vocabulary (size {info.n_vocab})")
    if not info.is_native_diffusion and info.cached_architecture is None:
        raise ModelFileError(f"architecture '{info.architecture}' is not supported for diffusion decoding")
    return mask
