"""The TUI review hunk by hunk (pilot): the middle hunk of three rejected gives exactly the expected bytes; Escape asks."""

from __future__ import annotations

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from repo_helpers import git
from tui_fakes import Script, ScriptedEngine
from tui_pilot import notes, run, submit, until

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.app import DgcodeApp
from dgcode.tui.screens.review import DiscardScreen, ReviewScreen

SETTINGS = SamplerSettings(max_tokens=512, sub_block_size=32)
ORIGINAL = "".join(f"v{n} = {n}\r\n" for n in range(1, 31))
"""CRLF lines, so the test also shows line endings kept."""


def block(old: str, new: str) -> str:
    return f"a.py\n```python\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n```\n\n"


ANSWER = "Three changes.\n\n" + block("v2 = 2", "v2 = 20") + block("v15 = 15", "v15 = 150") + block("v28 = 28",
                                                                                                    "v28 = 280")


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.py").write_bytes(ORIGINAL.encode())
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    return root


async def open_review(pilot) -> ReviewScreen:
    await submit(pilot, "bump three")
    await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen), what="the review screen")
    return pilot.app.screen


def test_rejecting_the_middle_hunk_applies_exactly_the_others_and_undo_restores(repo):
    engine = ScriptedEngine(Script(ANSWER, per_step=12), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 40)) as pilot:
            review = await open_review(pilot)
            assert len(review.hunks["a.py"]) == 3 and len(review.chosen) == 3
            await pilot.press("j", "n")  # to the second hunk, reject it (the cursor moves on to the third)
            assert review.chosen == {("a.py", 0), ("a.py", 2)}
            assert review.hunk == 2
            assert "✗ rejected" in str(review.query_one("#diff-body").render())
            await pilot.press("enter")
            await until(pilot, lambda: any("applied: a.py" in t for t in notes(app, "ok")), what="the apply")
            expected = ORIGINAL.replace("v2 = 2\r\n", "v2 = 20\r\n").replace("v28 = 28\r\n", "v28 = 280\r\n")
            assert (repo / "a.py").read_bytes() == expected.encode()
            assert any("only the accepted hunks" in t for t in notes(app, "warning"))
            assert notes(app, "error") == []
            await submit(pilot, "/undo")
            await until(pilot, lambda: any("undid the last apply" in t for t in notes(app, "ok")), what="undo")
            assert (repo / "a.py").read_bytes() == ORIGINAL.encode()

    run(scenario)


def test_file_level_toggle_switches_every_hunk(repo):
    engine = ScriptedEngine(Script(ANSWER, per_step=12), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 40)) as pilot:
            review = await open_review(pilot)
            await pilot.press("r")
            assert review.chosen == frozenset() and review.accepted == frozenset()
            await pilot.press("space")
            assert len(review.chosen) == 3 and review.accepted == {"a.py"}
            await pilot.press("n")  # the first hunk rejected: the file is partly accepted
            assert review.accepted == {"a.py"} and len(review.chosen) == 2
            await pilot.press("a")
            assert len(review.chosen) == 3

    run(scenario)


def test_escape_asks_before_discarding(repo):
    engine = ScriptedEngine(Script(ANSWER, per_step=12), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 40)) as pilot:
            review = await open_review(pilot)
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DiscardScreen), what="the question")
            await pilot.press("n")  # keep reviewing
            await until(pilot, lambda: app.screen is review, what="back to the review")
            assert len(review.chosen) == 3
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, DiscardScreen), what="the question again")
            await pilot.press("y")
            await until(pilot, lambda: any("nothing was written" in t for t in notes(app, "warning")), what="discard")
            assert not isinstance(app.screen, (ReviewScreen, DiscardScreen))
            assert (repo / "a.py").read_bytes() == ORIGINAL.encode()

    run(scenario)
