"""/edit in the TUI: a range rewritten in place, drawn as a file view, reviewed hunk by hunk, applied or refused.

The scripted tests put a ScriptedEngine (with the chat template the range
pipeline needs to count its prompt) behind the seam; the last test runs the
real engine process on the tiny random-weight dream GGUF, whose answer is
noise, and checks that the bytes outside the range come through unchanged.
"""

from __future__ import annotations

import pytest
from git_shim import git_shim, real_git  # noqa: F401  (git_shim: autouse fixture)
from repo_helpers import git
from tui_fakes import Script, ScriptedEngine, render_chat
from tui_pilot import notes, run, submit, until  # noqa: E402

from dgcode.edits.hunks import byte_lines
from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.app import DgcodeApp
from dgcode.tui.engine import engine_at
from dgcode.tui.screens.review import ReviewScreen

SETTINGS = SamplerSettings(max_tokens=64, sub_block_size=8, canvas_size=32)
CALC = ("import os\n"
        "\n"
        "def add(a, b):\n"
        "    return a + b\n"
        "\n"
        "def mul(a, b):\n"
        "    x = a\n"
        "    y = b\n"
        "    c = 0\n"
        "    d = 1\n"
        "    e = 2\n"
        "    f = 3\n"
        "    g = 4\n"
        "    h = 5\n"
        "    w = 1\n"
        "    return x * y\n"
        "\n"
        "TOTAL = add(1, 2)\n")


class RangeEngine(ScriptedEngine):
    """A scripted engine that renders its chat the way it prompts (what /edit counts the prompt with)."""

    def render_chat(self, messages) -> str:
        return render_chat(messages)

    def context_size(self) -> int:
        return self.n_ctx


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "calc.py").write_text(CALC)
    (root / "notes.txt").write_text("keep\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root


async def wait_review(pilot) -> ReviewScreen:
    errors = len(notes(pilot.app, "error"))
    await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen) or len(notes(pilot.app, "error")) > errors,
                timeout=60, what="the review of the rewrite")
    assert notes(pilot.app, "error")[errors:] == []
    return pilot.app.screen


def test_a_range_is_drawn_in_a_file_view_reviewed_applied_and_undone(repo):
    engine = RangeEngine(Script("def add(a, b):\n    return a - b\n", per_step=2, hold_at=2), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 40)) as pilot:
            await submit(pilot, "/edit calc.py:3-4 make add subtract")
            canvas = app.main.canvas
            await until(pilot, lambda: engine.holding.is_set() and canvas.event is not None and not canvas._dirty,
                        what="a step of the slot drawn")
            assert canvas.frame is not None and canvas.frame.before == ("import os", "")
            assert canvas.frame.first == 1 and canvas.frame.after_first == 5
            assert canvas.frame.after == ("", "def mul(a, b):", "    x = a")
            drawn = [line.plain for line in canvas._lines(90)[0]]
            assert drawn[:2] == ["   1 import os", "   2 "], "the file's lines before the range, numbered"
            assert drawn[-3:] == ["   5 ", "   6 def mul(a, b):", "   7     x = a"]
            assert all(line.startswith("   ▌ ") for line in drawn[2:-3]), "the slot behind its gutter"
            assert "calc.py lines 3-4" in str(canvas.border_subtitle)
            engine.release()
            review = await wait_review(pilot)
            assert [f.path for f in review.files] == ["calc.py"]
            stats = app.main.status_line.stats
            assert stats.done and stats.steps == engine.steps_run[0] and stats.first_canvas_s is not None
            assert engine.raw_prompts[0] == render_chat(engine.prompts[0]) + "import os\n\n"
            assert engine.suffixes[0] == CALC.split("    return a + b\n", 1)[1]
            assert "make add subtract" in engine.prompts[0][-1]["content"]
            assert (repo / "calc.py").read_text() == CALC, "nothing is written before the review"
            await pilot.press("enter")
            await until(pilot, lambda: any("applied: calc.py" in t for t in notes(app, "ok")), what="the apply")
            assert (repo / "calc.py").read_text() == CALC.replace("a + b", "a - b")
            assert (repo / "notes.txt").read_text() == "keep\n"
            await submit(pilot, "/undo")
            await until(pilot, lambda: (repo / "calc.py").read_text() == CALC, what="the file restored")
            assert real_git(repo, "status", "--porcelain") == ""

    run(scenario)


def test_a_rejected_hunk_is_not_written_and_the_rest_is_exactly_as_accepted(repo):
    rewritten = ("    x = a + 0\n    y = b\n    c = 0\n    d = 1\n    e = 2\n    f = 3\n    g = 4\n    h = 5\n"
                 "    w = 2\n")  # lines 7-15: two hunks, 7 and 15
    engine = RangeEngine(Script(rewritten), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 40)) as pilot:
            await submit(pilot, "/edit calc.py:7-15 tweak the locals")
            review = await wait_review(pilot)
            assert len(review.hunks["calc.py"]) == 2
            await pilot.press("n", "enter")  # reject the first hunk, keep the second
            await until(pilot, lambda: any("applied: calc.py" in t for t in notes(app, "ok")), what="the apply")
            assert (repo / "calc.py").read_text() == CALC.replace("w = 1", "w = 2")
            assert any("only the accepted hunks" in t for t in notes(app, "warning"))

    run(scenario)


def test_the_selection_in_the_context_is_the_target_when_none_is_named(repo):
    engine = RangeEngine(Script("TOTAL = add(2, 3)\n"), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 40)) as pilot:
            await submit(pilot, "/add calc.py:18")
            await submit(pilot, "/edit use other numbers")
            await wait_review(pilot)
            assert "calc.py line 18" in " ".join(notes(app))
            await pilot.press("enter")
            await until(pilot, lambda: any("applied: calc.py" in t for t in notes(app, "ok")), what="the apply")
            assert (repo / "calc.py").read_text() == CALC.replace("add(1, 2)", "add(2, 3)")

    run(scenario)


def test_bad_targets_and_missing_instructions_are_explained_and_start_nothing(repo):
    engine = RangeEngine(delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 40)) as pilot:
            for line, expected in (("/edit nosuch.py:1-2 do it", "nosuch.py"),
                                   ("/edit calc.py:20-30 do it", "the file has 18 line(s)"),
                                   ("/edit calc.py::nothing do it", "nothing"),
                                   ("/edit calc.py:3-4", "say what to do with calc.py:3-4"),
                                   ("/edit make it faster", "name the lines to rewrite"),
                                   ("/edit", "usage: /edit")):
                before = len(notes(app, "error"))
                await submit(pilot, line)
                await until(pilot, lambda n=before: len(notes(app, "error")) > n, what=f"the error for {line}")
                assert expected in notes(app, "error")[-1], notes(app, "error")[-1]
            await submit(pilot, "/add calc.py:3-4")
            await submit(pilot, "/add calc.py:6-7")
            await submit(pilot, "/edit rename")
            await until(pilot, lambda: "2 line ranges" in notes(app, "error")[-1], what="the ambiguous selection")
            assert engine.prompts == [] and not app.main.answering
            assert (repo / "calc.py").read_text() == CALC

    run(scenario)


def test_escape_cancels_the_rewrite_and_a_file_changed_before_the_apply_is_refused(repo):
    engine = RangeEngine(Script("def add(a, b):\n    return 0\n", per_step=1, hold_at=1),
                         Script("def add(a, b):\n    return 1\n"), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 40)) as pilot:
            await submit(pilot, "/edit calc.py::add return a constant")
            await until(pilot, lambda: engine.holding.is_set(), what="the first step")
            await pilot.press("escape")
            engine.release()
            await until(pilot, lambda: not app.main.answering, what="the cancelled rewrite")
            assert any("cancelled" in t and "nothing was written" in t for t in notes(app, "warning"))
            assert not isinstance(app.screen, ReviewScreen) and (repo / "calc.py").read_text() == CALC

            await submit(pilot, "/edit calc.py::add return a constant")
            await wait_review(pilot)
            (repo / "calc.py").write_text(CALC + "# edited meanwhile\n")
            await pilot.press("enter")
            await until(pilot, lambda: notes(app, "error"), what="the refusal")
            assert "changed" in " ".join(notes(app, "error"))
            assert (repo / "calc.py").read_text() == CALC + "# edited meanwhile\n"

    run(scenario)


def test_edit_needs_a_model_that_can_count_its_prompt(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(delay=0.001), settings=SETTINGS)
        async with app.run_test(size=(100, 40)) as pilot:
            await submit(pilot, "/edit calc.py:3-4 do it")
            await until(pilot, lambda: notes(app, "error"), what="the refusal")
            assert "local model" in notes(app, "error")[-1]

    run(scenario)


def test_a_real_model_rewrites_only_the_range_and_undo_restores_it(repo, models):
    settings = SamplerSettings(max_tokens=64, sub_block_size=8, canvas_size=32, threshold=0.0)
    before = (repo / "calc.py").read_bytes()

    async def scenario():
        engine = engine_at(models["dream"], {"threads": 1, "n_ctx": 2048})
        app = DgcodeApp(repo, engine=engine, settings=settings)
        async with app.run_test(size=(100, 40)) as pilot:
            await submit(pilot, "/edit calc.py:6-11 make mul faster")
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen) or not app.main.answering
                        and any("slot of" in t for t in notes(app)), timeout=120, what="the rewrite")
            assert isinstance(app.screen, ReviewScreen), notes(app)  # seeded noise: it always changes the lines
            await pilot.press("enter")
            await until(pilot, lambda: any("applied: calc.py" in t for t in notes(app, "ok")) or notes(app, "error"),
                        timeout=30, what="the apply")
            assert notes(app, "error") == []
            after = (repo / "calc.py").read_bytes()
            old_lines, new_lines = byte_lines(before), byte_lines(after)
            tail = len(old_lines) - 11
            assert new_lines[:5] == old_lines[:5], "every line before the range as it was"
            assert new_lines[len(new_lines) - tail:] == old_lines[11:], "every line after it as it was"
            assert after.startswith(b"".join(old_lines[:5])) and after.endswith(b"".join(old_lines[11:]))
            await submit(pilot, "/undo")
            await until(pilot, lambda: (repo / "calc.py").read_bytes() == before, timeout=30, what="the undo")

    run(scenario, timeout=180)
