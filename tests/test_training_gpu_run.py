"""training/gpu_run.sh, the repair model's prepared GPU run: run here on the CPU in a smoke setting, end to end.

The device machine cannot be had in CI, so the script's every step but CUDA is exercised here: training from
the shipped GGUF onto layout version 3, the export, the parts the device tool can return, and the file they
rebuild, which must match its checksum and load in dgcode's engine. The default-shape branch (from scratch with
the shipped tokenizer) runs with tiny flags; a wrong shape name is refused with a message.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the training tests need torch (pip install torch)")

from dgcode.engine.engine import Engine, EngineOptions  # noqa: E402
from dgcode.repair.canvas import V3_SPEC  # noqa: E402
from dgcode.repair.repair_model import read_layout  # noqa: E402
from training.gguf_import import read_gguf_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "training" / "gpu_run.sh"
SHIPPED = ROOT / "dgcode" / "repair" / "dgcode-repair.gguf"
SMOKE = "--max-files 6 --batch 2 --steps 2 --eval-per-kind 1 --threads 1"


def run_script(out: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "OUT": str(out), "DGC_DEVICE": "cpu", "DGC_WORKERS": "0", "DGC_PYTHON": sys.executable,
            **env}
    return subprocess.run(["bash", str(SCRIPT)], env=full, capture_output=True, text=True, timeout=600)


def rebuilt(out: Path, into: Path) -> Path:
    """What docs/model.md says to do with the returned folder: join the parts, check the sum."""
    parts = sorted(out.glob("dgcode-repair.gguf.part-*"))
    into.write_bytes(b"".join(part.read_bytes() for part in parts))
    digest, name = (out / "dgcode-repair.gguf.sha256").read_text().split()
    assert name == "dgcode-repair.gguf"
    assert hashlib.sha256(into.read_bytes()).hexdigest() == digest
    return into


def test_the_shipped_shape_fine_tunes_onto_layout_3_and_comes_back_in_parts(tmp_path):
    out = tmp_path / "out"
    done = run_script(out, DGC_EXTRA=SMOKE, DGC_PART_BYTES="1M")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = (out / "summary.txt").read_text()
    assert "train exit status 0" in summary and "done in" in summary
    assert f"--init-from {SHIPPED}" in summary
    train_log = (out / "train.log").read_text()
    assert "layout version 3" in train_log and "step 2 loss" in train_log
    assert (out / "log.jsonl").read_text().strip()

    parts = sorted(out.glob("dgcode-repair.gguf.part-*"))
    assert len(parts) >= 4 and all(part.stat().st_size <= 1 << 20 for part in parts)  # the shipped 4 MB, in 1 MiB
    model = rebuilt(out, tmp_path / "dgcode-repair.gguf")
    spec = read_layout(model)
    assert spec == V3_SPEC
    shipped = read_gguf_model(SHIPPED)
    assert read_gguf_model(model).config == shipped.config  # the shipped shape, so the latency stays
    with Engine(model, EngineOptions(n_ctx=spec.canvas, n_threads=1)) as engine:
        assert engine.model.n_vocab == shipped.config.n_vocab


def test_the_default_shape_trains_from_scratch_with_the_shipped_tokenizer(tmp_path):
    out = tmp_path / "out"
    tiny = " --n-embd 32 --n-layer 1 --n-head 2 --n-head-kv 1 --n-ff 64"
    done = run_script(out, DGC_SHAPE="default", DGC_EXTRA=SMOKE + tiny)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--init-from" not in (out / "summary.txt").read_text()
    model = read_gguf_model(rebuilt(out, tmp_path / "m.gguf"))
    assert model.config.n_embd == 32
    assert model.tokenizer.to_dict() == read_gguf_model(SHIPPED).tokenizer.to_dict()


def test_an_unknown_shape_is_refused_with_a_message(tmp_path):
    done = run_script(tmp_path / "out", DGC_SHAPE="huge")
    assert done.returncode == 2
    assert "DGC_SHAPE must be shipped or default, not 'huge'" in done.stdout
    assert not list((tmp_path / "out").glob("*.part-*"))
