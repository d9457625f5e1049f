"""dgcode as a hook of the pre-commit framework: the hook checks only the file names it is given.

``.pre-commit-hooks.yaml`` declares the hook with ``pass_filenames: true``:
the framework runs its ``entry`` (``dgcode hook run``) with the staged file
names as arguments, from the top folder.  With no ``fix.cmd`` (the default
check), only the named staged Python files are compiled and repaired; other
staged files, even broken ones, are not the hook's business.  These tests run
that entry, read from the manifest, in real repositories; the last ones run
the real ``pre-commit`` (skipped when it is not installed) with a local hook
built from the manifest.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import GitShim, real_git, real_git_bytes
from test_hook_support import (
    HOOK_SUBCOMMANDS,
    base_repo,
    isolated,  # noqa: F401  (autouse: no user config, model or SKIP from the person running the tests)
)

from dgcode.repair.embedded import embedded_model

MANIFEST = Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml"
GOOD = b"def f():\n    return 1\n"
BROKEN = b"def f()\n    return 1\n"
"""A missing colon on line 1."""
MISSING_MODEL = "does-not-exist.gguf"
"""Configured so that a file that does not compile fails open (with a warning naming it) without loading a model."""
needs_embedded = pytest.mark.skipif(embedded_model() is None, reason="this install has no embedded repair model")


def manifest_hook() -> dict:
    hooks = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return next(hook for hook in hooks if hook["id"] == "dgcode")


def entry_argv() -> list[str]:
    """The manifest's entry as the framework runs it, its ``dgcode`` the one installed beside this Python."""
    hook = manifest_hook()
    assert hook["pass_filenames"] is True and hook["language"] == "python"
    argv = shlex.split(hook["entry"]) + shlex.split(" ".join(hook.get("args", [])))
    assert argv[0] == "dgcode", argv
    installed = Path(sys.executable).with_name("dgcode")
    assert installed.is_file(), installed
    return [str(installed), *argv[1:]]


def run_entry(repo: Path, *files: str, model: str | None = None) -> subprocess.CompletedProcess[str]:
    """``dgcode hook run FILES...`` from the top folder, as the framework runs it."""
    env = dict(os.environ)
    if model is not None:
        env["DGCODE_MODEL"] = model
    return subprocess.run([*entry_argv(), *files], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def stage(repo: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    real_git(repo, "add", *files)


def only_allowed_git(shim: GitShim) -> None:
    assert set(shim.subcommands()) <= HOOK_SUBCOMMANDS, set(shim.subcommands()) - HOOK_SUBCOMMANDS
    assert shim.blocked() == []


def test_the_named_files_are_checked_and_other_staged_files_are_not(tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo")
    stage(repo, {"src/good.py": GOOD, "vendor/bad.py": BROKEN, "notes.txt": b"notes\n"})

    named = run_entry(repo, "src/good.py", "notes.txt", model=MISSING_MODEL)

    assert named.returncode == 0, named.stderr
    assert "the 1 staged Python file compiles." in named.stderr
    assert "bad.py" not in named.stderr and "warning" not in named.stderr

    only_text = run_entry(repo, "notes.txt", model=MISSING_MODEL)
    assert only_text.returncode == 0, only_text.stderr
    assert "no Python file is staged; nothing to check." in only_text.stderr

    unnamed = run_entry(repo, model=MISSING_MODEL)  # by hand, no names: every staged Python file
    assert "vendor/bad.py:1: expected ':'" in unnamed.stderr, unnamed.stderr
    assert unnamed.returncode == 0 and "warning:" in unnamed.stderr and MISSING_MODEL in unnamed.stderr

    broken_named = run_entry(repo, "vendor/bad.py", "--strict", model=MISSING_MODEL)
    assert "vendor/bad.py:1: expected ':'" in broken_named.stderr, broken_named.stderr
    assert broken_named.returncode == 1 and "error:" in broken_named.stderr
    assert (repo / "vendor/bad.py").read_bytes() == BROKEN and real_git_bytes(repo, "show", ":vendor/bad.py") == BROKEN
    only_allowed_git(git_shim)


@needs_embedded
def test_only_the_named_file_is_repaired(tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo")
    stage(repo, {"a.py": BROKEN, "pkg/b.py": BROKEN})

    done = run_entry(repo, "pkg/b.py")

    assert done.returncode == 1, done.stderr
    assert "pkg/b.py:1: expected ':'" in done.stderr and "a.py:1" not in done.stderr.replace("pkg/b.py:1", "")
    assert "dgcode modified 1 file: pkg/b.py" in done.stderr
    assert (repo / "pkg/b.py").read_bytes() == GOOD and (repo / "a.py").read_bytes() == BROKEN
    assert real_git_bytes(repo, "show", ":pkg/b.py") == BROKEN  # never staged
    only_allowed_git(git_shim)


# --- the real pre-commit framework -----------------------------------------------------------------------------

def pre_commit_command() -> list[str] | None:
    found = shutil.which("pre-commit")
    if found:
        return [found]
    if importlib.util.find_spec("pre_commit") is not None:
        return [sys.executable, "-m", "pre_commit"]
    return None


needs_pre_commit = pytest.mark.skipif(pre_commit_command() is None, reason="pre-commit is not installed")


def framework_repo(tmp_path: Path) -> Path:
    """A repository whose committed .pre-commit-config.yaml runs the manifest's hook as a local one.

    ``language: system`` instead of the manifest's ``python``, which would build an environment by installing
    dgcode from a repository; ``exclude`` so that the framework has a staged file it does not pass.
    """
    hook = {key: value for key, value in manifest_hook().items() if key != "minimum_pre_commit_version"}
    hook.update(language="system", exclude="^vendor/", verbose=True)
    repo = base_repo(tmp_path / "repo")
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": [hook]}]}))
    real_git(repo, "add", ".pre-commit-config.yaml")
    real_git(repo, "commit", "-q", "-m", "pre-commit config")
    return repo


def run_framework(tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, int, str]:
    """Stage ``files`` in a ``framework_repo`` and run ``pre-commit run`` on the staged files, with this Python's
    ``dgcode`` first on PATH; the repository, the exit status, all the output."""
    repo = framework_repo(tmp_path)
    stage(repo, files)
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    env.pop("PRE_COMMIT_ALLOW_NO_CONFIG", None)
    done = subprocess.run([*pre_commit_command(), "run", "--hook-stage", "pre-commit", "--color", "never"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=180, check=False)
    return repo, done.returncode, done.stdout + done.stderr


@needs_pre_commit
def test_pre_commit_passes_the_staged_names_and_dgcode_checks_only_those(tmp_path: Path) -> None:
    _repo, code, output = run_framework(tmp_path, {"src/good.py": GOOD, "vendor/bad.py": BROKEN})

    assert code == 0, output
    assert "the 1 staged Python file compiles." in output and "bad.py" not in output
    assert "Passed" in output


@needs_pre_commit
@needs_embedded
def test_pre_commit_with_a_broken_staged_file_gets_it_repaired_unstaged(tmp_path: Path) -> None:
    repo, code, output = run_framework(tmp_path, {"src/broken.py": BROKEN, "vendor/bad.py": BROKEN})

    assert code == 1, output
    assert "Failed" in output and "src/broken.py:1: expected ':'" in output and "vendor/bad.py" not in output
    assert "dgcode modified 1 file: src/broken.py" in output
    assert (repo / "src/broken.py").read_bytes() == GOOD and (repo / "vendor/bad.py").read_bytes() == BROKEN
    assert real_git_bytes(repo, "show", ":src/broken.py") == BROKEN  # the framework and dgcode never stage
