"""GGUF import: a repair GGUF's weights, tokenizer and canvas layout read back into training's torch model.

The inverse of training/export.py, so a model that only exists as a GGUF
(the shipped one: its torch checkpoint is lost) can be fine-tuned:
`train.py --init-from dgcode/repair/dgcode-repair.gguf`. Tensor names map
back through export.tensor_names; f16 matrices come back as float32 (the
exported precision, so an f16 file's weights are the f16-rounded ones); the
tokenizer is rebuilt from the stored merges and special tokens and must give
the very token list the file holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dgcode.repair.canvas import CanvasSpec
from dgcode.repair.layout import read_layout
from training.export import tensor_names
from training.model import ModelConfig
from training.tokenizer import ByteBPE

CONTROL_TOKEN = 3  # llama.cpp's token type of the special tokens (ByteBPE.token_types)


class NotImportable(ValueError):
    """The GGUF is not a repair model training/model.py can hold."""


@dataclass(frozen=True)
class ImportedModel:
    state: dict[str, np.ndarray]   # RepairModel state_dict names, float32
    config: ModelConfig
    tokenizer: ByteBPE
    spec: CanvasSpec               # the canvas the model was trained on


def _field(reader, key: str, path: Path):
    field = reader.fields.get(key)
    if field is None:
        raise NotImportable(f"{path}: no {key}")
    return field.contents()


def _decimal(value) -> float:
    """A float32 header value as the decimal it was written from (1e-06, not 9.99999997e-07)."""
    return float(f"{float(value):.7g}")


def read_gguf_model(path: str | os.PathLike[str]) -> ImportedModel:
    """Everything train.py needs to start from the model in `path` (NotImportable, or layout.NotARepairModel
    for a file that is not a repair model of a layout this dgcode reads)."""
    import gguf

    path = Path(path)
    spec = read_layout(path)
    reader = gguf.GGUFReader(path)
    arch = _field(reader, "general.architecture", path)
    if arch != "dream":
        raise NotImportable(f"{path}: architecture {arch!r}, not dream")
    tensors = {t.name: t for t in reader.tensors}
    n_embd = int(_field(reader, "dream.embedding_length", path))
    n_head = int(_field(reader, "dream.attention.head_count", path))
    config = ModelConfig(
        n_vocab=int(tensors["token_embd.weight"].data.shape[0]) if "token_embd.weight" in tensors else 0,
        n_embd=n_embd, n_layer=int(_field(reader, "dream.block_count", path)), n_head=n_head,
        n_head_kv=int(_field(reader, "dream.attention.head_count_kv", path)),
        n_ff=int(_field(reader, "dream.feed_forward_length", path)),
        rope_theta=_decimal(_field(reader, "dream.rope.freq_base", path)),
        rms_eps=_decimal(_field(reader, "dream.attention.layer_norm_rms_epsilon", path)),
        n_ctx=int(_field(reader, "dream.context_length", path)),
        tied_embeddings="output.weight" not in tensors)
    rope_dims = reader.fields.get("dream.rope.dimension_count")
    if rope_dims is not None and int(rope_dims.contents()) != config.head_dim:
        raise NotImportable(f"{path}: RoPE over {rope_dims.contents()} of {config.head_dim} head dimensions; "
                            "training/model.py rotates all of them")

    names = tensor_names(config.n_layer, config.tied_embeddings)
    missing = [name for name, _ in names if name not in tensors]
    extra = sorted(set(tensors) - {name for name, _ in names})
    if missing or extra:
        raise NotImportable(f"{path}: tensors missing {missing[:4]} / unexpected {extra[:4]} for a "
                            f"{config.n_layer}-layer repair model")
    state = {}
    for name, key in names:
        tensor = tensors[name]
        if tensor.tensor_type not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            raise NotImportable(f"{path}: {name} is {tensor.tensor_type.name}; only f32 and f16 import")
        state[key] = np.array(tensor.data, dtype=np.float32)

    tokens = list(_field(reader, "tokenizer.ggml.tokens", path))
    types = list(_field(reader, "tokenizer.ggml.token_type", path))
    merges = list(_field(reader, "tokenizer.ggml.merges", path))
    n_special = len(types) - next((i for i, t in enumerate(types) if t == CONTROL_TOKEN), len(types))
    tokenizer = ByteBPE.from_dict({"merges": merges, "specials": tokens[len(tokens) - n_special:]})
    if tokenizer.tokens != tokens or tokenizer.token_types != types:
        raise NotImportable(f"{path}: its vocabulary is not a training/tokenizer.py byte-level BPE")
    if config.n_vocab != tokenizer.n_vocab:
        raise NotImportable(f"{path}: {config.n_vocab} embedding rows for {tokenizer.n_vocab} tokens")
    return ImportedModel(state, config, tokenizer, spec)
