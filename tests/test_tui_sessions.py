"""Saved sessions in the TUI: a turn is saved, --continue shows it again, /history lists and switches, /clear starts
a new one, and a corrupt latest file is one note and a fresh session."""

from __future__ import annotations

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from tui_fakes import Script, ScriptedEngine, two_file_repo
from tui_pilot import notes, run, submit, until

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.app import DgcodeApp
from dgcode.tui.widgets.transcript import AnswerView, UserMessage
from dgcode.workflows.chat.session_store import SessionStore

SETTINGS = SamplerSettings(max_tokens=64, sub_block_size=8, canvas_size=32)


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


async def _turn(pilot, app, text):
    answered = len(app.main.transcript.query(AnswerView))
    await submit(pilot, text)
    await until(pilot, lambda: not app.main.answering and len(app.main.transcript.query(AnswerView)) > answered,
                what=f"the answer to {text!r}")


def _users(app):
    return [m.text for m in app.main.transcript.query(UserMessage)]


def test_a_turn_is_saved_and_continue_restores_transcript_history_and_context(repo):
    first = ScriptedEngine(Script("Set x to 10."))
    second = ScriptedEngine(Script("Done again."))

    async def scenario():
        app = DgcodeApp(repo, engine=first, settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/add a.py notes.txt:2-3")
            await _turn(pilot, app, "make x bigger")
            await submit(pilot, "/quit")
            await until(pilot, lambda: not app.is_running, what="/quit")
        saved = SessionStore(repo).latest()
        assert saved.turns == 1 and saved.context == ["a.py", "notes.txt:2-3"]
        assert all("dgcode in" not in e.text for e in saved.entries), "the welcome note is not saved"

        app = DgcodeApp(repo, engine=second, settings=SETTINGS, resume=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert _users(app) == ["make x bigger"]
            assert [v.final_text for v in app.main.transcript.query(AnswerView)] == ["Set x to 10."]
            assert any("added a.py" in t for t in notes(app, "ok")), "notes are shown again"
            assert any("resumed the session" in t for t in notes(app, "ok"))
            assert app.main.session.labels == ["a.py", "notes.txt:2-3"]
            assert app.main.panel.files == ("a.py", "notes.txt:2-3")
            assert [m["content"] for m in app.main.session.history] == ["make x bigger", "Set x to 10."]
            await _turn(pilot, app, "and y")
            sent = [m["content"] for m in second.prompts[0]]
            assert "make x bigger" in sent and "Set x to 10." in sent, "the model sees the earlier turn"
        again = SessionStore(repo).latest()
        assert again.id == saved.id and again.turns == 2, "the resumed session goes on in the same file"

    run(scenario)


def test_a_file_gone_since_is_noted_and_left_out(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(Script("ok")), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/add a.py b.py")
            await _turn(pilot, app, "look")
        (repo / "b.py").unlink()
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS, resume=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert app.main.session.labels == ["a.py"]
            assert any("b.py left out" in t and "no such file" in t for t in notes(app, "warning"))

    run(scenario)


def test_history_lists_and_switches_and_clear_starts_a_new_session(repo):
    engine = ScriptedEngine(Script("one"), Script("two"))

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await _turn(pilot, app, "first request")
            first_id = app.main.saved.id
            await submit(pilot, "/clear")
            assert _users(app) == [] and app.main.session.history == []
            assert app.main.saved.id != first_id
            await _turn(pilot, app, "second request")
            await submit(pilot, "/history")
            listing = app.main.transcript.texts()[-1]
            lines = listing.splitlines()
            assert "second request" in lines[0] and "← this one" in lines[0] and "(1 turns)" in lines[0]
            assert "first request" in lines[1]
            await submit(pilot, "/history 2")
            await pilot.pause()
            assert _users(app) == ["first request"] and app.main.saved.id == first_id
            assert [m["content"] for m in app.main.session.history] == ["first request", "one"]
            await submit(pilot, f"/history {app.main.saved.id}")
            assert "shown now" in notes(app)[-1]
            await submit(pilot, "/history 9")
            assert "no such session" in notes(app, "error")[-1]
        assert len(SessionStore(repo).sessions()[0]) == 2, "the old session stays saved"

    run(scenario)


def test_a_corrupt_latest_file_is_one_note_and_a_fresh_session(repo):
    store = SessionStore(repo)
    saved = store.new()
    store.save(saved)
    path = store.path_of(saved.id)
    path.write_text("{ not json")

    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(Script("fresh")), settings=SETTINGS, resume=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            warning = [t for t in notes(app, "warning") if "not valid JSON" in t]
            assert len(warning) == 1 and "set aside" in warning[0] and "\n" not in warning[0]
            assert _users(app) == []
            await _turn(pilot, app, "still works")
            assert app.main.saved.id != saved.id

    run(scenario)
    assert not path.exists() and list(path.parent.glob(f"{path.name}.corrupt-*"))


def test_continue_with_nothing_saved_starts_fresh(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS, resume=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert any("no saved session" in t for t in notes(app, "warning"))

    run(scenario)


def test_files_and_run_output_are_saved_before_any_request_and_come_back(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/add a.py")
            await submit(pilot, "/run echo checked-output")
            await until(pilot, lambda: app.main.session.attachments, what="the /run output attached")
            await submit(pilot, "/quit")
            await until(pilot, lambda: not app.is_running, what="/quit")
        saved = SessionStore(repo).latest()
        assert saved is not None and saved.turns == 0, "a session with files is saved without a request"
        assert saved.context == ["a.py"]
        assert [a["label"] for a in saved.attachments] == ["/run echo checked-output (ok)"]
        assert "checked-output" in saved.attachments[0]["text"]

        engine = ScriptedEngine(Script("Seen."))
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS, resume=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert app.main.session.labels == ["a.py"]
            assert [a.label for a in app.main.session.attachments] == ["/run echo checked-output (ok)"]
            assert app.main.panel.attachments == ("/run echo checked-output (ok)",)
            await _turn(pilot, app, "what did it print?")
            assert "checked-output" in engine.prompts[0][-1]["content"], "the output goes with the next message"

    run(scenario)
