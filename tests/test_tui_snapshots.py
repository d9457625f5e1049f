"""SVG snapshots (tests/tui_snapshots/): the main screen at 80x24, the canvas mid-denoising, the review screen,
the light theme with the @ file picker open.

Stored with syrupy through pytest-textual-snapshot's SVG extension; update
them with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and look
at the SVGs before committing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from tui_fakes import ScriptedEngine, scripted_events, two_file_repo
from tui_pilot import submit  # noqa: E402

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.app import DgcodeApp
from dgcode.tui.screens.review import ReviewScreen
from dgcode.workflows.chat.proposal import propose

pytest_textual_snapshot = pytest.importorskip("pytest_textual_snapshot")

SETTINGS = SamplerSettings(max_tokens=256, sub_block_size=32, canvas_size=128)
ANSWER = ("Here is the change:\n\na.py\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 10\n>>>>>>> REPLACE\n```\n\n"
          "It sets `x` to ten, which the tests expect. ") * 3


class TuiSnapshots(pytest_textual_snapshot.SVGImageExtension):
    """SVG snapshots kept in tests/tui_snapshots/ (not syrupy's default __snapshots__/)."""

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(Path(test_location.filepath).parent / "tui_snapshots")


@pytest.fixture
def svg_snapshot(snapshot):
    return snapshot.use_extension(TuiSnapshots)


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo", commit=False)


def screenshot(app: DgcodeApp, setup, size=(80, 24)) -> str:
    async def scenario():
        async with app.run_test(size=size) as pilot:
            app.main.prompt.input.cursor_blink = False
            await setup(pilot)
            await pilot.pause()
            return app.export_screenshot()

    return asyncio.run(asyncio.wait_for(scenario(), 30))


def test_main_screen_80x24(repo, svg_snapshot):
    async def setup(pilot):
        await submit(pilot, "/add a.py notes.txt:2-3")
        pilot.app.main.prompt.set_text("/d")

    assert svg_snapshot == screenshot(DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS), setup)


def test_canvas_mid_denoising(repo, svg_snapshot):
    events = scripted_events(ANSWER, SETTINGS, per_step=2, step_s=0.05)
    event = next(e for e in events if e.canvas_index == 1 and sum(e.masked) < 100)

    async def setup(pilot):
        main = pilot.app.main
        await submit(pilot, "/add a.py")
        main.transcript.add_user("make x ten")
        await main.transcript.start_answer("".join(events[[e.canvas_index for e in events].index(1) - 1].texts))
        main.answering = True
        main.canvas.begin(SETTINGS.canvas_size)
        main.canvas.show(event)
        main.canvas._flush()

    assert svg_snapshot == screenshot(DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS), setup)


def test_review_screen(repo, svg_snapshot):
    text = ("a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 10\nLIMIT = 3\n>>>>>>> REPLACE\n\n"
            "b.py\n<<<<<<< SEARCH\ny = 2\n=======\ny = 20\n>>>>>>> REPLACE\n")
    proposal = propose(repo, text)

    async def setup(pilot):
        await pilot.app.push_screen(ReviewScreen(proposal))
        await pilot.press("down", "r", "up")

    assert svg_snapshot == screenshot(DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS), setup)


def test_light_theme_with_the_file_picker(repo, svg_snapshot):
    async def setup(pilot):
        await pilot.press("f3")
        await pilot.press(*"look at @py")

    assert svg_snapshot == screenshot(DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS), setup)
