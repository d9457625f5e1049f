"""`dgcode hook install / uninstall`: the script, core.hooksPath, --force chaining, foreign hooks kept byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import real_git
from test_hook_support import (
    base_repo,
    git_commit,
    isolated,  # noqa: F401  (autouse: no user config, model or SKIP from the person running the tests)
    write_settings,
)

from dgcode.cli.hook import register
from dgcode.workflows.hook.install import CHAINED_NAME, MARKER, HookInstallError, install, uninstall

FOREIGN = b"#!/bin/sh\n# someone else's hook\necho foreign-ran >> \"$(git rev-parse --git-dir)/../foreign.log\"\nexit 0\n"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return base_repo(tmp_path / "repo")


def cli(repo: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `hook` a sub-command group
    monkeypatch.chdir(repo)
    return CliRunner().invoke(app, ["hook", *args])


def test_install_writes_an_executable_script_naming_this_python(repo: Path, monkeypatch) -> None:
    result = cli(repo, monkeypatch, "install")

    assert result.exit_code == 0, result.output
    hook = repo / ".git" / "hooks" / "pre-commit"
    text = hook.read_text()
    assert MARKER in text and f"python={sys.executable}" in text and "-m dgcode.workflows.hook.run \"$@\"" in text
    assert os.access(hook, os.X_OK)
    again = cli(repo, monkeypatch, "install", "--strict")
    assert again.exit_code == 0 and "updated" in again.output
    assert "-m dgcode.workflows.hook.run --strict" in hook.read_text()
    removed = cli(repo, monkeypatch, "uninstall")
    assert removed.exit_code == 0 and not hook.exists()
    assert "nothing to remove" in cli(repo, monkeypatch, "uninstall").output


def test_install_follows_core_hooks_path(repo: Path) -> None:
    real_git(repo, "config", "core.hooksPath", "githooks")

    change = install(repo)

    assert change.path == repo / "githooks" / "pre-commit" and change.path.is_file()
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    write_settings(repo, None)
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "m.py")
    done = git_commit(repo, "via hooksPath", through_shim=False)
    assert done.returncode == 0 and "no check command is configured" in done.stderr


def test_a_foreign_hook_is_refused_then_chained_with_force_and_restored_exactly(repo: Path, monkeypatch) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_bytes(FOREIGN)
    hook.chmod(0o750)

    refused = cli(repo, monkeypatch, "install")
    assert refused.exit_code == 1 and "--force" in refused.output
    assert hook.read_bytes() == FOREIGN
    with pytest.raises(HookInstallError):
        uninstall(repo)
    assert hook.read_bytes() == FOREIGN

    forced = cli(repo, monkeypatch, "install", "--force")
    assert forced.exit_code == 0 and CHAINED_NAME in forced.output
    chained = hook.with_name(CHAINED_NAME)
    assert chained.read_bytes() == FOREIGN and MARKER in hook.read_text()

    write_settings(repo, None)
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "m.py")
    done = git_commit(repo, "chained", through_shim=False)
    assert done.returncode == 0, done.stderr
    assert (repo / "foreign.log").read_text() == "foreign-ran\n"
    assert "no check command is configured" in done.stderr

    assert cli(repo, monkeypatch, "uninstall").exit_code == 0
    assert hook.read_bytes() == FOREIGN and (hook.stat().st_mode & 0o777) == 0o750
    assert not chained.exists()


def test_a_failing_chained_hook_stops_the_commit_before_dgcode_runs(repo: Path, tmp_path: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_bytes(b"#!/bin/sh\necho 'lint failed' >&2\nexit 3\n")
    hook.chmod(0o755)
    install(repo, force=True)
    write_settings(repo)
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "m.py")

    done = git_commit(repo, "blocked", through_shim=False)

    assert done.returncode != 0 and "lint failed" in done.stderr
    assert "dgcode:" not in done.stderr


def test_force_refuses_when_a_chained_hook_already_exists(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-commit").write_bytes(FOREIGN)
    (hooks / CHAINED_NAME).write_bytes(b"#!/bin/sh\nexit 0\n")

    with pytest.raises(HookInstallError, match="already exists"):
        install(repo, force=True)
    assert (hooks / "pre-commit").read_bytes() == FOREIGN


@pytest.mark.parametrize("strict", [False, True])
def test_a_missing_python_fails_open_unless_strict(repo: Path, tmp_path: Path, strict: bool) -> None:
    install(repo, strict=strict, python=str(tmp_path / "gone" / "python"))
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "m.py")

    done = git_commit(repo, "no python", through_shim=False)

    assert "is gone" in done.stderr
    assert done.returncode == (1 if strict else 0)


def test_install_outside_a_repository_fails_cleanly(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "plain").mkdir()
    result = cli(tmp_path / "plain", monkeypatch, "install")
    assert result.exit_code == 1 and "not in a git repository" in result.output


def test_pre_commit_framework_manifest() -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "dgcode" and hook["entry"] == "dgcode hook run"
    assert hook["language"] == "python" and hook["pass_filenames"] is True and hook["stages"] == ["pre-commit"]


def test_hook_run_starts_without_loading_the_model_stack(repo: Path) -> None:
    """A passing check never imports llama_cpp, numpy or textual (start-up stays cheap)."""
    write_settings(repo)
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "m.py")
    probe = ("import sys, runpy\n"
             "sys.argv = ['dgcode.cli.hook', 'run']\n"
             "try:\n    runpy.run_module('dgcode.cli.hook', run_name='__main__')\n"
             "except SystemExit as e:\n    code = e.code\n"
             "print('LOADED', sorted(m for m in ('numpy', 'llama_cpp', 'textual') if m in sys.modules), code)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, check=False)
    assert "LOADED [] 0" in done.stdout, done.stdout + done.stderr
    assert "passes on the staged files" in done.stderr


def test_hooks_installed_by_earlier_versions_still_run(repo: Path) -> None:
    """Scripts written before the package move run ``python -m dgcode.hook_run``: the same entry as today's."""
    write_settings(repo)
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "m.py")
    done = subprocess.run([sys.executable, "-m", "dgcode.hook_run"], cwd=repo, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passes on the staged files" in done.stderr
