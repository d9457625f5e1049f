"""The syntax-repair pipeline behind `dgcode fix` with the embedded model, over a rule-based repairer at the seam.

The repairer here stands in for the model (the real one is exercised in
test_repair_model_e2e.py): it adds a missing colon to the reported line, or
answers with a rewrite that does not help. What is under test is the
pipeline: which files it picks, that each rewrite is checked by compiling,
that repairs go through the safe edit path (undo works, stale files are
refused, nothing is half-written) and what it reports.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import init_repo, real_git  # noqa: E402

from dgcode.edits.apply import undo  # noqa: E402
from dgcode.repair.canvas import split_lines  # noqa: E402
from dgcode.repair.file_repair import ATTEMPT_PLAN, repair_source  # noqa: E402
from dgcode.repair.repair_model import WindowRepair  # noqa: E402
from dgcode.workflows.fix.pipeline import FixRequest  # noqa: E402
from dgcode.workflows.fix.syntax import line_range_edit, run_syntax_fix  # noqa: E402

GOOD = "def f(x):\n    return x\n"
NO_COLON = "def f(x)\n    return x\n"
TWO_ERRORS = "def f(x)\n    return x\n\n\ndef g(y)\n    return y\n"
MODEL_ONLY = tuple(entry for entry in ATTEMPT_PLAN if entry.search != "message")
"""dgcode fix's plan without the message search (which repairs a lone bracket itself): for the model's path."""


@dataclass
class ColonRepairer:
    """Adds ':' to the reported line when the compiler expects one; otherwise rewrites nothing useful."""

    asked: list[tuple[int, str, int]] = field(default_factory=list)
    closed: bool = False

    def ask(self, source: str, lineno: int, message: str, attempt: int = 0, offset: int = 0) -> WindowRepair | None:
        self.asked.append((lineno, message, attempt))
        lines = split_lines(source)
        old = lines[lineno - 1]
        body = old.rstrip("\r\n")
        new = body + ":" + old[len(body):] if message == "expected ':'" else old
        return WindowRepair(lineno - 1, lineno, (old,), (new,), steps=3, tokens=len(new), wall_s=0.01)

    def close(self) -> None:
        self.closed = True


def make_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    init_repo(repo)
    (repo / "base.txt").write_text("base\n")
    real_git(repo, "add", "base.txt")
    real_git(repo, "commit", "-q", "-m", "base")
    for name, text in files.items():
        (repo / name).write_text(text)
    return repo


def test_repairs_every_error_of_a_file_round_by_round() -> None:
    repairer = ColonRepairer()
    result = repair_source("m.py", TWO_ERRORS, repairer.ask)
    assert result.repaired_ok and result.repaired == TWO_ERRORS.replace(")\n", "):\n")
    assert [(lineno, attempt) for lineno, _, attempt in repairer.asked] == [(1, 0), (5, 0)]
    assert result.error.startswith("line 1:") and len(result.windows) == 2 and result.steps == 6
    assert result.second_guesses == 0  # both were the model's first answers


def test_a_rewrite_that_does_not_move_the_error_is_retried_then_given_up() -> None:
    repairer = ColonRepairer()
    result = repair_source("m.py", "x = (1,\n", repairer.ask, plan=MODEL_ONLY)
    # a one-line file: the moved windows are all the same window, asked once; then two samples
    assert not result.repaired_ok and "found no fix in 3 attempt(s)" in result.problem
    assert [(lineno, attempt) for lineno, _, attempt in repairer.asked] == [(1, 0), (1, 1), (1, 2)]
    assert result.repaired == "x = (1,\n"
    assert not repair_source("m.py", GOOD, ColonRepairer().ask).needed


def test_line_range_edit_names_only_the_changed_lines() -> None:
    edit = line_range_edit("m.py", "a\nb\nc\n", "a\nB\nc\n")
    assert (edit.start, edit.end, edit.expected, edit.replace) == (2, 2, "b\n", "B\n")
    joined = line_range_edit("m.py", "a\nb = 1 c = 2\nd\n", "a\nb = 1\nc = 2\nd\n")
    assert (joined.start, joined.end, joined.replace) == (2, 2, "b = 1\nc = 2\n")
    inserted = line_range_edit("m.py", "a\nd\n", "a\nb\nd\n")  # a pure insertion still names a line
    assert (inserted.start, inserted.end, inserted.expected, inserted.replace) == (2, 2, "d\n", "b\nd\n")


def test_changed_python_files_are_repaired_and_undo_reverts(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"m.py": TWO_ERRORS, "ok.py": GOOD, "notes.md": "def x(\n"})
    repairer = ColonRepairer()
    report = run_syntax_fix(FixRequest(repo, cwd=repo), repairer)
    assert report.status == "applied" and report.exit_code == 0, report.message
    assert (repo / "m.py").read_text() == TWO_ERRORS.replace(")\n", "):\n")
    assert (repo / "ok.py").read_text() == GOOD and (repo / "notes.md").read_text() == "def x(\n"
    assert report.files_changed == ["m.py"]
    assert undo(repo).undone
    assert (repo / "m.py").read_text() == TWO_ERRORS


def test_crlf_files_keep_their_line_endings(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {})
    (repo / "w.py").write_bytes(NO_COLON.replace("\n", "\r\n").encode())
    report = run_syntax_fix(FixRequest(repo, paths=("w.py",), cwd=repo), ColonRepairer())
    assert report.status == "applied", report.message
    assert (repo / "w.py").read_bytes() == GOOD.replace("\n", "\r\n").encode()


def test_unrepairable_files_are_left_as_they_were_and_reported(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.py": NO_COLON, "b.py": "x = = 1\n"})
    report = run_syntax_fix(FixRequest(repo, cwd=repo), ColonRepairer())
    assert report.status == "failed" and report.exit_code == 1
    assert "b.py: line 1" in report.message and "repaired a.py" in report.message
    assert (repo / "a.py").read_text() == GOOD and (repo / "b.py").read_text() == "x = = 1\n"


def test_dry_run_and_declined_write_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"m.py": NO_COLON})
    dry = run_syntax_fix(FixRequest(repo, dry_run=True, cwd=repo), ColonRepairer())
    assert dry.status == "proposed" and dry.rounds[0].changes[0].new_bytes == GOOD.encode()
    declined = run_syntax_fix(FixRequest(repo, cwd=repo), ColonRepairer(), confirm=lambda _c: False)
    assert declined.status == "not_applied" and declined.exit_code == 1
    assert (repo / "m.py").read_text() == NO_COLON


def test_a_file_changed_while_the_model_works_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"m.py": NO_COLON})

    class Meddler(ColonRepairer):
        def ask(self, source, lineno, message, attempt=0, offset=0):
            (repo / "m.py").write_text(NO_COLON + "# edited meanwhile\n")
            return super().ask(source, lineno, message, attempt, offset)

    report = run_syntax_fix(FixRequest(repo, cwd=repo), Meddler())
    assert report.status == "failed" and "changed" in report.message
    assert (repo / "m.py").read_text() == NO_COLON + "# edited meanwhile\n"


def test_nothing_to_do_and_non_python_paths(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"ok.py": GOOD, "notes.md": "text\n"})
    assert run_syntax_fix(FixRequest(repo, cwd=repo), ColonRepairer()).status == "nothing_to_do"
    named = run_syntax_fix(FixRequest(repo, paths=("notes.md",), cwd=repo), ColonRepairer())
    assert named.status == "nothing_to_do" and "Python files only" in named.notes[0]


def test_a_later_attempt_that_compiles_is_taken() -> None:
    class SecondGuess(ColonRepairer):
        def ask(self, source, lineno, message, attempt=0, offset=0):
            window = super().ask(source, lineno, message, attempt, offset)
            if attempt == 0:  # the most likely guesses do not compile
                return WindowRepair(window.start, window.end, window.old_lines, ("def f(x) ::\n",), 1, 1, 0.0)
            return window

    repairer = SecondGuess()
    result = repair_source("m.py", NO_COLON, repairer.ask)
    assert result.repaired_ok and result.repaired == GOOD and len(result.windows) == 1
    # the trained window, the window one line down (up is clamped to line 1: asked already), then a sample
    assert [(lineno, attempt) for lineno, _, attempt in repairer.asked] == [(1, 0), (2, 0), (1, 1)]


def test_a_ranked_alternative_that_compiles_beats_a_denoised_answer_that_does_not() -> None:
    calls = []

    def ask(source, lineno, message, attempt, offset):
        calls.append((lineno, attempt))
        return WindowRepair(0, 1, ("def f(x)\n",), ("def f(x) ::\n",), 2, 5, 0.0,
                            alternatives=(("def f(x)\n",), ("def f(x):\n",), ("def f(x)::\n",)))

    result = repair_source("m.py", NO_COLON, ask)
    assert result.repaired_ok and result.repaired == GOOD and calls == [(1, 0)]
    assert result.windows[0].new_lines == ("def f(x):\n",) and result.windows[0].alternatives == ()
    assert result.second_guesses == 1


def test_fix_says_when_a_repair_was_not_the_models_first_answer(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"m.py": NO_COLON, "n.py": NO_COLON})

    class FirstAnswerRightForNOnly:
        def ask(self, source, lineno, message, attempt, offset):
            first = ("def f(x):\n",) if source.endswith("# n\n") else ("def f(x) ::\n",)
            return WindowRepair(0, 1, ("def f(x)\n",), first, 2, 5, 0.0, alternatives=(("def f(x):\n",),))

    (repo / "n.py").write_text(NO_COLON + "# n\n")
    said = []
    report = run_syntax_fix(FixRequest(repo, cwd=repo), FirstAnswerRightForNOnly(), say=said.append)
    assert report.status == "applied", report.message
    assert [line for line in said if "not the model's first answer" in line] == [
        "m.py: line 1: expected ':': repaired (with a rewrite that was not the model's first answer; "
        "the compiler accepts it, but check the diff)"]


def test_a_rewrite_that_compiles_beats_an_earlier_one_that_only_moves_the_error_down() -> None:
    moves_down = ("def f(x):\n", "    y = (\n")  # the error is now reported on line 2

    def ask(source, lineno, message, attempt, offset):
        return WindowRepair(0, 1, ("def f(x)\n",), moves_down, 2, 5, 0.0, alternatives=(("def f(x):\n",),))

    assert repair_source("m.py", NO_COLON, ask).repaired == GOOD

    def ask_without_a_compiling_one(source, lineno, message, attempt, offset):
        if lineno != 1:
            return None
        return WindowRepair(0, 1, ("def f(x)\n",), ("def f(x) ::\n",), 2, 5, 0.0, alternatives=(moves_down,))

    result = repair_source("m.py", NO_COLON, ask_without_a_compiling_one, max_rounds=1)
    assert result.repaired == "def f(x):\n    y = (\n    return x\n" and not result.repaired_ok


def test_the_window_moves_down_when_the_slip_is_after_the_reported_line() -> None:
    source = "x = (1,\n     2\ny = 3\n"  # '(' was never closed: reported on line 1, missing on line 2
    asked = []

    def ask(text, lineno, message, attempt, offset):
        asked.append((lineno, attempt))
        lines = split_lines(text)
        old = lines[lineno - 1]
        new = old.replace("2", "2)") if lineno == 2 else old
        return WindowRepair(lineno - 1, lineno, (old,), (new,), 1, 1, 0.0)

    result = repair_source("m.py", source, ask, plan=MODEL_ONLY)
    assert result.repaired_ok and result.repaired == "x = (1,\n     2)\ny = 3\n"
    assert asked == [(1, 0), (2, 0)]
    asked.clear()  # dgcode fix's plan: the bracket search finds this one itself, with no model call
    result = repair_source("m.py", source, ask)
    assert result.repaired == "x = (1,\n     2)\ny = 3\n" and asked == [] and result.windows[0].steps == 0


def test_no_usable_answer_anywhere_is_reported() -> None:
    result = repair_source("m.py", NO_COLON, lambda *_args: None)
    assert not result.repaired_ok and "no usable answer" in result.problem


def test_the_check_command_runs_and_decides_when_nothing_needs_repair(tmp_path: Path) -> None:
    """`dgcode fix --cmd ... --yes` on the embedded model: files that compile do not make a failing check pass."""
    import json
    import subprocess

    repo = make_repo(tmp_path, {"ok.py": "x = 1\n"})
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("DGCODE_MODEL", None)
    failing = subprocess.run([sys.executable, "-m", "dgcode", "fix", "ok.py", "--cmd", "exit 3", "--yes", "--json"],
                             cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    report = json.loads(failing.stdout)
    assert failing.returncode == 1 and report["status"] == "failed" and report["command_runs"] == 1
    assert "exit 3" in report["message"] and "syntax errors only" in report["message"]
    passing = subprocess.run([sys.executable, "-m", "dgcode", "fix", "ok.py", "--cmd", "true", "--yes", "--json"],
                             cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert passing.returncode == 0 and json.loads(passing.stdout)["command_runs"] == 1


def test_a_named_line_range_bounds_the_repair(tmp_path: Path) -> None:
    """`dgcode fix broken.py:1-10` never changes line 24; a range that holds the error is repaired."""
    broken = "".join(f"x{n} = {n}\n" for n in range(1, 24)) + "def f(x)\n    return x\n"
    repo = make_repo(tmp_path, {"broken.py": broken})
    outside = run_syntax_fix(FixRequest(repo, ("broken.py:1-10",), cwd=repo), ColonRepairer())
    assert outside.status == "failed" and "line 24, outside the named line range (1-10)" in outside.message
    assert (repo / "broken.py").read_text() == broken
    inside = run_syntax_fix(FixRequest(repo, ("broken.py:20-25",), cwd=repo), ColonRepairer())
    assert inside.status == "applied" and (repo / "broken.py").read_text() != broken
