"""`dgcode fix` asking hunk by hunk (y/n/a/q, as `git add -p`): exactly the accepted bytes written, undo, Ctrl+C."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import git_shim, init_repo, real_git, repo_state  # noqa: E402, F401
from test_fix_pipeline import ScriptedEngine, edit  # noqa: E402

from dgcode.cli import fix as cli_fix  # noqa: E402
from dgcode.edits.apply import undo  # noqa: E402
from dgcode.edits.diff import FileChange  # noqa: E402
from dgcode.workflows.fix.pipeline import FixRequest, run_fix  # noqa: E402

runner = CliRunner()
ORIGINAL = "".join(f"v{n} = {n}\n" for n in range(1, 31))
ANSWER = ("Three changes.\n\n" + edit("m.py", "v2 = 2\n", "v2 = 20\n") + edit("m.py", "v15 = 15\n", "v15 = 150\n")
          + edit("m.py", "v28 = 28\n", "v28 = 280\n"))


def expected(*numbers: int) -> str:
    """ORIGINAL with the hunks changing v2, v15, v28 (0, 1, 2) applied for ``numbers``."""
    text = ORIGINAL
    for index, name in enumerate(("v2 = 2", "v15 = 15", "v28 = 28")):
        if index in numbers:
            text = text.replace(name + "\n", name + "0\n")
    return text


@pytest.fixture
def setup(tmp_path: Path, monkeypatch) -> Path:
    root = init_repo(tmp_path / "repo")
    (root / "m.py").write_text(ORIGINAL)
    real_git(root, "add", ".")
    real_git(root, "commit", "-q", "-m", "base")
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DGCODE_MODEL", str(model))
    for name in ("DGCODE_FIX_CMD", "DGCODE_FIX_ROUNDS", "DGCODE_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli_fix, "_stdin_is_terminal", lambda: True)
    return root


def fix(answer_keys: str):
    application = typer.Typer()
    application.command("noop")(lambda: None)
    cli_fix.register(application, open_engine=lambda config, say: ScriptedEngine([ANSWER]))
    return runner.invoke(application, ["fix", "m.py", "-m", "bump"], input=answer_keys)


def test_middle_hunk_rejected_gives_exactly_the_expected_bytes_and_undo_restores(setup: Path) -> None:
    result = fix("y\nn\ny\n")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("apply this hunk [y,n,a,q,?]?") == 3
    assert "(2/3)" in result.stderr and "applying 2 of 3 hunk(s)" in result.stderr
    assert (setup / "m.py").read_bytes() == expected(0, 2).encode()
    assert undo(setup).undone
    assert (setup / "m.py").read_bytes() == ORIGINAL.encode()


def test_a_accepts_this_and_the_rest(setup: Path) -> None:
    result = fix("n\na\n")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("apply this hunk") == 2
    assert (setup / "m.py").read_text() == expected(1, 2)


def test_q_after_the_first_applies_only_the_first(setup: Path) -> None:
    result = fix("y\nq\n")
    assert result.exit_code == 0, result.output
    assert (setup / "m.py").read_text() == expected(0)


def test_declining_every_hunk_writes_nothing(setup: Path) -> None:
    before = repo_state(setup)
    result = fix("n\nn\nn\n")
    assert result.exit_code == 1
    assert "declined every hunk" in result.stdout
    assert repo_state(setup) == before


def test_question_mark_prints_help_and_asks_again(setup: Path) -> None:
    result = fix("?\ny\ny\ny\n")
    assert result.exit_code == 0, result.output
    assert "a - apply this hunk and every remaining one" in result.stderr
    assert (setup / "m.py").read_text() == expected(0, 1, 2)


def test_ctrl_c_at_the_prompt_writes_nothing(setup: Path, monkeypatch) -> None:
    before = repo_state(setup)
    answers = iter(["y"])

    def prompt(*_args, **_kwargs):
        for answer in answers:
            return answer
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise typer.Abort() from None  # what click does on Ctrl+C

    monkeypatch.setattr(cli_fix.typer, "prompt", prompt)
    result = fix("")
    assert result.exit_code == 130, result.output
    assert "not applied" in result.stderr
    assert repo_state(setup) == before


def test_yes_applies_every_hunk_without_asking(setup: Path) -> None:
    application = typer.Typer()
    application.command("noop")(lambda: None)
    cli_fix.register(application, open_engine=lambda config, say: ScriptedEngine([ANSWER]))
    result = runner.invoke(application, ["fix", "m.py", "-m", "bump", "--yes"])
    assert result.exit_code == 0, result.output
    assert "apply this hunk" not in result.stderr
    assert (setup / "m.py").read_text() == expected(0, 1, 2)


def test_the_pipeline_applies_the_changes_confirm_returns(setup: Path) -> None:
    def confirm(changes: tuple[FileChange, ...]):
        (change,) = changes
        return (FileChange(change.path, change.old_bytes, expected(1).encode()),)

    report = run_fix(FixRequest(setup, ("m.py",), "bump", rounds=1), ScriptedEngine([ANSWER]), confirm=confirm)
    assert report.status == "applied", report.message
    assert (setup / "m.py").read_text() == expected(1)
    assert report.rounds[-1].changes[0].new_bytes == expected(1).encode()
