"""GGUF import (the inverse of export): the same logits, tokenizer and layout back, and fine-tuning from a GGUF."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest

torch = pytest.importorskip("torch", reason="the training tests need torch (pip install torch)")

from dgcode.repair.canvas import CanvasSpec  # noqa: E402
from dgcode.repair.layout import NotARepairModel, read_layout  # noqa: E402
from training import export as export_cli  # noqa: E402
from training import train as train_cli  # noqa: E402
from training.corpus import Corpus  # noqa: E402
from training.export import export_gguf  # noqa: E402
from training.gguf_import import read_gguf_model  # noqa: E402
from training.model import ModelConfig, RepairModel  # noqa: E402
from training.tokenizer import count_pretokens, train_bpe  # noqa: E402

V2 = CanvasSpec(canvas=160, slot=48, after_budget=16)
V3 = replace(V2, canvas=256, reach_before=2, reach_after=1, reach_slot=48)
SHAPE = ["--n-embd", "64", "--n-layer", "2", "--n-head", "4", "--n-head-kv", "2", "--n-ff", "96"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.set_num_threads(1)
    corpus = Corpus("heldout", max_files=8)
    tok = train_bpe(count_pretokens(line for f in corpus.files for line in f.lines), 600)
    cfg = ModelConfig(n_vocab=tok.n_vocab, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=96, n_ctx=256)
    torch.manual_seed(0)
    model = RepairModel(cfg).eval()
    with torch.no_grad():  # break the symmetric initialisation so every weight matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("import")
    paths = {dtype: export_gguf(model.state_dict(), cfg.to_dict(), tok, V2, folder / f"m-{dtype}.gguf", dtype=dtype)
             for dtype in ("f32", "f16")}
    tokens = torch.tensor([tok.encode("def f(x):\n    return [x, x + 1]\n" * 4)[:120]])
    return tok, cfg, model, paths, tokens


def imported_model(path) -> RepairModel:
    imported = read_gguf_model(path)
    model = RepairModel(imported.config).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in imported.state.items()})
    return model


def test_an_exported_then_imported_model_gives_the_same_logits(exported):
    tok, cfg, model, paths, tokens = exported
    with torch.no_grad():
        expected = model(tokens)
        got = imported_model(paths["f32"])(tokens)
        assert torch.allclose(got, expected, rtol=0, atol=1e-5 * expected.abs().max().item())
        # f16 holds the matrices rounded: the same logits as the original with its matrices rounded alike
        rounded = RepairModel(cfg).eval()
        rounded.load_state_dict({k: v.half().float() if v.dim() > 1 else v for k, v in model.state_dict().items()})
        half = imported_model(paths["f16"])(tokens)
        assert torch.allclose(half, rounded(tokens), rtol=0, atol=1e-5 * expected.abs().max().item())
        assert (half - expected).abs().max() <= 2e-2 * expected.abs().max()


def test_the_tokenizer_config_and_layout_come_back(exported):
    tok, cfg, _model, paths, _tokens = exported
    imported = read_gguf_model(paths["f16"])
    assert imported.config == cfg and imported.spec == V2
    assert imported.tokenizer.to_dict() == tok.to_dict()
    text = "for i in range(3):\n    print(i)  # é\n"
    assert imported.tokenizer.encode(text) == tok.encode(text)


def test_the_shipped_model_imports_with_its_shape():
    from dgcode.repair.embedded import EMBEDDED_MODEL

    imported = read_gguf_model(EMBEDDED_MODEL)
    c = imported.config
    assert (c.n_layer, c.n_embd, c.n_head, c.n_head_kv, c.n_ff, c.n_vocab) == (4, 192, 3, 1, 512, 2048)
    assert c.rms_eps == 1e-6 and c.rope_theta == 10000.0 and c.tied_embeddings
    assert imported.spec.layout_version == 2 and imported.tokenizer.n_vocab == 2048
    model = RepairModel(c)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in imported.state.items()})  # every tensor fits


def test_training_starts_from_a_gguf_on_a_new_canvas_and_exports_version_3(exported, tmp_path, capsys):
    tok, _cfg, _model, paths, _tokens = exported
    out = tmp_path / "tuned"
    common = ["--device", "cpu", "--batch", "2", "--max-files", "6", "--eval-per-kind", "1", "--threads", "1",
              "--canvas", str(V3.canvas), "--slot", str(V3.slot), "--after-budget", str(V3.after_budget),
              "--lines-before", "1", "--lines-after", "0", "--reach-before", "2", "--reach-after", "1",
              "--reach-slot", str(V3.reach_slot)] + SHAPE
    train_cli.main(["--out", str(out), "--init-from", str(paths["f32"]), "--steps", "1", "--lr", "0"] + common)
    printed = capsys.readouterr().out
    assert f"weights from {paths['f32']} (GGUF, layout version 2: canvas 160, slot 48" in printed
    assert "fine-tuned on" in printed and "(layout version 3)" in printed
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert ckpt["spec"] == asdict(V3) and ckpt["tokenizer"] == tok.to_dict()
    start = read_gguf_model(paths["f32"]).state
    assert all(torch.equal(ckpt["model"][k], torch.from_numpy(v)) for k, v in start.items())  # lr 0: unchanged
    gguf_path = tmp_path / "v3.gguf"
    export_cli.main(["--checkpoint", str(out / "last.pt"), "--out", str(gguf_path)])
    assert read_layout(gguf_path) == V3 and V3.layout_version == 3

    with pytest.raises(SystemExit, match="model flags do not match"):
        train_cli.main(["--out", str(tmp_path / "wide"), "--init-from", str(paths["f32"]), "--steps", "1"]
                       + common + ["--n-embd", "128"])
    with pytest.raises(SystemExit, match="do not make a canvas: canvas 100 is shorter"):
        train_cli.main(["--out", str(tmp_path / "short"), "--steps", "1"] + common + ["--canvas", "100"])


def test_a_gguf_that_is_not_a_repair_model_is_refused(tmp_path):
    import gguf

    path = tmp_path / "plain.gguf"
    writer = gguf.GGUFWriter(path, "dream")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(NotARepairModel, match="not a dgcode repair model"):
        read_gguf_model(path)
    with pytest.raises(SystemExit, match="--init-from: .*not a dgcode repair model"):
        train_cli.load_init(str(path), torch.device("cpu"))
