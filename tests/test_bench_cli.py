"""`dgcode bench` and the other commands, through typer's runner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from dgcode.cli.main import app
from dgcode.engine.benchmark import BenchSpec, run_bench

runner = CliRunner()
FIELDS = {"mode", "wall_s", "tokens", "tok_per_s", "steps", "tokens_per_step", "prefill_ms", "step_ms_mean"}


def test_bench_runs_three_modes_with_equal_token_counts(models):
    rows = run_bench(models["dream"], BenchSpec(prompt_tokens=64, gen_tokens=32, steps=8, sub_block=8))
    assert [r["mode"] for r in rows] == ["dgcode", "diffusion-cli", "ar"]
    assert all(FIELDS <= set(r) for r in rows)
    assert [r["tokens"] for r in rows] == [32, 32, 32]
    assert [r["steps"] for r in rows] == [8, 8, 32]
    assert rows[0]["tokens_per_step"] == rows[1]["tokens_per_step"] == 4.0


def test_bench_json_from_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "dgcode", "bench", "--synthetic", "test", "--prompt-tokens", "32",
         "--gen-tokens", "16", "--steps", "4", "--sub-block", "8", "--json"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {r["mode"] for r in rows} == {"dgcode", "diffusion-cli", "ar"}
    assert all(r["tokens"] == 16 for r in rows)


def test_bench_table(models):
    result = runner.invoke(app, ["bench", "--model", str(models["llada"]), "--prompt-tokens", "32",
                                 "--gen-tokens", "16", "--steps", "4", "--sub-block", "8"])
    assert result.exit_code == 0, result.output
    assert "diffusion-cli" in result.output and "ratio" in result.output


def test_bench_usage_errors(models, tmp_path):
    both = runner.invoke(app, ["bench", "--model", str(models["dream"]), "--synthetic", "test"])
    assert both.exit_code == 2 and "exactly one of" in both.output
    shape = runner.invoke(app, ["bench", "--synthetic", "gpt-9"])
    assert shape.exit_code == 2 and "unknown model shape 'gpt-9'" in shape.output
    steps = runner.invoke(app, ["bench", "--model", str(models["dream"]), "--gen-tokens", "64", "--steps", "1"])
    assert steps.exit_code == 2 and "needs steps >= 2" in steps.output
    missing = runner.invoke(app, ["bench", "--model", str(tmp_path / "none.gguf")])
    assert missing.exit_code == 2 and "model file not found" in missing.output


def test_generate_json(models):
    result = runner.invoke(app, ["generate", "hello", "--model", str(models["dream"]), "--max-tokens", "16",
                                 "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["tokens"] <= 16 and answer["stop_reason"] in ("eos", "length")


def test_generate_without_a_model_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv("DGCODE_MODEL", raising=False)
    result = runner.invoke(app, ["generate", "hello"])
    assert result.exit_code == 2 and "DGCODE_MODEL" in result.output


def test_models_info(models):
    result = runner.invoke(app, ["models", "info", str(models["dream"]), "--json"])
    facts = json.loads(result.output)
    assert facts["architecture"] == "dream" and facts["cached_path"] is True and facts["mask_token_id"] == 383
    ar = json.loads(runner.invoke(app, ["models", "info", str(models["qwen2-no-mask"]), "--json"]).output)
    assert ar["diffusion"] is False and ar["cached_path"] is False


def test_main_app_applies_and_undoes_a_response(tmp_path):
    """`dgcode apply` / `dgcode undo` are wired into the real command line."""
    (tmp_path / "a.py").write_text("def f():\n    return 1\n")
    response = tmp_path / "response.md"
    response.write_text("a.py\n```python\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n```\n")
    applied = runner.invoke(app, ["apply", str(response), "--root", str(tmp_path), "--json"])
    assert applied.exit_code == 0, applied.output
    assert (tmp_path / "a.py").read_text() == "def f():\n    return 2\n"
    undone = runner.invoke(app, ["undo", "--root", str(tmp_path)])
    assert undone.exit_code == 0, undone.output
    assert (tmp_path / "a.py").read_text() == "def f():\n    return 1\n"


def test_bench_reports_logit_bytes_break_even_and_the_confidence_kernel(models):
    from dgcode.engine import confidence_kernel
    from dgcode.engine.model_file import read_model_info

    vocab = read_model_info(models["dream"]).n_vocab
    rows = {r["mode"]: r for r in run_bench(models["dream"], BenchSpec(prompt_tokens=64, gen_tokens=32, steps=8,
                                                                       sub_block=8))}
    # dgcode: 2 steps per 8-token sub-block read logits for the 8, then the 4 still masked rows.
    assert rows["dgcode"]["logit_bytes_per_step"] == (8 + 4) / 2 * vocab * 4
    assert rows["diffusion-cli"]["logit_bytes_per_step"] == (64 + 32) * vocab * 4  # every row, every step
    assert vocab * 4 <= rows["ar"]["logit_bytes_per_step"] <= vocab * 4 * (1 + 1 / 32)  # one row per token
    ar_ms = rows["ar"]["step_ms_mean"]
    for mode in ("dgcode", "diffusion-cli"):
        r = rows[mode]
        expected = (r["step_ms_mean"] + r["commit_ms"] / r["steps"]) / ar_ms
        assert r["break_even_tokens_per_step"] == pytest.approx(expected, abs=0.01)
    assert "break_even_tokens_per_step" not in rows["ar"]
    assert {r["confidence_kernel"] for r in rows.values()} == {confidence_kernel.status().describe()}


def test_bench_table_and_models_info_name_the_confidence_kernel(models):
    from dgcode.engine import confidence_kernel

    kernel = confidence_kernel.status().describe()
    table = runner.invoke(app, ["bench", "--model", str(models["dream"]), "--prompt-tokens", "32",
                                "--gen-tokens", "16", "--steps", "4", "--sub-block", "8"])
    assert table.exit_code == 0, table.output
    flat = " ".join(table.output.split())
    assert "break-even" in flat and f"confidence kernel: {kernel}" in flat
    info = json.loads(runner.invoke(app, ["models", "info", str(models["dream"]), "--json"]).output)
    assert info["confidence_kernel"] == kernel
    assert kernel.startswith("C (") or kernel.startswith("numpy (")
