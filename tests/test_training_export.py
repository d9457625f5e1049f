"""Exporter round trip: the torch model and llama.cpp (through dgcode's engine) compute the same logits."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training tests need torch (pip install torch)")

from dgcode.engine.engine import Engine, EngineOptions  # noqa: E402
from dgcode.engine.model_file import read_model_info  # noqa: E402
from dgcode.repair.canvas import MASK, PAD, CanvasSpec, make_example  # noqa: E402
from dgcode.repair.repair_model import read_layout  # noqa: E402
from training.corpus import Corpus  # noqa: E402
from training.examples import heldout_cases  # noqa: E402
from training.export import export_gguf  # noqa: E402
from training.model import ModelConfig, RepairModel, canvas_attention_mask  # noqa: E402
from training.tokenizer import count_pretokens, train_bpe  # noqa: E402

SPEC = CanvasSpec(canvas=128, slot=24, after_budget=16)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    corpus = Corpus("heldout", max_files=10)
    tok = train_bpe(count_pretokens(line for f in corpus.files for line in f.lines), 600)
    cfg = ModelConfig(n_vocab=tok.n_vocab, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=96, n_ctx=256,
                      rope_theta=10000.0)
    torch.manual_seed(0)
    model = RepairModel(cfg).eval()
    with torch.no_grad():  # break the symmetric initialisation so every weight matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("export")
    paths = {dtype: export_gguf(model.state_dict(), cfg.to_dict(), tok, SPEC, folder / f"m-{dtype}.gguf",
                                dtype=dtype) for dtype in ("f32", "f16")}
    cases = heldout_cases(corpus, 1, seed=4)
    return tok, model, paths, cases


def engine_for(path):
    return Engine(path, EngineOptions(n_ctx=256, n_threads=1, kv_f32=True, flash_attn=False))


def test_header_says_what_inference_needs(setup):
    tok, model, paths, _ = setup
    info = read_model_info(paths["f32"])
    assert info.architecture == "dream" and info.is_native_diffusion
    assert info.shift_logits is False
    assert info.mask_token_id == tok.special(MASK) and info.pad_token_id == tok.special(PAD)
    assert info.n_vocab == tok.n_vocab
    assert read_layout(paths["f32"]) == SPEC


@pytest.mark.parametrize("dtype,tolerance", [("f32", 1e-4), ("f16", 2e-2)])
def test_bidirectional_logits_match_llama_cpp(setup, dtype, tolerance):
    tok, model, paths, cases = setup
    tokens = tok.encode(cases[0].original_source)[:150]
    with torch.no_grad():
        expected = model(torch.tensor([tokens]))[0].numpy()
    with engine_for(paths[dtype]) as engine:
        engine.ctx.set_causal(False)
        got = engine.ctx.decode(tokens, 0, range(len(tokens)))
    scale = np.abs(expected).max()
    assert scale > 0.5
    assert np.abs(got - expected).max() <= tolerance * scale


def test_training_mask_is_the_engines_cached_prefill(setup):
    """Training hides the answer from the prompt and left pads from everyone; the engine prefills the
    unpadded prompt alone, then decodes the answer block against the cache. Same logits."""
    tok, model, paths, _ = setup
    original = ["import os\n", "\n", "def f(x):\n", "    return os.path.join(x, 'y')\n", "print(f(1))\n"]
    broken = original[:2] + ["def f(x)\n"] + original[3:]
    made = make_example(tok, broken, 2, "expected ':'", lambda w: original[w[0]:w[1]], SPEC)
    assert made is not None
    tokens = torch.tensor(made[0])
    a = SPEC.answer_start
    noisy = tokens.clone()
    noisy[a + 3::2] = tok.special(MASK)  # a partly denoised answer
    with torch.no_grad():
        mask = canvas_attention_mask(noisy[None], tok.special(PAD), a)
        expected = model(noisy[None], mask=mask, logits_from=a)[0].numpy()
    first = int(torch.nonzero(noisy != tok.special(PAD))[0])
    prompt, answer = noisy[first:a].tolist(), noisy[a:].tolist()
    with engine_for(paths["f32"]) as engine:
        engine.ctx.set_causal(False)
        engine.ctx.decode(prompt, 0)
        got = engine.ctx.decode(answer, len(prompt), range(len(answer)))
    assert first > 0  # the example really had left padding
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
