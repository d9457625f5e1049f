"""The TUI's textual-free parts: import isolation, commands and completion, session, proposals, canvas layout."""

from __future__ import annotations

import subprocess
import sys

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from repo_helpers import git
from tui_fakes import TWO_FILE_EDITS

from dgcode.context.errors import ContextError
from dgcode.edits.parser import parse_response
from dgcode.engine.sampler import StepEvent
from dgcode.workflows.chat.commands import complete, parse_command
from dgcode.workflows.chat.proposal import propose, response_for
from dgcode.workflows.chat.session import Attachment, Session, run_output_text
from dgcode.workflows.fix.report import CommandResult

CORE = ("dgcode.engine", "dgcode.engine.worker", "dgcode.engine.engine", "dgcode.engine.sampler", "dgcode.edits",
        "dgcode.edits.apply", "dgcode.context", "dgcode.context.sources", "dgcode.context.prompt",
        "dgcode.context.repomap", "dgcode.vcs", "dgcode.vcs.snapshot", "dgcode.workflows.fix.pipeline",
        "dgcode.workflows.fix.engine", "dgcode.render.canvas_view", "dgcode.tui", "dgcode.tui.engine",
        "dgcode.workflows.chat.session", "dgcode.workflows.chat.proposal", "dgcode.workflows.chat.commands",
        "dgcode.workflows.chat.remask", "dgcode.workflows.chat.mentions")


def test_the_core_never_loads_textual():
    """The engine child process unpickles dgcode.tui.engine helpers: that must not pull in the UI either."""
    code = (f"import importlib, sys\nfor name in {CORE!r}: importlib.import_module(name)\n"
            "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            "print(len(loaded)); print(loaded[:5])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[0] == "0", done.stdout


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q")
    (root / "a.py").write_text("x = 1\n")
    (root / "b.py").write_text("y = 2\n")
    (root / "src" / "app.py").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    return root


def test_parse_command():
    assert parse_command("/add  a.py b.py ").arg == "a.py b.py"
    assert parse_command("/ADD x").name == "add"
    assert parse_command("hello") is None and parse_command("//not a command") is None


def test_complete_names_paths_and_context(repo):
    assert [c.value for c in complete("/d", repo)] == ["/drop ", "/diff"]
    assert [c.value for c in complete("/add ", repo)] == ["/add src/", "/add a.py", "/add b.py"]
    assert [c.value for c in complete("/add a.py s", repo)] == ["/add a.py src/"]
    assert [c.value for c in complete("/add src/a", repo)] == ["/add src/app.py"]
    assert complete("/add .g", repo) == [], ".git is never offered"
    assert [c.value for c in complete("/drop ", repo, ["a.py"])] == ["/drop a.py", "/drop run"]
    assert complete("/clear x", repo) == [] and complete("plain text", repo) == []


def test_session_add_drop_and_prepare(repo):
    session = Session(repo)
    entry, notes = session.add("src/app.py:2-4")
    assert entry.label == "src/app.py:2-4" and entry.lines == 3 and notes == []
    session.add("a.py")
    assert session.add("a.py")[0] is None, "already there"
    session.add("src/app.py")
    assert session.labels == ["a.py", "src/app.py"], "the whole file replaces its range"
    with pytest.raises(ContextError, match="no such file"):
        session.add("nope.py")
    with pytest.raises(ContextError, match="bad line range"):
        session.add("a.py:3-9")
    session.attach(Attachment("/run make", "I ran `make`; it failed."))
    turn = session.prepare("rename x", lambda text: len(text) // 4)
    body = "\n".join(m["content"] for m in turn.messages)
    assert "x = 1" in body and "line 10" in body and "I ran `make`" in body
    assert set(turn.snapshots) == {"a.py", "src/app.py"} and turn.prompt_tokens > 0
    session.remember("rename x", "done")
    assert session.attachments == [] and len(session.history) == 2
    assert session.drop("src/app.py") == ["src/app.py"] and session.drop() == ["a.py"]


def test_session_outside_a_repository(tmp_path):
    session = Session(tmp_path)
    with pytest.raises(ContextError, match="not inside a git repository"):
        session.add("a.py")
    turn = session.prepare("hello", len)
    assert turn.messages[-1]["content"].endswith("hello")


def test_run_output_text():
    text = run_output_text(CommandResult("pytest -q", 1, "1 failed\n", 0.5))
    assert "`pytest -q`" in text and "exit status 1" in text and "1 failed" in text


ANSWER = TWO_FILE_EDITS


def test_propose_groups_by_file_and_response_for_keeps_only_accepted_blocks(repo):
    proposal = propose(repo, ANSWER)
    assert [f.path for f in proposal.applicable] == ["a.py", "b.py"]
    assert proposal.files[0].counts() == (1, 1)
    kept = parse_response(response_for(proposal, {"b.py"}))
    assert kept.problems == () and [(e.path, e.search, e.replace) for e in kept.edits] == [("b.py", "y = 2\n",
                                                                                          "y = 20\n")]
    assert (repo / "a.py").read_text() == "x = 1\n", "a dry run writes nothing"


def test_a_file_with_a_failing_edit_cannot_be_accepted(repo):
    text = ("a.py\n<<<<<<< SEARCH\nnot there\n=======\nz\n>>>>>>> REPLACE\n\n"
            "b.py\n<<<<<<< SEARCH\ny = 2\n=======\ny = 3\n>>>>>>> REPLACE\n")
    proposal = propose(repo, text)
    assert [f.path for f in proposal.applicable] == ["b.py"]
    assert not proposal.files[0].applicable and "failed" in proposal.files[0].problems[0]
    assert response_for(proposal, {"a.py", "b.py"}).startswith("b.py\n")


def test_an_answer_without_edits_proposes_nothing(repo):
    assert propose(repo, "Just prose, no blocks.") is None


def _event(**changes) -> StepEvent:
    base = dict(step=4, canvas_index=1, active=(2, 4), tokens=[1, 2, 0, 0], texts=["ab", "\n", "", ""],
                confidence=[0.95, 0.5, 0.0, 0.0], masked=[False, False, True, True], committed=[1],
                answer_final=2, elapsed_s=2.0)
    base.update(changes)
    return StepEvent(**base)


def test_canvas_text_and_status_line():
    pytest.importorskip("textual")
    from dgcode.tui.widgets.canvas import canvas_text, fold_lines, status_line

    text, active_at = canvas_text(_event())
    assert text.plain == "ab\n··" and active_at == 3
    lines, active_line = fold_lines(text, active_at, 1)
    assert [line.plain for line in lines] == ["a", "b", "·", "·"] and active_line == 2
    # block 2 of 4-token canvases: 4 earlier + 2 now committed, over 4 steps in 2 s
    assert status_line(_event(), 4) == "step 4 · 1.5 tok/step · 3 tok/s"
