"""The command line's rough edges: answers piped unchanged, no TUI without a terminal, -h/--version/completion,
plain help placeholders, dgcode's own words for bad values, the embedded-model note, Ctrl+C at a prompt, and
edits kept inside a named line range."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import git_shim, init_repo, real_git  # noqa: E402, F401
from test_fix_pipeline import ScriptedEngine, edit  # noqa: E402

from dgcode.cli import fix as cli_fix  # noqa: E402
from dgcode.cli import main as cli_main  # noqa: E402
from dgcode.workflows.fix.pipeline import FixRequest, run_fix  # noqa: E402

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"<\w+(\[[^\]]*\])?>|\{\w+\}")
"""Typer's Python-type placeholders: <bool>, <str>, <list[str]>, {prompt}."""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DGCODE_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(ROOT), COLUMNS="80", **extra)
    return env


# --- 1. the answer reaches stdout unchanged -----------------------------------------------------------


ANSWER = "x = " + "1 + " * 75 + "1\nprint('[bold]not markup[/bold]')\n"  # a 304-character line, and markup


def test_the_answer_goes_through_a_pipe_byte_for_byte(tmp_path: Path) -> None:
    code = f"from dgcode.cli.main import write_answer; write_answer({ANSWER!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, env=_env(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ANSWER.encode()


def test_generate_prints_the_answer_unwrapped(monkeypatch, tmp_path: Path) -> None:
    class FakeClient:
        def __init__(self, path, options):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def start(self, on_progress=None):
            pass

        def generate(self, prompt, settings, on_step=None):
            return SimpleNamespace(text=ANSWER, tokens=[1] * 10, steps=3, tokens_per_step=3.3, tok_per_s=9.0,
                                   stop_reason="eos")

    from dgcode.engine.unmasking import SamplerSettings

    monkeypatch.setattr(cli_main, "_chosen_model", lambda flags: ({}, SimpleNamespace(path=tmp_path / "m.gguf")))
    monkeypatch.setattr("dgcode.engine.worker.EngineClient", FakeClient)
    monkeypatch.setattr("dgcode.workflows.model.sampler_settings", lambda config, choice: SamplerSettings())
    monkeypatch.setattr("dgcode.workflows.model.engine_options", lambda config, choice: None)
    result = runner.invoke(cli_main.app, ["generate", "--no-chat", "hi"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ANSWER


# --- 2. no terminal, no TUI ---------------------------------------------------------------------------


def test_no_command_without_a_terminal_says_so_and_exits_two(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "dgcode"], stdin=subprocess.DEVNULL, capture_output=True,
                            env=_env(tmp_path), cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stdout == b"" and b"\x1b" not in result.stderr
    message = result.stderr.decode()
    assert message.count("\n") == 1 and "needs a terminal" in message
    assert "dgcode fix" in message and "dgcode generate" in message and "dgcode --help" in message


def test_no_command_without_a_terminal_does_not_import_textual(tmp_path: Path) -> None:
    code = ("import sys\nfrom dgcode.cli.main import app\ntry:\n    app([])\nexcept SystemExit as e:\n"
            "    print(e.code, 'textual' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True,
                            env=_env(tmp_path), cwd=tmp_path, timeout=60)
    assert result.stdout.decode().split() == ["2", "False"], result.stderr


# --- 3. flags, help, errors, the embedded note, Ctrl+C --------------------------------------------------


def test_version() -> None:
    result = runner.invoke(cli_main.app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"dgcode {version('dgcode')}\n"


def _command_paths(command, prefix=()):
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*prefix, name))


def test_every_command_takes_dash_h_and_shows_plain_placeholders() -> None:
    paths = list(_command_paths(typer.main.get_command(cli_main.app)))
    assert ("fix",) in paths and ("models", "pull") in paths and ("hook", "run") in paths
    for path in paths:
        result = runner.invoke(cli_main.app, [*path, "-h"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.stdout, path
        assert not PLACEHOLDER.search(result.stdout), (path, PLACEHOLDER.search(result.stdout).group())
    assert "PROMPT" in runner.invoke(cli_main.app, ["generate", "-h"], env={"COLUMNS": "200"}).stdout


def test_shell_completion_is_offered() -> None:
    assert "--install-completion" in runner.invoke(cli_main.app, ["-h"], env={"COLUMNS": "200"}).stdout


@pytest.mark.parametrize("command", ["generate", "bench"])
def test_dash_m_is_not_a_model(command: str) -> None:
    result = runner.invoke(cli_main.app, [command, "-m", "some-model", "x"])
    assert result.exit_code == 2 and "No such option" in result.output and "-m" in result.output
    assert " -m " not in runner.invoke(cli_main.app, [command, "-h"], env={"COLUMNS": "200"}).stdout


@pytest.mark.parametrize("args, wording", [(["fix", "--rounds", "many"], "'many' is not a whole number"),
                                           (["bench", "--prompt-tokens", "1.5"], "'1.5' is not a whole number"),
                                           (["generate", "x", "--threshold", "high"], "'high' is not a number"),
                                           (["fix", "--candidates", "99"], "must be at most 16, not '99'"),
                                           (["fix", "--candidates", "0"], "must be at least 1, not '0'")])
def test_a_bad_number_is_named_in_dgcodes_words(args: list[str], wording: str) -> None:
    result = runner.invoke(cli_main.app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert wording in result.output and "Input should be" not in result.output


def test_the_embedded_model_note_waits_for_a_real_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DGCODE_MODEL", raising=False)
    (tmp_path / "plain").mkdir()
    monkeypatch.chdir(tmp_path / "plain")
    outside = runner.invoke(cli_main.app, ["fix"])
    assert outside.exit_code == 2 and "git" in outside.stderr and "embedded model" not in outside.stderr
    repo = init_repo(tmp_path / "repo")
    (repo / "m.py").write_text("def f():\n    return 1\n")
    monkeypatch.chdir(repo)
    missing = runner.invoke(cli_main.app, ["fix", "nope.py"])
    assert missing.exit_code == 2 and "no such file" in missing.stderr and "embedded model" not in missing.stderr
    ran = runner.invoke(cli_main.app, ["fix", "m.py"])
    assert ran.exit_code == 0, ran.output
    assert [line for line in ran.stderr.splitlines() if "embedded model" in line] == [cli_fix.EMBEDDED_NOTE]


def test_ctrl_c_at_the_trust_prompt_exits_130_without_a_traceback(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / ".dgcode.toml").write_text('[fix]\ncmd = "true"\n')
    leader, follower = os.openpty()  # stdin a terminal, so dgcode asks
    try:
        process = subprocess.Popen([sys.executable, "-m", "dgcode", "trust"], stdin=follower, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=_env(tmp_path), cwd=repo)
        deadline, seen = time.monotonic() + 60, b""
        while b"trust this config" not in seen and time.monotonic() < deadline:
            seen += os.read(process.stderr.fileno(), 4096)
        time.sleep(0.2)  # into input()
        process.send_signal(signal.SIGINT)
        _out, rest = process.communicate(timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert process.returncode == 130, (seen + rest).decode()
    assert b"Traceback" not in rest and b"interrupted" in rest


def test_ctrl_c_at_the_fix_prompt_exits_130(tmp_path: Path, monkeypatch) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "m.py").write_text("def f():\n    return 1\n")
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DGCODE_MODEL", str(model))
    monkeypatch.setattr(cli_fix, "_stdin_is_terminal", lambda: True)

    def interrupted(*_args, **_kwargs):  # what click's prompt does on Ctrl+C
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise typer.Abort() from None

    monkeypatch.setattr(typer, "confirm", interrupted)
    engine = ScriptedEngine([edit("m.py", "    return 1\n", "    return 2\n")])
    application = typer.Typer()
    application.command("noop")(lambda: None)
    cli_fix.register(application, open_engine=lambda config, say: engine)
    result = runner.invoke(application, ["fix", "m.py"])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.stderr and "not applied" in result.stderr
    assert (repo / "m.py").read_text() == "def f():\n    return 1\n" and engine.closed


# --- 4. a named line range bounds the edits (item 7) -----------------------------------------------------


LONG = "".join(f"x{n} = {n}\n" for n in range(1, 31))


@pytest.mark.parametrize("paths, line, allowed", [(("big.py:1-10",), 24, False), (("big.py:1-10",), 5, True),
                                                  (("big.py:1-10", "big.py:20-25"), 24, True),
                                                  (("big.py:1-10", "big.py"), 24, True)])
def test_edits_outside_a_named_range_are_refused(tmp_path: Path, paths, line: int, allowed: bool) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "big.py").write_text(LONG)
    real_git(repo, "add", ".")
    real_git(repo, "commit", "-q", "-m", "base")
    engine = ScriptedEngine([edit("big.py", f"x{line} = {line}\n", f"x{line} = -{line}\n")])
    report = run_fix(FixRequest(repo, paths, rounds=1, cwd=repo), engine)
    expected = LONG.replace(f"x{line} = {line}\n", f"x{line} = -{line}\n") if allowed else LONG
    assert (repo / "big.py").read_text() == expected, report.message
    if not allowed:
        assert report.status == "failed"
        assert any(f"changes line {line}, outside the named line range (1-10)" in p
                   for p in report.rounds[0].problems), report.rounds[0].problems
