"""`dgcode edit` asking hunk by hunk: a range rewrite that changes three separate places, the middle one rejected.

The engine is test_edit_range.py's scripted RangeEngine; the prompt answers come on stdin in a (patched) terminal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from git_shim import init_repo, real_git
from test_edit_range import ScriptedEngine
from typer.testing import CliRunner

from dgcode.cli import edit as cli_edit
from dgcode.cli import edits as cli_edits
from dgcode.edits.apply import undo

runner = CliRunner()
ORIGINAL = "".join(f"v{n} = {n}\n" for n in range(1, 31))
REWRITE = ORIGINAL.replace("v2 = 2\n", "v2 = 20\n").replace("v15 = 15\n", "v15 = 150\n") \
    .replace("v28 = 28\n", "v28 = 280\n")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    root = init_repo(tmp_path / "repo")
    (root / "m.py").write_text(ORIGINAL)
    real_git(root, "add", ".")
    real_git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    monkeypatch.chdir(root)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("DGCODE_MODEL", str(model))
    monkeypatch.setattr(cli_edit, "_stdin_is_terminal", lambda: True)
    return root


def edit(keys: str):
    application = typer.Typer()
    cli_edit.register(application, open_engine=lambda _config, _say: ScriptedEngine([(REWRITE, "eos")]))
    cli_edits.register(application)
    return runner.invoke(application, ["edit", "m.py:1-30", "-m", "bump three"], input=keys)


def test_the_middle_hunk_rejected_writes_exactly_the_other_two_and_undo_restores(repo: Path) -> None:
    result = edit("y\nn\ny\n")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("apply this hunk [y,n,a,q,?]?") == 3
    assert (repo / "m.py").read_text() == ORIGINAL.replace("v2 = 2\n", "v2 = 20\n").replace("v28 = 28\n",
                                                                                            "v28 = 280\n")
    assert undo(repo).undone
    assert (repo / "m.py").read_text() == ORIGINAL


def test_rejecting_every_hunk_writes_nothing(repo: Path) -> None:
    result = edit("n\nn\nn\n")
    assert (repo / "m.py").read_text() == ORIGINAL, result.output
