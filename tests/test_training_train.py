"""The training loop: masking only the answer slot, learning, reproducible data, and a smoke run end to end."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the training tests need torch (pip install torch)")

from dgcode.engine.engine import Engine, EngineOptions  # noqa: E402
from dgcode.repair.canvas import MASK, PAD, CanvasSpec  # noqa: E402
from dgcode.repair.edit_ops import ins_op  # noqa: E402
from training import export as export_cli  # noqa: E402
from training import train as train_cli  # noqa: E402
from training.corpus import Corpus  # noqa: E402
from training.corrupt import KINDS  # noqa: E402
from training.evaluate import repair_case  # noqa: E402
from training.examples import ExampleStream, heldout_cases  # noqa: E402
from training.model import ModelConfig, RepairModel, canvas_attention_mask  # noqa: E402
from training.tokenizer import count_pretokens, train_bpe  # noqa: E402

SPEC = CanvasSpec(canvas=160, slot=64, after_budget=16)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    corpus = Corpus("train", max_files=10)
    tok = train_bpe(count_pretokens(line for f in corpus.files for line in f.lines), 600)
    return corpus, tok


def test_mask_answer_masks_only_the_answer_slot(data):
    _, tok = data
    tokens = torch.randint(0, 256, (64, SPEC.canvas))  # byte tokens: never the mask
    gen = torch.Generator().manual_seed(1)
    noisy, masked, t = train_cli.mask_answer(tokens, SPEC.answer_start, tok.special(MASK), 0.05, gen)
    assert (noisy[:, :SPEC.answer_start] == tokens[:, :SPEC.answer_start]).all()
    assert masked.shape == (64, SPEC.slot) and masked.any(-1).all()
    assert ((noisy[:, SPEC.answer_start:] == tok.special(MASK)) == masked).all()
    assert ((t >= 0.05) & (t <= 1.0)).all()
    ratio = masked.float().mean(-1)
    assert torch.corrcoef(torch.stack([ratio, t]))[0, 1] > 0.8  # more masks where t is larger
    again = train_cli.mask_answer(tokens, SPEC.answer_start, tok.special(MASK), 0.05,
                                  torch.Generator().manual_seed(1))
    assert (again[0] == noisy).all()


def test_learning_rate_warms_up_then_decays():
    args = train_cli.parse_args(["--out", "x", "--steps", "100", "--warmup", "10", "--lr", "1e-3"])
    lrs = [train_cli.lr_at(s, args) for s in range(100)]
    assert lrs[0] < lrs[9] == pytest.approx(1e-3, rel=0.05)
    assert lrs[99] == pytest.approx(1e-3 * args.min_lr_ratio, rel=0.05)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    # with a time limit the schedule follows whichever is further along, steps or time
    assert train_cli.lr_at(20, args, progress=1.0) == pytest.approx(1e-3 * args.min_lr_ratio)


def test_time_limit_stops_saves_and_evaluates(tmp_path, capsys):
    out = tmp_path / "run"
    train_cli.main(["--out", str(out), "--device", "cpu", "--steps", "100000", "--time-limit", "1",
                    "--batch", "2", "--max-files", "6", "--vocab", "600", "--n-embd", "32", "--n-layer", "1",
                    "--n-head", "2", "--n-head-kv", "1", "--n-ff", "64", "--eval-per-kind", "1", "--threads", "1"])
    printed = capsys.readouterr().out
    step = torch.load(out / "last.pt", weights_only=False)["step"]
    assert 1 <= step < 100000
    assert f"step {step}: held-out estimate" in printed and f"done: step {step}" in printed


def test_data_does_not_depend_on_the_number_of_workers(data):
    corpus, tok = data
    stream = ExampleStream(corpus, tok, seed=3, spec=SPEC)
    batches = [[s * 4 + i for i in range(4)] for s in range(3)]

    def collect(workers):
        loader = torch.utils.data.DataLoader(stream, batch_sampler=batches, num_workers=workers)
        return [b[0] for b in loader]

    for a, b in zip(collect(0), collect(2)):
        assert torch.equal(a, b)


def test_model_learns_a_fixed_batch(data):
    corpus, tok = data
    stream = ExampleStream(corpus, tok, seed=0, spec=SPEC)
    tokens = torch.stack([torch.from_numpy(stream[i][0]) for i in range(8)])
    torch.manual_seed(0)
    model = RepairModel(ModelConfig(n_vocab=tok.n_vocab, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=128))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    a = SPEC.answer_start
    losses = []
    for step in range(40):
        gen = torch.Generator().manual_seed(step)
        noisy, masked, _ = train_cli.mask_answer(tokens, a, tok.special(MASK), 0.05, gen)
        logits = model(noisy, mask=canvas_attention_mask(noisy, tok.special(PAD), a), logits_from=a)
        loss = torch.nn.functional.cross_entropy(logits[masked], tokens[:, a:][masked])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


def test_smoke_run_trains_exports_and_repairs_through_the_engine(tmp_path, capsys):
    out = tmp_path / "run"
    train_cli.main(["--out", str(out), "--device", "cpu", "--steps", "3", "--batch", "4", "--max-files", "6",
                    "--vocab", "600", "--n-embd", "32", "--n-layer", "1", "--n-head", "2", "--n-head-kv", "1",
                    "--n-ff", "64", "--log-every", "1", "--eval-every", "3", "--eval-per-kind", "1",
                    "--ckpt-every", "3", "--threads", "1"])
    printed = capsys.readouterr().out
    assert "step 3 loss" in printed and "held-out estimate" in printed
    assert (out / "last.pt").exists() and (out / "tokenizer.json").exists()
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert ckpt["step"] == 3 and set(ckpt) >= {"model", "optimizer", "config", "spec", "tokenizer"}

    # a fine-tuning leg: the first run's weights, a fresh step count, the kinds weighted
    tuned = tmp_path / "tuned"
    small = ["--device", "cpu", "--batch", "4", "--max-files", "6", "--n-embd", "32", "--n-layer", "1",
             "--n-head", "2", "--n-head-kv", "1", "--n-ff", "64", "--eval-per-kind", "1", "--threads", "1"]
    train_cli.main(["--out", str(tuned), "--init-from", str(out / "last.pt"), "--steps", "2",
                    "--kind-weights", "missing_colon=3,joined_lines=0"] + small)
    assert f"weights from {out / 'last.pt'} (step 3)" in capsys.readouterr().out
    assert (tuned / "tokenizer.json").read_text() == (out / "tokenizer.json").read_text()
    assert torch.load(tuned / "last.pt", weights_only=False)["step"] == 2
    with pytest.raises(SystemExit, match="model flags do not match"):
        train_cli.main(["--out", str(tmp_path / "wide"), "--init-from", str(out / "last.pt"), "--steps", "1"]
                       + small + ["--n-embd", "64"])  # the last --n-embd wins: not the checkpoint's shape

    gguf_path = tmp_path / "m.gguf"
    export_cli.main(["--checkpoint", str(out / "last.pt"), "--out", str(gguf_path)])
    spec = CanvasSpec(**ckpt["spec"])
    case = heldout_cases(Corpus("heldout", max_files=6), 1, seed=0, kinds=["missing_colon"])[0]
    with Engine(gguf_path, EngineOptions(n_ctx=spec.canvas, n_threads=1)) as engine:
        outcome = repair_case(engine, case, spec, 0.9)
    assert outcome is not None and outcome.fits and outcome.kind == "missing_colon"
    assert 1 <= outcome.steps <= spec.answer_length  # an untrained model's answer is junk, but the loop is bounded


def test_kind_weights_choose_which_errors_are_drawn(data):
    corpus, tok = data
    assert train_cli.parse_kind_weights(None) is None
    weights = train_cli.parse_kind_weights("missing_colon=2, joined_lines=0")
    assert weights[KINDS.index("missing_colon")] == 2 and weights[KINDS.index("joined_lines")] == 0
    assert weights[KINDS.index("missing_comma")] == 1
    for bad, why in [("colon=2", "not KIND=WEIGHT"), ("missing_colon", "not KIND=WEIGHT"),
                     ("missing_colon=x", "not a number"), ("missing_colon=-1", "negative"),
                     (",".join(f"{k}=0" for k in KINDS), "all weights are zero")]:
        with pytest.raises(SystemExit, match=why):
            train_cli.parse_kind_weights(bad)
    only_colons = ExampleStream(corpus, tok, seed=4, spec=SPEC,
                                kind_weights=[1.0 if k == "missing_colon" else 0.0 for k in KINDS])
    colon = tok.special(ins_op(ord(":")))
    assert all(colon in only_colons[i][0][SPEC.answer_start:].tolist() for i in range(12))
    with pytest.raises(ValueError, match="non-negative"):
        ExampleStream(corpus, tok, seed=4, spec=SPEC, kind_weights=[1.0])
