"""The light and dark themes (f3, /theme), and the new commands in /help and in completion."""

from __future__ import annotations

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from tui_fakes import ScriptedEngine, two_file_repo
from tui_pilot import notes, run, submit  # noqa: E402

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.app import DgcodeApp
from dgcode.workflows.chat.commands import complete, help_text, theme_label

SETTINGS = SamplerSettings(max_tokens=64, sub_block_size=8, canvas_size=32)


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


def test_theme_label():
    assert theme_label("textual-dark") == "dark" and theme_label("textual-light") == "light"
    assert theme_label("nord") == "nord"


def test_new_commands_complete_and_are_in_help(repo):
    assert [c.value for c in complete("/th", repo)] == ["/theme "]
    assert [c.value for c in complete("/theme l", repo)] == ["/theme light"]
    assert [c.value for c in complete("/theme ", repo)] == ["/theme light", "/theme dark"]
    assert [c.value for c in complete("/mo", repo)] == ["/model ", "/models"]
    assert [c.value for c in complete("/model a", repo)] == ["/model a.py"], "/model completes paths"
    assert [c.value for c in complete("/re", repo)] == ["/remask "]
    text = help_text()
    for usage in ("/remask [THRESHOLD]", "/model [PATH.gguf]", "/theme [light | dark]"):
        assert usage in text


def test_f3_and_theme_switch_between_light_and_dark_and_the_panel_shows_it(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            panel = app.main.panel
            assert app.theme == "textual-dark" and panel.theme == "dark"
            assert "Theme dark" in panel.render().plain
            await pilot.press("f3")
            assert app.theme == "textual-light" and panel.theme == "light" and notes(app)[-1] == "theme: light"
            assert app.current_theme.dark is False
            await submit(pilot, "/theme light")
            assert app.theme == "textual-light"
            await submit(pilot, "/theme dark")
            assert app.theme == "textual-dark" and panel.theme == "dark"
            await submit(pilot, "/theme")
            assert app.theme == "textual-light"
            await submit(pilot, "/theme blue")
            assert "/theme blue: choose dark or light" in notes(app, "error")[-1] and app.theme == "textual-light"
            app.theme = "nord"  # as the command palette would
            await pilot.pause()
            assert panel.theme == "nord"

    run(scenario)


def test_help_lists_the_new_commands_and_keys(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f1")
            shown = notes(app)[-1]
            assert "/remask" in shown and "/model" in shown and "/theme" in shown
            assert "f3 light/dark theme" in shown and "f4 re-mask" in shown and "@ offers files" in shown

    run(scenario)


def test_the_canvas_marks_the_active_sub_block_in_a_colour_each_theme_can_show(repo):
    from dgcode.engine.sampler import StepEvent

    event = StepEvent(step=1, canvas_index=0, active=(0, 2), tokens=[0, 0], texts=["", ""], confidence=[0.0, 0.0],
                      masked=[True, True], committed=[], answer_final=0, elapsed_s=0.1)
    styles = {}

    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            canvas = app.main.canvas
            canvas.show(event)
            for theme in ("dark", "light"):
                await submit(pilot, f"/theme {theme}")
                lines, _active_line = canvas._lines(40)
                styles[theme] = str(lines[0].spans[0].style)

    run(scenario)
    assert styles == {"dark": "bold bright_cyan", "light": "bold dark_cyan"}
