"""A failed edit goes back to the model with one key (ctrl+r), the reason written for it, through the normal turn."""

from __future__ import annotations

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from tui_fakes import Script, ScriptedEngine, two_file_repo
from tui_pilot import notes, run, submit, until

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.screens.resend import failures_message

SETTINGS = SamplerSettings(max_tokens=256, sub_block_size=32)
STALE = """Done.

a.py
```python
<<<<<<< SEARCH
x = 99
=======
x = 100
>>>>>>> REPLACE
```
"""


def test_the_message_lists_each_failure():
    text = failures_message(["a.py: edit 1 not_found: no match", "b.py: edit 2 ambiguous: two matches"])
    assert "- a.py: edit 1 not_found: no match\n- b.py: edit 2 ambiguous: two matches\n" in text
    assert "SEARCH" in text and "$" not in text


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


def test_ctrl_r_sends_the_failed_edit_and_its_reason_back(repo):
    from dgcode.tui.app import DgcodeApp

    engine = ScriptedEngine(Script(STALE), Script("Sorry, here it is again."), delay=0.002)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("ctrl+r")
            assert engine.prompts == [], "nothing failed yet: nothing is sent"
            await submit(pilot, "/add a.py")
            await submit(pilot, "set x to 100")
            await until(pilot, lambda: any("ctrl+r sends" in t for t in notes(app, "warning")),
                        what="the failure and the key offered")
            [failure] = [t for t in notes(app, "error") if "cannot apply" in t]
            assert failure.startswith("a.py: cannot apply: edit 1")
            reason = failure.split("cannot apply: ", 1)[1]
            assert app.main.failed_edits == (f"a.py: {reason}",)
            await pilot.press("ctrl+r")
            await until(pilot, lambda: len(engine.prompts) == 2 and not app.main.answering, what="the follow-up")
            sent = engine.prompts[1][-1]["content"]
            assert f"- a.py: {reason}" in sent and "could not be applied" in sent
            assert app.main.failed_edits == ()
            assert (repo / "a.py").read_text() == "x = 1\n"

    run(scenario)
