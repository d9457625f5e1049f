"""The TUI as a first run meets it: /model from no model, a /run that escape stops, the embedded model.

``/model PATH`` in an app that started with no model used to fail with
"bad value(s) in fds_to_keep": the first engine child was made under
Textual's stderr capture (fileno -1), which multiprocessing's resource
tracker passed on. That only shows in a process whose tracker has not started
yet, so those tests run the app in a fresh interpreter (pilot) or in tmux.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from repo_helpers import git
from tui_pilot import notes, run, submit, until

from dgcode.repair.embedded import embedded_model
from dgcode.tui.app import DgcodeApp

FRESH_PILOT = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from tui_pilot import notes, submit, until
    from dgcode.tui.app import DgcodeApp

    async def scenario():
        app = DgcodeApp(Path({repo!r}), {{}})
        async with app.run_test(size=(100, 30)) as pilot:
            assert app.engine is None
            await submit(pilot, "/model " + {model!r})
            await until(pilot, lambda: not app.main.switching and any("switch" in n and "…" not in n
                        or "cannot use" in n or "failed to load" in n for n in notes(app)), 60, "the switch")
            print("NOTES:", notes(app))
            assert app.engine is not None and app.engine.name == Path({model!r}).name, notes(app)
            assert not any("fds_to_keep" in n for n in notes(app))
        print("SWITCHED")

    asyncio.run(asyncio.wait_for(scenario(), 90))
""")


def _fresh_pilot(repo, model):
    script = FRESH_PILOT.format(tests=os.path.dirname(__file__), repo=str(repo), model=str(model))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGCODE_MODEL")}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env,
                          cwd=repo)


@pytest.mark.parametrize("which", ["test", "embedded"])
def test_model_command_loads_a_model_in_an_app_that_started_with_none(models, tmp_path, which):
    model = models["dream"] if which == "test" else embedded_model()
    if model is None:
        pytest.skip("this install has no embedded model")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    done = _fresh_pilot(repo, model)
    assert done.returncode == 0 and "SWITCHED" in done.stdout, done.stdout + done.stderr


def _child_pids(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return found.stdout.split()


@pytest.mark.skipif(shutil.which("pgrep") is None, reason="needs pgrep")
def test_escape_stops_a_running_run_command_and_kills_its_group(tmp_path):
    marker = f"sleep 3{os.getpid() % 10}.{time.monotonic_ns() % 1000:03d}"  # a command line only this test runs

    async def scenario():
        app = DgcodeApp(tmp_path, {})
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, f"/run {marker} & {marker}; echo never")
            await until(pilot, lambda: len(_child_pids(marker)) >= 2, 10, "the command and its background child")
            began = time.monotonic()
            await pilot.press("escape")
            await until(pilot, lambda: any("stopped after" in n for n in notes(app, "warning")), 5, "the stop note")
            assert time.monotonic() - began < 5
            await until(pilot, lambda: not _child_pids(marker), 5, "no process of the command left")
            assert app.main.user_run is None
            assert list(app.main.session.attachments) == [], "a stopped run's output is not attached"

    run(scenario)


@pytest.mark.skipif(shutil.which("pgrep") is None, reason="needs pgrep")
def test_quitting_ends_a_running_run_command(tmp_path):
    marker = f"sleep 4{os.getpid() % 10}.{time.monotonic_ns() % 1000:03d}"

    async def scenario():
        app = DgcodeApp(tmp_path, {})
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, f"/run {marker}")
            await until(pilot, lambda: bool(_child_pids(marker)), 10, "the command")
            began = time.monotonic()
            await pilot.press("ctrl+q")
        return began

    began = []
    run(lambda: _quit(scenario, began))
    deadline = time.monotonic() + 5
    while _child_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _child_pids(marker), "the command outlived the app"
    assert time.monotonic() - began[0] < 5, "quitting did not wait for the command"


async def _quit(scenario, began):
    began.append(await scenario())


# --- the embedded repair model ----------------------------------------------------------------------

BROKEN = "def f()\n    return 1\n"


def _broken_repo(tmp_path):
    from tui_fakes import two_file_repo

    repo = two_file_repo(tmp_path / "repo")
    (repo / "broken.py").write_text(BROKEN)
    git(repo, "add", "broken.py")
    git(repo, "commit", "-qm", "broken")
    return repo


@pytest.mark.skipif(embedded_model() is None, reason="this install has no embedded model")
def test_embedded_model_repairs_reviews_applies_and_undoes(tmp_path):
    from dgcode.tui.screens.review import ReviewScreen

    repo = _broken_repo(tmp_path)

    async def scenario():
        app = DgcodeApp(repo, {"threads": 2})
        async with app.run_test(size=(100, 30)) as pilot:
            main = app.main
            assert app.engine is None and main.embedded_active
            assert "embedded" in main.panel.model and "syntax" in main.panel.backend
            assert any("embedded model" in n for n in notes(app, "warning"))
            await submit(pilot, "/add broken.py")
            await submit(pilot, "fix the syntax errors")
            await until(pilot, lambda: main.answering or isinstance(app.screen, ReviewScreen), 10, "the repair")
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen), 120, "the review screen")
            assert any("broken.py" in n and "repaired" in n for n in notes(app, "ok"))
            await pilot.press("enter")  # apply the accepted file
            await until(pilot, lambda: any("applied: broken.py" in n for n in notes(app, "ok")), 20, "the apply")
            fixed = (repo / "broken.py").read_text()
            compile(fixed, "broken.py", "exec")
            assert fixed != BROKEN
            await submit(pilot, "/undo")
            await until(pilot, lambda: (repo / "broken.py").read_text() == BROKEN, 20, "the undo")

    run(scenario, 180)


@pytest.mark.skipif(embedded_model() is None, reason="this install has no embedded model")
def test_embedded_model_says_in_one_line_what_it_cannot_do(tmp_path):
    repo = _broken_repo(tmp_path)

    async def scenario():
        app = DgcodeApp(repo, {})
        async with app.run_test(size=(100, 30)) as pilot:
            before = len(notes(app, "error"))
            await submit(pilot, "add a docstring to a.py")
            errors = notes(app, "error")[before:]
            assert len(errors) == 1 and "/pull NAME" in errors[0] and "/model" in errors[0]
            await submit(pilot, "fix a.py")  # compiles already
            errors = notes(app, "error")[before + 1:]
            assert len(errors) == 1 and "compiles already" in errors[0] and "/models" in errors[0]
            assert not app.main.answering and app.main.turns == 0

    run(scenario)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_real_terminal_model_command_from_no_model(models, tmp_path):
    """End to end in tmux, where Textual's stderr capture is what broke the first engine child."""
    from test_tui_e2e import LAUNCH, Tmux

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGCODE_MODEL")}
    env.update(TERM="xterm-256color", DGCODE_THREADS="2")
    tmux = Tmux(env)
    try:
        tmux("new-session", "-d", "-s", "app", "-x", "100", "-y", "30", "-c", str(repo),
             f"{sys.executable} -c \"{LAUNCH}\"; sleep 30")
        tmux.wait_for(lambda s: "dgcode in repo" in s, 20, "the app to start")
        tmux("send-keys", "-t", "app", "-l", f"/model {models['dream']}")
        tmux("send-keys", "-t", "app", "Enter")
        screen = tmux.wait_for(lambda s: "switched to dream.gguf" in s or "cannot use" in s or "failed" in s, 60,
                               "the switch")
        assert "switched to dream.gguf" in screen and "fds_to_keep" not in screen, screen
        tmux("send-keys", "-t", "app", "C-q")
        tmux.wait_for(lambda s: "dgcode in repo" not in s, 10, "the app to quit")
    finally:
        tmux("kill-server")
