"""Test helper (no tests here): the scripted engine the hook process loads through its test seam, and shared set-up.

A real ``git commit`` runs the installed hook in a separate process, so a
test cannot hand it an engine object.  With ``DGCODE_TESTING=1`` the hook
honours ``DGCODE_HOOK_ENGINE=test_hook_support:scripted`` (this folder on
PYTHONPATH); ``scripted`` reads ``DGCODE_TEST_HOOK_SCRIPT``, a JSON file::

    {"answers": ["...model answer..."], "crash": false, "log": "/tmp/.../prompts.jsonl"}

and returns an engine that replays the answers (or raises
EngineCrashedError when ``crash`` is true), appending each prompt to ``log``
so the test can see whether the model was asked at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dgcode.engine.errors import EngineCrashedError
from dgcode.trust import config_digest, trust_config_file
from dgcode.workflows.fix.report import Answer

SCRIPT_VARIABLE = "DGCODE_TEST_HOOK_SCRIPT"


class HookScriptedEngine:
    """Replays queued answers; records prompts in a JSON-lines log."""

    def __init__(self, answers: list[str], crash: bool, log: Path, sleep_s: float = 0.0):
        self.answers, self.crash, self.log, self.sleep_s = list(answers), crash, log, sleep_s

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, messages, settings, on_step=None) -> Answer:
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(messages) + "\n")
        if self.crash:
            raise EngineCrashedError("the engine process was killed by SIGKILL while generating (scripted)")
        if self.sleep_s:
            import time

            time.sleep(self.sleep_s)
        if on_step is not None and on_step(object()) is False:
            return Answer("", 0, 1, "cancelled", 1.0, 0.01)
        if not self.answers:
            raise AssertionError("the hook asked for more answers than the script holds")
        text = self.answers.pop(0)
        return Answer(text, len(text.split()), 1, "eos", 1.0, 0.01)

    def close(self) -> None:
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write('"closed"\n')


def scripted(config, say) -> HookScriptedEngine:
    script = json.loads(Path(os.environ[SCRIPT_VARIABLE]).read_text(encoding="utf-8"))
    return HookScriptedEngine(script.get("answers", []), bool(script.get("crash")), Path(script["log"]),
                              float(script.get("sleep_s", 0.0)))


# --- shared set-up for the hook tests (real repositories, real `git commit`) ----------------------------------

import shlex
import shutil
import subprocess
import sys

from git_shim import REAL_GIT, init_repo, real_git

TESTS = Path(__file__).resolve().parent
PYTHON = shlex.quote(sys.executable)
CHECK = f"{PYTHON} -c \"import m; assert m.f() == 2, 'f() should be 2'\""
"""The check command of most tests: passes when the staged m.py's f() returns 2."""
HOOK_SUBCOMMANDS = {"rev-parse", "diff", "ls-files", "cat-file", "merge-file", "for-each-ref", "write-tree",
                    "commit-tree", "update-ref", "add", "hash-object", "show", "status", "grep", "log", "var",
                    "check-ignore"}
"""Everything the hook process may run through `git` (the snapshot's `add` only on a private index copy)."""


def edit(path: str, old: str, new: str) -> str:
    """A model answer with one SEARCH/REPLACE edit."""
    return f"I fixed it.\n\n{path}\n```python\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n```\n"


FIX_RETURN = edit("m.py", "    return 1\n", "    return 2\n")


def write_settings(repo: Path, command: str | None = CHECK, *, trusted: bool = True, **hook: object) -> None:
    """An untracked .dgcode.toml: the check command, and [hook] settings; trusted as `dgcode trust` would."""
    lines = ["[fix]", "rounds = 2"] + ([f"cmd = {json.dumps(command)}"] if command else [])
    lines.append("[hook]")
    lines += [f"{key} = {str(value).lower() if isinstance(value, bool) else value}" for key, value in hook.items()]
    (repo / ".dgcode.toml").write_text("\n".join(lines) + "\n")
    if trusted:
        trust_config_file(repo / ".dgcode.toml", config_digest((repo / ".dgcode.toml").read_bytes()))


def base_repo(path: Path, m_py: bytes = b"def f():\n    return 1\n") -> Path:
    repo = init_repo(path)
    (repo / "m.py").write_bytes(m_py)
    real_git(repo, "add", "m.py")
    real_git(repo, "commit", "-q", "-m", "base")
    return repo


def install_hook(repo: Path, *flags: str) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([sys.executable, "-m", "dgcode.cli.hook", "install", *flags], cwd=repo,
                          capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done


def script_engine(tmp_path: Path, answers: list[str] = (), crash: bool = False, sleep_s: float = 0.0) -> dict:
    """Environment for the hook process: the scripted engine through the test seam; the prompt log's path."""
    log = tmp_path / "prompts.jsonl"
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"answers": list(answers), "crash": crash, "log": str(log), "sleep_s": sleep_s}))
    return {"DGCODE_TESTING": "1", "DGCODE_HOOK_ENGINE": "test_hook_support:scripted", SCRIPT_VARIABLE: str(script),
            "_log": str(log)}


def prompts_asked(env: dict) -> int:
    log = Path(env["_log"])
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if line.startswith("["))


SHIM_WRAPPER = """#!/bin/sh
# git puts its exec-path (/usr/lib/git-core, holding the real git) first on a hook's PATH;
# put the suite's shim back in front, then run the installed hook itself.
PATH={shim}:"$PATH"
export PATH
exec {hook} "$@"
"""


def shim_hooks_path(repo: Path) -> Path:
    """A hooks folder whose pre-commit runs ``repo``'s installed hook with the git shim first on PATH.

    git prepends its exec-path to PATH for hooks, which would hide the shim
    from everything the hook runs; ``git_commit`` points ``core.hooksPath``
    here (for that one command) so the shim keeps checking dgcode's git calls.
    """
    shim_folder = Path(shutil.which("git") or "").parent
    assert (shim_folder / "git.log").parent == shim_folder and "git-shim" in str(shim_folder), shim_folder
    folder = repo.parent / f"{repo.name}-shim-hooks"
    folder.mkdir(exist_ok=True)
    hook = real_git(repo, "rev-parse", "--path-format=absolute", "--git-path", "hooks/pre-commit").strip()
    wrapper = folder / "pre-commit"
    wrapper.write_text(SHIM_WRAPPER.format(shim=shlex.quote(str(shim_folder)), hook=shlex.quote(hook)))
    wrapper.chmod(0o755)
    return folder


def git_commit(repo: Path, message: str = "change", extra_env: dict | None = None,
               *args: str, through_shim: bool = True) -> subprocess.CompletedProcess[str]:
    """The real `git commit`, which runs the installed hook (with the shim first on its PATH); output as text."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(TESTS) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: v for k, v in (extra_env or {}).items() if not k.startswith("_")})
    config = ["-c", f"core.hooksPath={shim_hooks_path(repo)}"] if through_shim else []
    done = subprocess.run([REAL_GIT, *config, "commit", "-m", message, *args], cwd=repo, env=env,
                          capture_output=True, timeout=120, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))


def head(repo: Path) -> str:
    return real_git(repo, "rev-parse", "HEAD").strip()


def tree_bytes(repo: Path, paths) -> dict[str, bytes | None]:
    """Exact bytes of each path (symlink targets prefixed 'link:'), None when absent."""
    found = {}
    for path in paths:
        target = repo / path
        if os.path.islink(target):
            found[path] = b"link:" + os.readlink(os.fsencode(target))
        elif target.exists():
            found[path] = target.read_bytes() + f"|mode={oct(target.stat().st_mode & 0o777)}".encode()
        else:
            found[path] = None
    return found


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user config, model or SKIP from the person running the tests (imported by each hook test module)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in [n for n in os.environ if n.startswith("DGCODE_") and n != "DGCODE_CACHE_DIR"] + ["SKIP"]:
        monkeypatch.delenv(name, raising=False)
