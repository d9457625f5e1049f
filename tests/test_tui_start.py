"""Starting and leaving the TUI as people expect: `dgcode [PATHS] [--model X] [--continue]`, /quit, Ctrl+C twice,
the command palette listing dgcode's commands, /add with globs and folders, and /diff in colour."""

from __future__ import annotations

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from repo_helpers import git
from textual.command import CommandList, CommandPalette
from tui_fakes import Script, ScriptedEngine, two_file_repo
from tui_pilot import notes, run, submit, until
from typer.testing import CliRunner

from dgcode.cli import main as cli_main
from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui import app as tui_app
from dgcode.tui.app import AGAIN_TO_QUIT, DgcodeApp
from dgcode.tui.widgets.transcript import Note

SETTINGS = SamplerSettings(max_tokens=64, sub_block_size=8, canvas_size=32)
runner = CliRunner()


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


# --- the command line -------------------------------------------------------------------------------


class RecordedApp:
    """Stands in for DgcodeApp: records how the command line built it; runs without a terminal."""

    made: list = []

    def __init__(self, root, config, **options):
        RecordedApp.made.append((root, config, options))
        self.return_code = 0

    def run(self):
        pass


@pytest.fixture
def launched(monkeypatch, repo):
    RecordedApp.made = []
    monkeypatch.chdir(repo)
    monkeypatch.setattr(cli_main, "_has_terminal", lambda: True)
    monkeypatch.setattr(tui_app, "DgcodeApp", RecordedApp)
    return RecordedApp.made


def test_paths_and_model_reach_the_app(launched, repo):
    result = runner.invoke(cli_main.app, ["--model", "my-model.gguf", "a.py", "notes.txt:2-3", "--continue"])
    assert result.exit_code == 0, result.output
    [(root, config, options)] = launched
    assert root == repo and str(config["model"]).endswith("my-model.gguf")
    assert options == {"paths": ["a.py", "notes.txt:2-3"], "resume": True}


def test_no_arguments_opens_the_app_with_nothing_added(launched):
    result = runner.invoke(cli_main.app, [])
    assert result.exit_code == 0, result.output
    assert launched[0][2] == {"paths": [], "resume": False}


def test_a_subcommand_is_still_a_subcommand(launched, repo):
    (repo / "fix").write_text("a file named like the command\n")
    result = runner.invoke(cli_main.app, ["fix", "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output and "fix" in result.output
    assert launched == [], "the app did not open"
    result = runner.invoke(cli_main.app, ["--", "fix"])
    assert result.exit_code == 0 and launched[-1][2]["paths"] == ["fix"], "after --, a word is a path"


def test_a_missing_path_is_a_clear_usage_error(launched):
    result = runner.invoke(cli_main.app, ["nope.py"])
    assert result.exit_code == 2 and "nope.py: no such file or folder" in result.output
    assert launched == []


def test_help_lists_the_commands_and_the_paths(launched):
    result = runner.invoke(cli_main.app, ["--help"])
    assert result.exit_code == 0
    for word in ("[PATHS]...", "--model", "--continue", "fix", "models"):
        assert word in result.output


# --- leaving ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/quit", "/exit"])
def test_quit_leaves_the_app(repo, command):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, command)
            await until(pilot, lambda: not app.is_running, what=command)

    run(scenario)


def test_ctrl_c_once_warns_and_cancels_twice_quits(repo):
    engine = ScriptedEngine(Script("word " * 60, per_step=1, hold_at=3), delay=0.002)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SamplerSettings(max_tokens=128, sub_block_size=32))
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "go")
            await until(pilot, engine.holding.is_set, what="step 3")
            await pilot.press("ctrl+c")
            engine.release()
            await until(pilot, lambda: not app.main.answering, what="the cancelled answer")
            assert engine.cancel_calls == 1, "the first ctrl+c cancels the answer, as escape does"
            assert app.is_running and any(AGAIN_TO_QUIT in str(n.message) for n in app._notifications)
            app._interrupted_at -= 10  # long ago: the next press warns again
            await pilot.press("ctrl+c")
            await pilot.pause(0.1)
            assert app.is_running, "one press (after a while) does not quit"
            await pilot.press("ctrl+c")
            await until(pilot, lambda: not app.is_running, what="the second ctrl+c")

    run(scenario)


# --- the command palette ----------------------------------------------------------------------------


def test_the_palette_lists_dgcode_commands_and_runs_them(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            titles = [command.title for command in app.get_system_commands(app.main)]
            assert "/add PATH[:RANGE] | GLOB | FOLDER ..." in titles and "/history [N | ID]" in titles
            assert "Quit" in " ".join(titles), "Textual's own commands stay"
            await pilot.press("ctrl+p")
            await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
            await pilot.press(*"/add")
            results = app.screen.query_one(CommandList)
            await until(pilot, lambda: any("/add" in str(results.get_option_at_index(i).prompt)
                                           for i in range(results.option_count)), what="/add in the palette")
            await pilot.press("enter")
            await until(pilot, lambda: app.screen is app.main, what="the palette closed")
            assert app.main.prompt.input.text == "/add ", "a command that needs an argument waits for it"
            await pilot.press("ctrl+p")
            await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette again")
            await pilot.press(*"/ls")
            results = app.screen.query_one(CommandList)
            await until(pilot, lambda: results.option_count > 0
                        and "/ls" in str(results.get_option_at_index(0).prompt), what="/ls first")
            await pilot.press("enter")
            await until(pilot, lambda: any("no files in the context" in t for t in notes(app)), what="/ls ran")

    run(scenario)


# --- /add with globs and folders ----------------------------------------------------------------------


@pytest.fixture
def tree(repo):
    (repo / "src" / "sub").mkdir(parents=True)
    (repo / "src" / "one.py").write_text("a = 1\n")
    (repo / "src" / "two.py").write_text("b = 2\n")
    (repo / "src" / "sub" / "three.py").write_text("c = 3\n")
    (repo / "src" / "blob.dat").write_bytes(b"\0\1\2binary")
    (repo / "src" / "big.txt").write_text("x" * 300_000)
    (repo / "build").mkdir()
    (repo / "build" / "out.py").write_text("generated = 1\n")
    (repo / ".gitignore").write_text("build/\n")
    (repo / ".dgcodeignore").write_text("src/sub/secret.py\n")
    (repo / "src" / "sub" / "secret.py").write_text("KEY = 'x'\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "tree")
    return repo


def test_add_a_glob_adds_the_matching_files(tree):
    async def scenario():
        app = DgcodeApp(tree, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/add src/*.py")
            assert app.main.session.labels == ["src/one.py", "src/two.py"]
            assert "added 2 file(s)" in notes(app, "ok")[-1]
            await submit(pilot, "/add **/*.py")
            assert sorted(app.main.session.labels) == ["a.py", "b.py", "src/one.py", "src/sub/three.py",
                                                       "src/two.py"], "never ignored or .dgcodeignore'd files"
            await submit(pilot, "/add *.nothing")
            assert "no file the model may see matches" in notes(app, "warning")[-1]

    run(scenario)


def test_add_a_folder_adds_its_text_files_and_says_what_it_left_out(tree):
    async def scenario():
        app = DgcodeApp(tree, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/add src")
            assert sorted(app.main.session.labels) == ["src/one.py", "src/sub/three.py", "src/two.py"]
            left = notes(app, "warning")[-1]
            assert "src/blob.dat" in left and "binary" in left
            assert "src/big.txt" in left and "limit" in left
            assert "secret" not in " ".join(notes(app)), ".dgcodeignore'd files are not even named"
            await submit(pilot, "/add build")
            assert "no file the model may see matches" in notes(app, "warning")[-1]

    run(scenario)


def test_add_stops_before_the_prompt_passes_the_models_context(tree):
    for index in range(30):
        (tree / "src" / f"gen{index:02}.py").write_text(f"value_{index} = {'1' * 400}\n")

    async def scenario():
        app = DgcodeApp(tree, {"n_ctx": 2048}, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/add src/gen*.py")
            added = len(app.main.session.labels)
            assert 0 < added < 30
            assert "would not fit the model's context" in notes(app, "warning")[-1]

    run(scenario)


def test_paths_given_at_start_are_in_the_context(tree):
    async def scenario():
        app = DgcodeApp(tree, engine=ScriptedEngine(), settings=SETTINGS, paths=["a.py", "src/*.py"])
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert app.main.session.labels == ["a.py", "src/one.py", "src/two.py"]
            assert app.main.panel.files == ("a.py", "src/one.py", "src/two.py")

    run(scenario)


# --- /diff ------------------------------------------------------------------------------------------


def test_diff_colours_added_and_removed_lines(repo):
    (repo / "a.py").write_text("x = 10\n")

    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/diff")
            note = app.main.transcript.query(Note).last()
            text = note.render()
            styles = {text.plain[span.start:span.end].rstrip("\n"): str(span.style) for span in text.spans}
            assert "green" in styles["+x = 10"] and "red" in styles["-x = 1"]
            assert "bold" in styles["+++ b/a.py"] and "bold" in styles["--- a/a.py"]
            assert any(line.startswith("@@") and "cyan" in style for line, style in styles.items())

    run(scenario)


def test_the_endpoint_flags_reach_the_apps_settings(launched, repo, monkeypatch):
    monkeypatch.setenv("TEAM_KEY", "k")
    result = runner.invoke(cli_main.app, ["--endpoint", "http://gpu-box:8000/v1", "--api-key-env", "TEAM_KEY",
                                          "--remote-model", "llada", "a.py"])
    assert result.exit_code == 0, result.output
    [(_, config, options)] = launched
    assert (config["endpoint"], config["endpoint_api_key_env"], config["remote_model"]) == (
        "http://gpu-box:8000/v1", "TEAM_KEY", "llada")
    assert options["paths"] == ["a.py"]
