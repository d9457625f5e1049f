"""GGUF export: a trained repair model and its tokenizer, written as llama.cpp architecture `dream`.

Tensor names and layouts are those of llama.cpp's qwen2/dream loader (torch
Linear weights are (out, in); GGUFWriter stores them in ggml order). The
header says diffusion.shift_logits = false (logits at position i predict token
i, as trained), names the mask / end-of-text / padding tokens, stores the
tokenizer as gpt2 + qwen2 pre-tokenizer, and records the canvas layout under
dgcode.repair.* (the oldest layout version that describes it, layout.py) so
inference can rebuild the exact training canvas. training/gguf_import.py
reads such a file back.

    python -m training.export --checkpoint runs/repair/last.pt --out runs/repair/dgcode-repair.gguf
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from dgcode.repair.canvas import EOS, MASK, PAD, CanvasSpec
from dgcode.repair.layout import LAYOUT_KEY, layout_values
from training.tokenizer import ByteBPE

LAYER_TENSORS = (
    ("attn_norm.weight", "attn_norm.weight"),
    ("attn_q.weight", "attn.q.weight"), ("attn_q.bias", "attn.q.bias"),
    ("attn_k.weight", "attn.k.weight"), ("attn_k.bias", "attn.k.bias"),
    ("attn_v.weight", "attn.v.weight"), ("attn_v.bias", "attn.v.bias"),
    ("attn_output.weight", "attn.o.weight"),
    ("ffn_norm.weight", "ffn_norm.weight"),
    ("ffn_gate.weight", "ffn.gate.weight"),
    ("ffn_up.weight", "ffn.up.weight"),
    ("ffn_down.weight", "ffn.down.weight"),
)
"""(gguf name in blk.N., RepairModel state_dict name in blocks.N.) for each tensor of a layer."""


def tensor_names(n_layer: int, tied: bool) -> list[tuple[str, str]]:
    """(gguf name, RepairModel state_dict name) for every weight, in the order the GGUF stores them."""
    out = [("token_embd.weight", "embed.weight")]
    for i in range(n_layer):
        out += [(f"blk.{i}.{g}", f"blocks.{i}.{t}") for g, t in LAYER_TENSORS]
    out.append(("output_norm.weight", "norm.weight"))
    if not tied:
        out.append(("output.weight", "output.weight"))
    return out


def gguf_tensors(state: dict, n_layer: int, tied: bool) -> list[tuple[str, np.ndarray]]:
    """(gguf name, float32 array) for every weight, from a RepairModel state_dict (torch or numpy values)."""
    def get(key: str) -> np.ndarray:
        value = state[key]
        if hasattr(value, "detach"):
            value = value.detach().float().cpu().numpy()
        return np.asarray(value, dtype=np.float32)

    return [(name, get(key)) for name, key in tensor_names(n_layer, tied)]


def random_state(config: dict, seed: int = 0, std: float = 0.05) -> dict[str, np.ndarray]:
    """Random weights under RepairModel's state_dict names, without torch: for files that only need to
    load (tokenizer checks)."""
    rng = np.random.default_rng(seed)
    d, ff, v = config["n_embd"], config["n_ff"], config["n_vocab"]
    kv = d // config["n_head"] * config["n_head_kv"]
    shapes = {"embed.weight": (v, d), "norm.weight": (d,)}
    for i in range(config["n_layer"]):
        b = f"blocks.{i}."
        shapes.update({b + "attn_norm.weight": (d,), b + "ffn_norm.weight": (d,),
                       b + "attn.q.weight": (d, d), b + "attn.q.bias": (d,), b + "attn.k.weight": (kv, d),
                       b + "attn.k.bias": (kv,), b + "attn.v.weight": (kv, d), b + "attn.v.bias": (kv,),
                       b + "attn.o.weight": (d, d), b + "ffn.gate.weight": (ff, d), b + "ffn.up.weight": (ff, d),
                       b + "ffn.down.weight": (d, ff)})
    if not config["tied_embeddings"]:
        shapes["output.weight"] = (v, d)
    return {k: (1.0 if k.endswith("norm.weight") else 0.0) + std * rng.standard_normal(s).astype(np.float32)
            for k, s in shapes.items()}


def export_gguf(state: dict, config: dict, tok: ByteBPE, spec: CanvasSpec, path: str | os.PathLike[str],
                *, dtype: str = "f16", name: str = "dgcode-repair") -> Path:
    """Write the GGUF (matrices in `dtype`, norms and biases f32); returns its path."""
    import gguf

    if dtype not in ("f16", "f32"):
        raise ValueError("dtype must be f16 or f32")
    if config["n_vocab"] != tok.n_vocab:
        raise ValueError(f"model vocab {config['n_vocab']} != tokenizer vocab {tok.n_vocab}")
    layout = layout_values(spec)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    w = gguf.GGUFWriter(tmp, "dream")
    try:
        head_dim = config["n_embd"] // config["n_head"]
        w.add_name(name)
        w.add_type("model")
        w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
        w.add_vocab_size(tok.n_vocab)
        w.add_context_length(config["n_ctx"])
        w.add_embedding_length(config["n_embd"])
        w.add_block_count(config["n_layer"])
        w.add_feed_forward_length(config["n_ff"])
        w.add_head_count(config["n_head"])
        w.add_head_count_kv(config["n_head_kv"])
        w.add_rope_dimension_count(head_dim)
        w.add_rope_freq_base(float(config["rope_theta"]))
        w.add_layer_norm_rms_eps(float(config["rms_eps"]))
        w.add_causal_attention(False)
        w.add_bool("diffusion.shift_logits", False)

        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("qwen2")
        w.add_token_list(tok.tokens)
        w.add_token_types(tok.token_types)
        w.add_token_merges(tok.merge_strings)
        w.add_eos_token_id(tok.special(EOS))
        w.add_bos_token_id(tok.special(EOS))
        w.add_pad_token_id(tok.special(PAD))
        w.add_mask_token_id(tok.special(MASK))
        w.add_add_bos_token(False)

        for key, value in layout.items():  # version first, then that version's keys
            w.add_uint32(LAYOUT_KEY + key, value)

        for tname, array in gguf_tensors(state, config["n_layer"], config["tied_embeddings"]):
            if array.ndim > 1 and dtype == "f16":
                array = array.astype(np.float16)
            else:
                array = array.astype(np.float32)
            w.add_tensor(tname, np.ascontiguousarray(array))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, path)
    except BaseException:
        w.close()
        tmp.unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a checkpoint written by training/train.py")
    parser.add_argument("--out", required=True, help="the .gguf to write")
    parser.add_argument("--dtype", choices=("f16", "f32"), default="f16")
    args = parser.parse_args(argv)
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    tok = ByteBPE.from_dict(ckpt["tokenizer"])
    path = export_gguf(ckpt["model"], ckpt["config"], tok, CanvasSpec(**ckpt["spec"]), args.out, dtype=args.dtype)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
