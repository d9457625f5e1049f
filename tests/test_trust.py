"""A repository's .dgcode.toml runs nothing until the user trusts its exact contents (RELIABILITY #21).

The attack: a committed ``.dgcode.toml`` whose ``fix.cmd`` touches a file
outside the repository.  In a real clone, ``dgcode fix``, the pre-commit hook
and the TUI's bare ``/run`` must not run it before ``dgcode trust``; after
trust they do; once the file changes they stop again.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from git_shim import REAL_GIT, git_shim, init_repo, real_git  # noqa: F401  (autouse fixture)
from test_fix_pipeline import ScriptedEngine
from test_hook_support import install_hook
from tui_fakes import Script
from tui_fakes import ScriptedEngine as TuiEngine
from tui_pilot import notes, run, submit, until
from typer.testing import CliRunner

from dgcode.cli import fix as cli_fix
from dgcode.config import load_config
from dgcode.trust import config_digest, trust_config_file, trust_file

runner = CliRunner()


def dgcode(cwd: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line in a child process (stdin a pipe, never a terminal)."""
    return subprocess.run([sys.executable, "-m", "dgcode", *args], cwd=cwd, input=stdin, capture_output=True,
                          check=False)


@pytest.fixture
def clone(tmp_path: Path, monkeypatch) -> dict:
    """A clone of an upstream repository whose committed .dgcode.toml runs `touch MARKER` as its check."""
    marker = tmp_path / "outside" / "PWNED"
    marker.parent.mkdir()
    upstream = init_repo(tmp_path / "upstream")
    (upstream / "m.py").write_text("def f():\n    return 1\n")
    (upstream / ".dgcode.toml").write_text(f"threshold = 0.5\n[fix]\ncmd = 'touch {shlex.quote(str(marker))}'\n")
    real_git(upstream, "add", ".")
    real_git(upstream, "commit", "-q", "-m", "base")
    real_git(tmp_path, "clone", "-q", str(upstream), "clone")
    repo = tmp_path / "clone"
    monkeypatch.chdir(repo)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DGCODE_FIX_CMD", raising=False)
    model = tmp_path / "model.gguf"  # a full model's place: `fix` then drives the scripted engine below
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("DGCODE_MODEL", str(model))
    return {"repo": repo, "marker": marker, "config": repo / ".dgcode.toml"}


def change_config(config: Path) -> None:
    config.write_text(config.read_text() + "# a harmless-looking change\n")


# --- settings --------------------------------------------------------------------------------------------------


def test_an_untrusted_command_is_left_out_and_the_rest_applies(clone) -> None:
    config = load_config(clone["repo"])
    assert config["fix.cmd"] is None
    assert config["threshold"] == 0.5 and config.setting("threshold").source == "repo"
    assert config.untrusted is not None and set(config.untrusted.values) == {"fix.cmd"}
    message = config.untrusted.describe()
    assert "not trusted" in message and "dgcode trust" in message and "touch" in message


def test_trust_is_for_the_exact_bytes(clone) -> None:
    data = clone["config"].read_bytes()
    trust_config_file(clone["config"], config_digest(data))
    assert load_config(clone["repo"])["fix.cmd"].startswith("touch ")
    change_config(clone["config"])
    config = load_config(clone["repo"])
    assert config["fix.cmd"] is None and config.untrusted is not None


def test_the_record_lives_outside_the_repository(clone) -> None:
    trust_config_file(clone["config"], config_digest(clone["config"].read_bytes()))
    assert not trust_file().resolve().is_relative_to(clone["repo"].resolve())
    document = json.loads(trust_file().read_text())
    assert str(clone["config"].resolve()) in document["trusted"]


def test_the_users_own_file_and_flags_are_trusted(clone, tmp_path) -> None:
    user_file = tmp_path / "user.toml"
    user_file.write_text("[fix]\ncmd = 'make check'\n")
    config = load_config(clone["repo"], user_file=user_file)
    assert config["fix.cmd"] == "make check" and config.setting("fix.cmd").source == "user"
    assert config.untrusted is not None  # the repository's own value is still reported as ignored
    flagged = load_config(clone["repo"], flags={"fix.cmd": "pytest -x"})
    assert flagged["fix.cmd"] == "pytest -x" and flagged.untrusted is None  # overridden: nothing to report


def test_a_damaged_trust_record_trusts_nothing(clone) -> None:
    trust_config_file(clone["config"], config_digest(clone["config"].read_bytes()))
    trust_file().write_text('{"version": 1, "trusted": []}')
    assert load_config(clone["repo"])["fix.cmd"] is None
    done = dgcode(clone["repo"], "trust", "--yes")
    assert done.returncode == 2 and b"not a dgcode trust record" in done.stderr


def test_terminal_escapes_in_an_ignored_command_are_not_printed_raw(clone) -> None:
    clone["config"].write_text('[fix]\ncmd = "echo \\u001b]2;PWNED\\u0007"\n')
    message = load_config(clone["repo"]).untrusted.describe()
    assert "\x1b" not in message and "\x07" not in message and "\\x1b" in message


# --- dgcode trust ----------------------------------------------------------------------------------------------


def test_trust_needs_a_yes_and_shows_the_file(clone) -> None:
    refused = dgcode(clone["repo"], "trust")
    assert refused.returncode == 2 and b"dgcode trust --yes" in refused.stderr
    assert b"cmd = 'touch" in refused.stderr  # the file was shown before the question
    assert load_config(clone["repo"])["fix.cmd"] is None
    done = dgcode(clone["repo"], "trust", "--yes")
    assert done.returncode == 0 and b"trusted" in done.stderr
    assert load_config(clone["repo"])["fix.cmd"] is not None
    revoked = dgcode(clone["repo"], "trust", "--revoke")
    assert revoked.returncode == 0 and load_config(clone["repo"])["fix.cmd"] is None


def test_trust_refuses_an_invalid_config(clone) -> None:
    clone["config"].write_text("[fix]\nrounds = 'many'\n")
    done = dgcode(clone["repo"], "trust", "--yes")
    assert done.returncode == 2 and b"rounds must be" in done.stderr
    assert not trust_file().exists()


def test_trust_outside_a_configured_repository_says_so(tmp_path) -> None:
    bare = init_repo(tmp_path / "plain")
    done = dgcode(bare, "trust", "--yes")
    assert done.returncode == 2 and b"no .dgcode.toml" in done.stderr


# --- the front ends: nothing runs before trust, it runs after, and not after a change --------------------------


def fix_once(engine_answers: list[str]):
    application = typer.Typer()
    application.command("noop")(lambda: None)
    cli_fix.register(application, open_engine=lambda config, say: ScriptedEngine(engine_answers))
    return runner.invoke(application, ["fix", "m.py", "--yes", "--json"])


def test_fix_runs_the_repositorys_command_only_once_trusted(clone) -> None:
    result = fix_once([])
    assert not clone["marker"].exists()
    assert "not trusted" in result.stderr and "dgcode trust" in result.stderr
    assert dgcode(clone["repo"], "trust", "--yes").returncode == 0
    result = fix_once([])
    assert clone["marker"].exists(), result.output
    assert json.loads(result.stdout)["command_runs"] >= 1
    clone["marker"].unlink()
    change_config(clone["config"])
    fix_once([])
    assert not clone["marker"].exists()


def commit_something(repo: Path, name: str) -> subprocess.CompletedProcess[bytes]:
    (repo / name).write_text("x = 1\n")
    real_git(repo, "add", name)
    return subprocess.run([REAL_GIT, "commit", "-q", "-m", name], cwd=repo, capture_output=True, check=False)


def test_the_hook_runs_the_repositorys_command_only_once_trusted(clone) -> None:
    repo = clone["repo"]
    real_git(repo, "config", "user.email", "t@example.com")
    real_git(repo, "config", "user.name", "T")
    install_hook(repo)
    done = commit_something(repo, "a.py")
    assert done.returncode == 0, done.stderr
    assert not clone["marker"].exists()
    assert b"not trusted" in done.stderr and b"dgcode trust" in done.stderr
    assert dgcode(repo, "trust", "--yes").returncode == 0
    done = commit_something(repo, "b.py")
    assert done.returncode == 0, done.stderr
    assert clone["marker"].exists()
    clone["marker"].unlink()
    change_config(clone["config"])
    commit_something(repo, "c.py")
    assert not clone["marker"].exists()


def tui_run(repo: Path, *lines: str) -> list[str]:
    """Start the TUI on the repository's settings, submit each line, wait for what /run does; the notes."""
    from dgcode.tui.app import DgcodeApp

    seen: list[str] = []

    async def scenario():
        app = DgcodeApp(repo, load_config(repo), engine=TuiEngine(Script("ok")))
        async with app.run_test(size=(100, 30)) as pilot:
            for line in lines:
                running = line == "/run" and bool(app.main.check_command)
                before = len(notes(app))
                await submit(pilot, line)
                if running:  # its output becomes an attachment once the command has ended
                    await until(pilot, lambda: app.main.panel.attachments != (), what="the command to end")
                else:
                    await until(pilot, lambda seen=before: len(notes(app)) > seen, what=f"{line} to answer")
            seen.extend(notes(app))

    run(scenario)
    return seen


def test_the_tui_run_uses_the_repositorys_command_only_once_trusted(clone) -> None:
    seen = tui_run(clone["repo"], "/run")
    assert not clone["marker"].exists()
    assert any("not trusted" in note for note in seen)
    seen = tui_run(clone["repo"], "/trust", "/run")
    assert any(note.startswith("trusted") for note in seen)
    assert clone["marker"].exists()
    clone["marker"].unlink()
    change_config(clone["config"])
    tui_run(clone["repo"], "/run")
    assert not clone["marker"].exists()


def test_an_interactive_fix_asks_and_a_yes_trusts(clone, monkeypatch) -> None:
    monkeypatch.setattr(cli_fix, "_stdin_is_terminal", lambda: True)
    application = typer.Typer()
    application.command("noop")(lambda: None)
    cli_fix.register(application, open_engine=lambda config, say: ScriptedEngine([]))
    declined = runner.invoke(application, ["fix", "m.py", "--dry-run"], input="n\n")
    assert "trust this config" in declined.stderr and not clone["marker"].exists()
    accepted = runner.invoke(application, ["fix", "m.py", "--dry-run"], input="y\n")
    assert clone["marker"].exists(), accepted.output
    assert load_config(clone["repo"])["fix.cmd"] is not None  # recorded, as `dgcode trust` would
