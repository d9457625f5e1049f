"""A warm model for dgcode itself: a running `dgcode serve` is found and used by `fix`, and only when it should be.

The server is the real command in a subprocess over the tiny dream model; its
record lives in this test's data folder (conftest unsets XDG_RUNTIME_DIR).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from repo_helpers import git

from dgcode.workflows import warm_server

SCRIPT = ("import typer, sys; from dgcode.cli.serve import register; app = typer.Typer(); "
          "app.callback()(lambda: None); register(app); app()")


@pytest.fixture
def running_server(models, tmp_path):
    env = {**os.environ, "DGCODE_THREADS": "1"}
    env.pop("DGCODE_SERVE_API_KEY", None)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, "serve", "--model", str(models["dream"]), "--port", "0"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    url, deadline = None, time.monotonic() + 60
    while url is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, "the server exited"
        found = re.search(r"serving dream\.gguf at (http://127\.0\.0\.1:\d+/v1)", line)
        url = found.group(1) if found else None
    assert url
    yield proc, url
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    proc.stderr.close()


def finished(url: str) -> int:
    return sum(httpx.get(url[:-3] + "/health", timeout=10).json()["finished"].values())


def fix(repo, model, *extra_env: tuple[str, str]):
    env = {**os.environ, "DGCODE_MAX_TOKENS": "8", "DGCODE_FIX_ROUNDS": "1", **dict(extra_env)}
    return subprocess.run([sys.executable, "-m", "dgcode", "fix", "m.py", "-m", "return 2", "--model", str(model),
                           "--yes", "--json"], cwd=repo, env=env, capture_output=True, text=True, timeout=120)


def test_fix_uses_the_running_server_of_its_model_and_not_when_told_not_to(running_server, models, tmp_path):
    proc, url = running_server
    assert warm_server.find_warm_server(models["dream"]) == url
    assert warm_server.find_warm_server(models["llada"]) is None  # another model: not this server
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "m.py").write_text("def f():\n    return 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    before = finished(url)
    warm = fix(repo, models["dream"])
    assert json.loads(warm.stdout)["rounds"], warm.stderr
    assert "using the running `dgcode serve` of dream.gguf" in warm.stderr
    assert finished(url) == before + 1  # the answer came from the warm server
    cold = fix(repo, models["dream"], ("DGCODE_WARM_SERVER", "false"))
    assert json.loads(cold.stdout)["rounds"] and "using the running" not in cold.stderr
    assert finished(url) == before + 1  # loaded its own engine instead
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    assert warm_server.find_warm_server(models["dream"]) is None
    assert not list(warm_server.runtime_dir().glob("serve-*.json"))  # its record went with it


def test_stale_keyed_and_damaged_records_are_not_used(models, tmp_path):
    folder = warm_server.runtime_dir()
    folder.mkdir(parents=True, exist_ok=True)
    identity = warm_server.model_identity(models["dream"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = folder / "serve-1.json"
    stale.write_text(json.dumps({"pid": int(dead.stdout), "url": "http://127.0.0.1:9/v1", "model": identity}))
    keyed = folder / "serve-2.json"
    keyed.write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:9/v1", "model": identity,
                                 "keyed": True}))
    (folder / "serve-3.json").write_text("{not json")
    silent = folder / "serve-4.json"  # alive, right model, but nothing answers there
    silent.write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:9/v1", "model": identity}))
    assert warm_server.find_warm_server(models["dream"]) is None
    assert not stale.exists() and keyed.exists() and silent.exists()  # only the dead server's record is removed
    touched = dict(identity, mtime_ns=identity["mtime_ns"] + 1)  # the file changed since the server loaded it
    silent.write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:9/v1", "model": touched}))
    assert warm_server.find_warm_server(models["dream"]) is None
