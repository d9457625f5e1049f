"""The shipped repair model, end to end: it loads through the normal engine and `dgcode fix` repairs real files.

Real parts only: the GGUF that ships in the package, llama.cpp in the
engine's child process, the `dgcode` command in a subprocess, a real git
repository. The broken files are everyday slips written for this test (not
from the training corpus).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import init_repo, real_git  # noqa: E402

from dgcode.engine.model_file import read_model_info  # noqa: E402
from dgcode.repair.canvas import split_lines  # noqa: E402
from dgcode.repair.embedded import EMBEDDED_MODEL, embedded_model  # noqa: E402
from dgcode.repair.repair_model import read_layout, syntax_error  # noqa: E402

DGCODE = [sys.executable, "-m", "dgcode"]
REPO_ROOT = Path(__file__).resolve().parents[1]

# (broken, repaired): one slip each, of kinds the model is trained on
CASES = {
    "colon.py": ("def area(width, height)\n    return width * height\n",
                 "def area(width, height):\n    return width * height\n"),
    "equals.py": ("def sign(n):\n    if n = 0:\n        return 0\n    return 1 if n > 0 else -1\n",
                  "def sign(n):\n    if n == 0:\n        return 0\n    return 1 if n > 0 else -1\n"),
    "bracket.py": ("def total(prices):\n    return sum(price * 2 for price in prices))\n",
                   "def total(prices):\n    return sum(price * 2 for price in prices)\n"),
    "comma.py": ("def pair(first, second):\n    return [first second]\n",
                 "def pair(first, second):\n    return [first, second]\n"),
    # these need more than the model's first answer: ranked alternatives or a moved window
    "quote.py": ("def warn(path):\n    print(\"cannot read\", path)\n    print(\"skipping)\n",
                  "def warn(path):\n    print(\"cannot read\", path)\n    print(\"skipping\")\n"),
    "indent.py": ("def mean(values):\n    total = sum(values)\n     return total / len(values)\n",
                  "def mean(values):\n    total = sum(values)\n    return total / len(values)\n"),
    "paren.py": ("def show(items):\n    print(len(items)\n    return items\n",
                 "def show(items):\n    print(len(items))\n    return items\n"),
    "joined.py": ("def configure(settings):\n    settings['timeout_seconds'] = settings.get('timeout_seconds', 30)"
                  " settings['retry_attempts'] = settings.get('retry_attempts', 3)\n    return settings\n",
                  "def configure(settings):\n    settings['timeout_seconds'] = settings.get('timeout_seconds', 30)\n"
                  "    settings['retry_attempts'] = settings.get('retry_attempts', 3)\n    return settings\n"),
}


def run_dgcode(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DGCODE_MODEL"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(DGCODE + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_shipped_model_is_a_small_dream_repair_model() -> None:
    assert embedded_model() == EMBEDDED_MODEL, "the package ships dgcode/repair/dgcode-repair.gguf"
    assert EMBEDDED_MODEL.stat().st_size <= 40 * 1024 * 1024
    info = read_model_info(EMBEDDED_MODEL)
    assert info.architecture == "dream" and info.mask_token_id is not None
    spec = read_layout(EMBEDDED_MODEL)
    assert spec.slot < spec.canvas


def test_fix_repairs_broken_files_with_the_embedded_model_and_undo_reverts(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    init_repo(repo)
    (repo / "README.md").write_text("demo\n")
    real_git(repo, "add", "README.md")
    real_git(repo, "commit", "-q", "-m", "base")
    for name, (broken, _fixed) in CASES.items():
        (repo / name).write_text(broken)

    cautious = run_dgcode(["fix", "--yes"], repo)  # the default: a repair the model is unsure of is withheld
    said = cautious.stdout + cautious.stderr
    assert "embedded model" in cautious.stderr and "syntax errors only" in cautious.stderr
    repaired = [name for name, (_broken, fixed) in CASES.items() if (repo / name).read_text() == fixed]
    withheld = [name for name, (broken, _fixed) in CASES.items() if (repo / name).read_text() == broken]
    assert sorted(repaired + withheld) == sorted(CASES), "every file is repaired exactly or left exactly as it was"
    assert len(repaired) >= len(CASES) // 2, said
    for name in withheld:
        assert f"{name}: not confident enough to repair line" in said, name
    assert cautious.returncode == (1 if withheld else 0), said
    assert run_dgcode(["undo"], repo).returncode == 0  # the repairs that were written
    assert all((repo / name).read_text() == broken for name, (broken, _fixed) in CASES.items())

    (repo / ".dgcode.toml").write_text("[repair]\nmin_margin = 0\n")  # offer every repair that compiles
    done = run_dgcode(["fix", "--yes"], repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not the model's first answer" in done.stdout + done.stderr  # said for the rewrites to look at twice
    for name, (_broken, fixed) in CASES.items():
        assert (repo / name).read_text() == fixed, name
    undone = run_dgcode(["undo"], repo)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    for name, (broken, _fixed) in CASES.items():
        assert (repo / name).read_text() == broken, name


def test_the_readme_example_is_repaired(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    init_repo(repo)
    example = (REPO_ROOT / "docs" / "broken_example.py").read_text()
    (repo / "broken_example.py").write_text(example)
    dry = run_dgcode(["fix", "--dry-run", "broken_example.py"], repo)
    assert dry.returncode == 0 and "dry run" in dry.stdout, dry.stdout + dry.stderr
    assert (repo / "broken_example.py").read_text() == example
    done = run_dgcode(["fix", "--yes", "broken_example.py"], repo)
    assert done.returncode == 0, done.stdout + done.stderr
    repaired = (repo / "broken_example.py").read_text()
    assert syntax_error(repaired) is None
    assert repaired == (example.replace("def find_python_files(root)\n", "def find_python_files(root):\n")
                        .replace("if count = best_count:", "if count == best_count:")
                        .replace("os.path.join(folder name)", "os.path.join(folder, name)"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_really_is_broken(name: str) -> None:
    broken, fixed = CASES[name]
    assert syntax_error(broken) is not None and syntax_error(fixed) is None


def test_the_evaluation_script_runs_on_a_small_held_out_sample(tmp_path: Path) -> None:
    from training import evaluate

    out = tmp_path / "eval.json"
    summary = evaluate.main(["--model", str(EMBEDDED_MODEL), "--per-kind", "3", "--max-files", "40",
                             "--threads", "2", "--json", str(out)])
    assert set(summary) >= {"all", "missing_colon", "joined_lines"} and summary["all"]["n"] >= 25
    assert summary["all"]["baseline_exact"] == 0.0
    assert summary["all"]["exact"] >= 0.5  # the shipped model really repairs held-out files
    assert summary["all"]["tokens_per_step"] > 1.0
    assert out.exists()


def test_the_evaluation_script_measures_a_mask_window(tmp_path: Path) -> None:
    import json

    from training import evaluate

    out = tmp_path / "eval.json"
    summary = evaluate.main(["--model", str(EMBEDDED_MODEL), "--per-kind", "1", "--max-files", "20",
                             "--threads", "2", "--mask-window", "2", "--json", str(out)])
    assert summary["all"]["n"] >= 5
    assert 1.0 <= summary["all"]["tokens_per_step"] <= 2.0  # a step commits at most the window's 2
    assert json.loads(out.read_text())["mask_window"] == 2


def test_ranked_alternatives_are_other_rewrites_of_the_same_window() -> None:
    from dgcode.engine.engine import Engine, EngineOptions
    from dgcode.repair.repair_model import repair_window

    spec = read_layout(EMBEDDED_MODEL)
    source = CASES["colon.py"][0]
    error = syntax_error(source)
    with Engine(EMBEDDED_MODEL, EngineOptions(n_ctx=spec.canvas, n_threads=2)) as engine:
        plain = repair_window(engine, source, error.lineno, error.msg, spec, offset=error.offset)
        ranked = repair_window(engine, source, error.lineno, error.msg, spec, alternatives=8, offset=error.offset)
        sampled = repair_window(engine, source, error.lineno, error.msg, spec, attempt=1, alternatives=8)
    assert plain.alternatives == () and sampled.alternatives == ()  # only a first answer brings alternatives
    fixed = tuple(split_lines(CASES["colon.py"][1]))[ranked.start:ranked.end]
    assert ranked.new_lines == plain.new_lines == fixed
    assert len(ranked.alternatives) == 8 and len(set(ranked.alternatives)) == 8
    assert ranked.old_lines not in ranked.alternatives and ranked.new_lines not in ranked.alternatives


def test_instructions_are_refused_with_directions_to_a_full_model(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    init_repo(repo)
    (repo / "m.py").write_text("def f(x)\n    return x\n")
    done = run_dgcode(["fix", "m.py", "-m", "make it faster"], repo)
    assert done.returncode == 2 and "takes no instructions" in done.stderr and "--model" in done.stderr
    assert (repo / "m.py").read_text() == "def f(x)\n    return x\n"
