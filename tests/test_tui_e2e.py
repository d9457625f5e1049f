"""End to end: the real TUI in tmux against a real (tiny, random-weight) GGUF: a block crystallizes, then finishes.

The app runs in a private tmux server (its own socket, killed afterwards), so
the test reads the screen as a person would (``capture-pane``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from repo_helpers import git

LAUNCH = ("import sys; from pathlib import Path; from dgcode.config import load_config; "
          "from dgcode.tui import run_tui; sys.exit(run_tui(Path.cwd(), load_config('.')))")

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Tmux:
    """One private tmux server with one 100x30 session."""

    def __init__(self, env: dict[str, str]):
        self.socket = f"dgcode-tui-test-{os.getpid()}"
        self.env = env

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], env=self.env,
                              capture_output=True, text=True, timeout=10)
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "app")

    def wait_for(self, predicate, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.03)


def test_real_app_crystallizes_a_block_from_a_real_model(models, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("x = 1\n")
    env = dict(os.environ, TERM="xterm-256color", DGCODE_MODEL=str(models["dream"]), DGCODE_MAX_TOKENS="256",
               DGCODE_SUB_BLOCK="8", DGCODE_N_CTX="1024", DGCODE_THREADS="2", DGCODE_THRESHOLD="1.0")
    tmux = Tmux(env)
    try:
        tmux("new-session", "-d", "-s", "app", "-x", "100", "-y", "30", "-c", str(repo),
             f"{sys.executable} -c \"{LAUNCH}\"; sleep 30")
        tmux.wait_for(lambda s: "dgcode in repo" in s, 20, "the app to start")
        tmux("send-keys", "-t", "app", "-l", "/add a.py")
        tmux("send-keys", "-t", "app", "Enter")
        tmux.wait_for(lambda s: "added a.py" in s, 10, "/add")
        tmux("send-keys", "-t", "app", "-l", "say hi")
        tmux("send-keys", "-t", "app", "Enter")
        status = re.compile(r"step \d+ · [\d.]+ tok/step · \d+ tok/s")
        mid = tmux.wait_for(lambda s: bool(status.search(s)) and "block 1 · esc cancels" in s and "·····" in s,
                            30, "the canvas mid-denoising (masked positions drawn as dots)")
        assert "say hi" in mid
        done = tmux.wait_for(lambda s: "stopped:" in s, 180, "the answer")  # a bound for a busy machine
        assert "tokens in" in done and "tok/step" not in done, "the canvas is gone once the answer is in"
        assert "dream" in done and "CPU" in done, "the panel shows the loaded model's backend"
        tmux("send-keys", "-t", "app", "C-q")
        tmux.wait_for(lambda s: "dgcode in repo" not in s, 10, "the app to quit")
    finally:
        tmux("kill-server")
