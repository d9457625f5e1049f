"""The TUI driven through Textual's pilot with a scripted engine: the turn loop, cancel, crash, context, review."""

from __future__ import annotations

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from tui_fakes import TWO_FILE_EDITS, Script, ScriptedEngine, scripted_events, two_file_repo
from tui_pilot import notes, run, submit, until  # noqa: E402

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.app import DgcodeApp
from dgcode.tui.screens.review import ReviewScreen
from dgcode.tui.widgets.transcript import AnswerView

SETTINGS = SamplerSettings(max_tokens=128, sub_block_size=8, canvas_size=32)
EDITS = TWO_FILE_EDITS


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


def test_message_crystallizes_on_the_canvas_then_lands_in_the_transcript(repo):
    answer = "Use a constant:\n\n```python\nLIMIT = 10\n```\n\nThen compare `count < LIMIT` in the loop. " * 2
    engine = ScriptedEngine(Script(answer, per_step=2, hold_at=24), delay=0.005)
    seen = []

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            await submit(pilot, "add a limit")
            canvas = app.main.canvas
            await until(pilot, lambda: engine.holding.is_set() and canvas.event is not None
                        and canvas.event.step == 24 and not canvas._dirty, what="step 24 drawn")
            event = canvas.event
            seen.append((canvas.display, any(event.masked), not all(event.masked), str(canvas.border_title)))
            assert app.main.panel.exact, "the prompt was counted by the model's tokenizer"
            assert app.main.panel.context_size == 4096
            assert event.canvas_index == 1, "block 1 is final by step 24"
            view = app.main.transcript.query_one(AnswerView)
            assert view.final_text is None and view.blocks[0].startswith("Use a constant:")
            assert app.main.answering, "a finished block flows into the transcript while later ones denoise"
            engine.release()
            await until(pilot, lambda: not app.main.answering, what="the answer")
            await pilot.pause(0.05)
            view = app.main.transcript.query_one(AnswerView)
            assert view.final_text == answer
            assert "LIMIT = 10" in view.source
            assert not canvas.display
            assert canvas.redraws <= canvas.events_shown
            assert any("stopped: eos" in text for text in notes(app))
            assert engine.prompts[0][-1]["content"].endswith("add a limit")

    run(scenario)
    displayed, some_masked, some_committed, status = seen[0]
    assert displayed and some_masked and some_committed
    assert "step" in status and "tok/step" in status and "tok/s" in status


def test_escape_cancels_within_a_step(repo):
    engine = ScriptedEngine(Script("word " * 100, per_step=1, hold_at=5), delay=0.002)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SamplerSettings(max_tokens=256, sub_block_size=32))
        async with app.run_test(size=(80, 24)) as pilot:
            await submit(pilot, "go")
            await until(pilot, engine.holding.is_set, what="step 5")
            await pilot.press("escape")
            engine.release()
            await until(pilot, lambda: not app.main.answering, what="the cancelled answer")
            assert engine.cancel_calls == 1 and engine.saw_cancel
            assert engine.steps_run[0] <= 6 < engine.total_steps[0], "stopped within one step of the escape"
            assert any("cancelled after" in text for text in notes(app, "warning"))
            assert app.main.transcript.query_one(AnswerView).has_class("-cancelled")
            assert app.main.session.history == [], "a cancelled answer is not remembered"

    run(scenario)


def test_add_and_drop_change_the_context_panel(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            panel = app.main.panel
            before = panel.prompt_tokens
            await submit(pilot, "/add a.py notes.txt:2-3")
            assert panel.files == ("a.py", "notes.txt:2-3")
            assert panel.prompt_tokens > before and not panel.exact
            await submit(pilot, "/drop a.py")
            assert panel.files == ("notes.txt:2-3",)
            await submit(pilot, "/ls")
            assert "notes.txt:2-3  (2 lines" in notes(app)[-1]
            await submit(pilot, "/drop")
            assert panel.files == ()
            assert notes(app, "error") == []

    run(scenario)


def test_bad_add_shows_an_error_and_changes_nothing(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            await submit(pilot, "/add missing.py")
            await submit(pilot, "/add a.py:5-9")
            await submit(pilot, "/frobnicate")
            errors = notes(app, "error")
            assert "no such file" in errors[0]
            assert "bad line range" in errors[1]
            assert "unknown command /frobnicate" in errors[2]
            await submit(pilot, "/c")
            assert notes(app, "error")[3] == "/c could be /candidates, /copy, /clear: type more of it"
            assert app.main.panel.files == ()

    run(scenario)


def test_engine_crash_is_reported_and_the_next_turn_works(repo):
    engine = ScriptedEngine(Script("never finished " * 20, crash_after=4), Script("All good now."), delay=0.01)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            await submit(pilot, "first")
            await until(pilot, lambda: not app.main.answering, what="the crash")
            assert any("engine error" in t and "SIGABRT" in t for t in notes(app, "error"))
            assert not app.main.canvas.display
            await submit(pilot, "second")
            await until(pilot, lambda: not app.main.answering, what="the second answer")
            await pilot.pause(0.05)
            views = list(app.main.transcript.query(AnswerView))
            assert views[-1].final_text == "All good now."
            assert len(engine.prompts) == 2

    run(scenario)


def test_review_applies_only_the_accepted_file(repo):
    engine = ScriptedEngine(Script(EDITS, per_step=6), delay=0.002)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SamplerSettings(max_tokens=256, sub_block_size=32))
        async with app.run_test(size=(80, 24)) as pilot:
            await submit(pilot, "/add a.py b.py")
            await submit(pilot, "bump both")
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="the review screen")
            review = app.screen
            assert [f.path for f in review.files] == ["a.py", "b.py"]
            assert review.accepted == {"a.py", "b.py"}
            await pilot.press("down", "r")
            assert review.accepted == {"a.py"}
            await pilot.press("enter")
            await until(pilot, lambda: any("applied: a.py" in t for t in notes(app, "ok")), what="the apply")
            assert (repo / "a.py").read_text() == "x = 10\n"
            assert (repo / "b.py").read_text() == "y = 2\n"
            assert any("rejected: b.py" in t for t in notes(app, "warning"))
            assert notes(app, "error") == []
            await submit(pilot, "/diff")
            assert "+x = 10" in app.main.transcript.texts()[-1]
            await submit(pilot, "/undo")
            await until(pilot, lambda: any("undid the last apply" in t for t in notes(app, "ok")), what="undo")
            assert (repo / "a.py").read_text() == "x = 1\n"

    run(scenario)


def test_discarding_the_review_writes_nothing(repo):
    engine = ScriptedEngine(Script(EDITS, per_step=6), delay=0.002)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SamplerSettings(max_tokens=256, sub_block_size=32))
        async with app.run_test(size=(80, 24)) as pilot:
            await submit(pilot, "bump both")
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="the review screen")
            await pilot.press("escape", "y")  # escape asks before discarding
            await until(pilot, lambda: any("nothing was written" in t for t in notes(app, "warning")))
            assert (repo / "a.py").read_text() == "x = 1\n" and (repo / "b.py").read_text() == "y = 2\n"

    run(scenario)


def test_run_output_goes_with_the_next_message(repo):
    engine = ScriptedEngine(Script("Seen."), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            await submit(pilot, "/run echo hello-from-run; exit 3")
            await until(pilot, lambda: app.main.panel.attachments != (), what="the /run output")
            assert "failed" in app.main.panel.attachments[0]
            assert any("hello-from-run" in t for t in app.main.transcript.texts())
            await submit(pilot, "why")
            await until(pilot, lambda: not app.main.answering and engine.prompts, what="the answer")
            last = engine.prompts[0][-1]["content"]
            assert "hello-from-run" in last and "exit status 3" in last
            await until(pilot, lambda: app.main.panel.attachments == (), what="the output to be used up")

    run(scenario)


def test_completion_and_history_in_the_prompt(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(Script("ok")), settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            bar = app.main.prompt
            await pilot.press(*"/ad")
            assert [c.value for c in bar.completions.completions] == ["/add "]
            await pilot.press("tab", *"a.")
            assert [c.value for c in bar.completions.completions] == ["/add a.py"]
            await pilot.press("tab")
            assert bar.input.text == "/add a.py"
            await pilot.press("enter")
            assert app.main.panel.files == ("a.py",)
            await pilot.press(*"line one", "shift+enter", *"line two")
            assert bar.input.text == "line one\nline two"
            await pilot.press("ctrl+j", "x")
            assert bar.input.text.count("\n") == 2
            await pilot.press("enter")
            await until(pilot, lambda: not app.main.answering, what="the answer")
            await pilot.press("up")
            assert bar.input.text == "line one\nline two\nx"
            await pilot.press("up", "up", "up")  # up to the first line, then further back
            assert bar.input.text == "/add a.py"
            await pilot.press("down")
            assert bar.input.text == "line one\nline two\nx"

    run(scenario)


def test_no_model_configured_keeps_the_app_usable(repo):
    async def scenario():
        app = DgcodeApp(repo, {}, settings=SETTINGS)
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.engine is None
            await submit(pilot, "hello")
            assert any("no model is configured" in t for t in notes(app, "error"))
            await submit(pilot, "/add a.py")
            assert app.main.panel.files == ("a.py",)

    run(scenario)


def test_scripted_events_look_like_the_samplers():
    events = scripted_events("a b c " * 10, SETTINGS, per_step=2)  # 60 tokens and an end token
    assert events[0].step == 1 and events[-1].canvas_index == 1
    assert all(len(e.texts) == len(e.masked) == SETTINGS.canvas_size for e in events)
    assert all(not m for m in events[-1].masked[:events[-1].active[0]])
