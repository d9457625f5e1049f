"""/copy: the last answer, or its N-th code block, to the clipboard (OSC 52) and to clipboard.txt in the data
folder, and the note says where."""

from __future__ import annotations

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from tui_fakes import Script, ScriptedEngine, two_file_repo
from tui_pilot import notes, run, submit, until

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.screens.copying import code_blocks

SETTINGS = SamplerSettings(max_tokens=128, sub_block_size=16, canvas_size=64)
ANSWER = ("Two pieces:\n\n```python\nLIMIT = 10\n```\n\nand the loop:\n\n```python\nwhile n < LIMIT:\n"
          "    n += 1\n```\n\nDone.")


def test_code_blocks_finds_fenced_blocks_in_order():
    assert code_blocks(ANSWER) == ["LIMIT = 10\n", "while n < LIMIT:\n    n += 1\n"]
    assert code_blocks("````md\n```py\nx\n```\n````\n~~~\ny\n~~~") == ["```py\nx\n```\n", "y\n"]
    assert code_blocks("no code") == [] and code_blocks("```\nopen") == ["open\n"]


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


@pytest.fixture
def data(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("DGCODE_DATA_DIR", str(folder))
    return folder


def test_copy_puts_the_last_answer_and_its_blocks_on_the_clipboard_and_in_a_file(repo, data):
    from dgcode.tui.app import DgcodeApp

    engine = ScriptedEngine(Script(ANSWER), delay=0.002)
    copied: list[str] = []

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        app.copy_to_clipboard = copied.append
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/copy")
            assert copied == [] and any("no answer to copy" in t for t in notes(app, "warning"))
            await submit(pilot, "show me")
            await until(pilot, lambda: not app.main.answering and app.main.last_answer is not None,
                        what="the answer")
            await submit(pilot, "/copy")
            assert copied == [ANSWER]
            assert (data / "clipboard.txt").read_text() == ANSWER
            assert str(data / "clipboard.txt") in notes(app, "ok")[-1]
            await submit(pilot, "/copy 2")
            assert copied[-1] == "while n < LIMIT:\n    n += 1\n"
            assert (data / "clipboard.txt").read_text() == copied[-1]
            assert "code block 2" in notes(app, "ok")[-1]
            await submit(pilot, "/copy 3")
            assert len(copied) == 2 and "it has 2" in notes(app, "error")[-1]

    run(scenario)
