"""What a GGUF file says about a model, read and checked before llama.cpp ever opens it.

llama.cpp aborts the whole process on some malformed inputs, so every check that
can be done from the header is done here, in Python, with a clear message:
missing file, wrong magic, unsupported version, truncated header or tensor data,
unknown architecture, values of the wrong type, a diffusion model without a
mask token.  The header is read once by engine/gguf_header.py, which skips
the token arrays instead of building them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dgcode.engine import relabel
from dgcode.engine.errors import ModelFileError
from dgcode.engine.gguf_header import (
    BOOL,
    INTEGER_TYPES,
    STRING,
    ArrayInfo,
    GGUFHeader,
    escaped,
    read_gguf_header,
    type_name,
)

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
    relabelled_as: str | None = None
    """The label the file's header carries when dgcode relabelled it in place (engine/relabel.py): then
    ``architecture`` is the model's real one and the file already is its cached twin, loaded as it is."""

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


FILE_TYPE_NAMES = {
    0: "ALL_F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS",
    20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
    39: "NVFP4", 40: "Q1_0", 1024: "GUESSED",
}
"""``general.file_type`` codes (llama.cpp's ``llama_ftype``, without ``MOSTLY_``); checked against gguf by a test."""


class _Fields:
    """Typed reads of header values, each failing with the key, what was expected and what was there."""

    def __init__(self, header: GGUFHeader):
        self.header = header

    def _wrong(self, key: str, expected: str) -> ModelFileError:
        found = type_name(self.header.types[key])
        value = self.header.values[key]
        if isinstance(value, ArrayInfo):
            found = f"an array of {type_name(value.element_type)}"
        return ModelFileError(f"GGUF header of {self.header.path}: {escaped(key)} must be {expected}, got {found}")

    def integer(self, key: str, default: int | None = None) -> int | None:
        if key not in self.header.values:
            return default
        if self.header.types[key] not in INTEGER_TYPES:
            raise self._wrong(key, "an integer")
        return int(self.header.values[key])

    def integer_or_list(self, key: str) -> int:
        """A per-layer array (some models vary head counts by layer) or a scalar, as one int."""
        value = self.header.values.get(key)
        if isinstance(value, list):
            return int(max(value)) if value else 0
        return self.integer(key, 0) or 0

    def text(self, key: str) -> str | None:
        if key not in self.header.values:
            return None
        if self.header.types[key] != STRING:
            raise self._wrong(key, "a string")
        return self.header.values[key]

    def flag(self, key: str) -> bool | None:
        if key not in self.header.values:
            return None
        if self.header.types[key] != BOOL and self.header.types[key] not in INTEGER_TYPES:
            raise self._wrong(key, "true or false")
        return bool(self.header.values[key])

    def string_array_length(self, key: str) -> int | None:
        value = self.header.values.get(key)
        if value is None:
            return None
        if not isinstance(value, ArrayInfo) or value.element_type != STRING:
            raise self._wrong(key, "an array of strings")
        return value.count


def read_header(path: str | os.PathLike[str]) -> GGUFHeader:
    """The checked raw header (alias patches use its key offsets); see engine/gguf_header.py."""
    return read_gguf_header(Path(path).expanduser())


def read_model_info(path: str | os.PathLike[str], header: GGUFHeader | None = None) -> ModelInfo:
    """Read and validate a GGUF header; raise ModelFileError with a clear message on any problem."""
    path = Path(path).expanduser()
    header = header or read_gguf_header(path)
    size = header.size_bytes
    if header.tensor_data_end > size:
        raise ModelFileError(
            f"model file is truncated: tensor data needs {header.tensor_data_end:,} bytes but {path} has {size:,}"
            " (an interrupted download?)"
        )
    fields = _Fields(header)
    if "general.architecture" not in header.values:
        raise ModelFileError(f"GGUF file has no general.architecture: {path}")
    arch = fields.text("general.architecture")
    if not arch:
        raise ModelFileError(f"GGUF file has no general.architecture: {path}")
    key_arch, relabelled_as = arch, None
    if arch in DIFFUSION_ARCH_ALIASES.values():
        original = relabel.relabelled_from(header)
        if original is not None and DIFFUSION_ARCH_ALIASES.get(original) == arch:
            arch, relabelled_as = original, key_arch
    n_vocab = fields.string_array_length("tokenizer.ggml.tokens")
    if n_vocab is None:
        raise ModelFileError(f"GGUF file has no tokenizer (tokenizer.ggml.tokens): {path}")

    def token_id(key: str) -> int | None:
        value = fields.integer(key)
        if value is not None and not 0 <= value < n_vocab:
            raise ModelFileError(f"{key} = {value} is outside the vocabulary (size {n_vocab}) in {path}")
        return value

    shift = fields.flag("diffusion.shift_logits")
    file_type = fields.integer("general.file_type")
    try:
        name = fields.text("general.name")
    except ModelFileError:
        name = None
    info = ModelInfo(
        path=path.resolve(),
        size_bytes=size,
        architecture=arch,
        name=name or path.stem,
        context_length=fields.integer(f"{key_arch}.context_length", 0) or 0,
        n_vocab=n_vocab,
        n_embd=fields.integer(f"{key_arch}.embedding_length", 0) or 0,
        n_layer=fields.integer(f"{key_arch}.block_count", 0) or 0,
        n_head=fields.integer_or_list(f"{key_arch}.attention.head_count"),
        mask_token_id=token_id("tokenizer.ggml.mask_token_id"),
        eos_token_id=token_id("tokenizer.ggml.eos_token_id"),
        pad_token_id=token_id("tokenizer.ggml.padding_token_id"),
        # llama-diffusion-cli's rule: shift unless the file says otherwise.
        shift_logits=True if shift is None else shift,
        chat_template=fields.text("tokenizer.chat_template"),
        file_type=_file_type_name(file_type),
        bos_token_id=token_id("tokenizer.ggml.bos_token_id"),
        relabelled_as=relabelled_as,
    )
    if info.context_length <= 0 or info.n_layer <= 0:
        raise ModelFileError(f"GGUF header of {path} lacks {escaped(key_arch)}.context_length or "
                             f"{escaped(key_arch)}.block_count")
    return info


def _file_type_name(file_type: int | None) -> str:
    if file_type is None:
        return "unknown"
    return FILE_TYPE_NAMES.get(file_type, f"type {file_type}")


def require_diffusion(info: ModelInfo, *, mask_token_id: int | None = None) -> int:
    """Return the mask token id to use, or explain why this model cannot be run as a diffusion model."""
    mask = mask_token_id if mask_token_id is not None else info.mask_token_id
    arch = escaped(info.architecture)
    if mask is None:
        if info.is_native_diffusion:
            raise ModelFileError(f"{info.path.name}: a {arch} model with no mask token id in its header")
        raise ModelFileError(
            f"{info.path.name} is an autoregressive '{arch}' model with no mask token: "
            "dgcode needs a diffusion model (Dream, DiffuCoder, LLaDA, ...) or, for a block-diffusion model "
            "stored under an autoregressive architecture, its mask token id (--mask-token-id)"
        )
    if not 0 <= mask < info.n_vocab:
        raise ModelFileError(f"mask token id {mask} is outside the vocabulary (size {info.n_vocab})")
    if not info.is_native_diffusion and info.cached_architecture is None:
        raise ModelFileError(f"architecture '{arch}' is not supported for diffusion decoding")
    return mask
