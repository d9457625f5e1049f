"""`dgcode fix` on the command line: confirmation rules, JSON schema, exit codes, no-model message, real engine."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import git_shim, repo_state  # noqa: E402, F401
from test_fix_pipeline import CHECK, RIGHT, WRONG, ScriptedEngine, repo  # noqa: E402, F401

from dgcode.cli import fix as cli_fix  # noqa: E402
from dgcode.engine.errors import EngineCrashedError, PromptTooLongError  # noqa: E402
from dgcode.trust import config_digest, trust_config_file  # noqa: E402

runner = CliRunner()
ROUND_KEYS = {"round", "files", "prompt_tokens", "generation", "edits", "problems", "changes", "applied",
              "files_changed", "command_before"}
REPORT_KEYS = {"status", "exit_code", "message", "command", "dry_run", "files_changed", "rounds", "command_runs",
               "final_command", "notes", "timings", "tokens", "tok_per_s"}


@pytest.fixture
def setup(repo: Path, tmp_path: Path, monkeypatch) -> dict:  # noqa: F811  (the imported fixture)
    """A repository as the working folder, a (dummy) model file configured, no user config."""
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DGCODE_MODEL", str(model))
    for name in ("DGCODE_FIX_CMD", "DGCODE_FIX_ROUNDS", "DGCODE_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
    return {"repo": repo, "model": model}


def app_with(engine: ScriptedEngine) -> typer.Typer:
    application = typer.Typer()
    application.command("noop")(lambda: None)  # a second command, so `fix` stays a subcommand
    cli_fix.register(application, open_engine=lambda config, say: engine)
    return application


def test_yes_applies_and_fixes_in_round_two(setup) -> None:
    engine = ScriptedEngine([WRONG, RIGHT])
    result = runner.invoke(app_with(engine), ["fix", "m.py", "--cmd", CHECK, "--yes"])
    assert result.exit_code == 0, result.output
    assert (setup["repo"] / "m.py").read_text() == "def f():\n    return 2\n"
    assert "+    return 3" in result.stdout and "+    return 2" in result.stdout  # each round's diff
    assert "passes after 2 round(s)" in result.stdout
    assert "running" in result.stderr and "tok/s" in result.stderr  # progress on stderr
    assert engine.closed


def test_gives_up_with_exit_one(setup) -> None:
    engine = ScriptedEngine([WRONG, WRONG.replace("return 1", "return 3").replace("return 3\n>", "return 4\n>")])
    result = runner.invoke(app_with(engine), ["fix", "m.py", "--cmd", CHECK, "--rounds", "2", "--yes"])
    assert result.exit_code == 1, result.output
    assert "gave up after 2 round(s)" in result.stdout


def test_without_a_terminal_and_without_yes_nothing_is_written(setup) -> None:
    before = repo_state(setup["repo"])
    result = runner.invoke(app_with(ScriptedEngine([WRONG])), ["fix", "m.py", "--cmd", CHECK])
    assert result.exit_code == 1
    assert "+    return 3" in result.stdout  # the diff is shown
    assert "rerun with --yes" in result.stdout
    assert repo_state(setup["repo"]) == before


@pytest.mark.parametrize("answer, code, text", [("n\n", 1, "def f():\n    return 1\n"),
                                                 ("y\n", 0, "def f():\n    return 3\n")])
def test_in_a_terminal_it_asks(setup, monkeypatch, answer: str, code: int, text: str) -> None:
    monkeypatch.setattr(cli_fix, "_stdin_is_terminal", lambda: True)
    result = runner.invoke(app_with(ScriptedEngine([WRONG])), ["fix", "m.py", "-m", "make f return 3"],
                           input=answer)
    assert result.exit_code == code, result.output
    assert "apply these edits" in result.stderr
    assert (setup["repo"] / "m.py").read_text() == text


def test_dry_run_shows_the_diff_and_writes_nothing(setup) -> None:
    before = repo_state(setup["repo"])
    result = runner.invoke(app_with(ScriptedEngine([WRONG])), ["fix", "m.py", "--cmd", CHECK, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "+    return 3" in result.stdout and "nothing was written" in result.stdout
    assert repo_state(setup["repo"]) == before


def test_json_schema(setup) -> None:
    result = runner.invoke(app_with(ScriptedEngine([WRONG, RIGHT])), ["fix", "m.py", "--cmd", CHECK, "--yes",
                                                                      "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == REPORT_KEYS
    assert document["status"] == "fixed" and document["exit_code"] == 0 and document["files_changed"] == ["m.py"]
    assert [set(r) for r in document["rounds"]] == [ROUND_KEYS, ROUND_KEYS]
    first = document["rounds"][0]
    assert first["applied"] and first["edits"][0]["status"] == "applied" and first["changes"][0]["file"] == "m.py"
    assert set(first["generation"]) == {"tokens", "steps", "stop_reason", "prefill_ms", "wall_s", "tok_per_s"}
    assert first["command_before"]["passed"] is False and "f() should be 2" in first["command_before"]["output_tail"]
    assert document["command_runs"] == 3 and document["final_command"]["passed"] is True
    assert set(document["timings"]) == {"total_s", "model_s", "command_s"}
    assert document["tokens"] > 0 and document["tok_per_s"] > 0


def test_json_without_yes_reports_not_applied(setup) -> None:
    before = repo_state(setup["repo"])
    result = runner.invoke(app_with(ScriptedEngine([WRONG])), ["fix", "m.py", "--json"])
    document = json.loads(result.stdout)
    assert result.exit_code == 1 and document["status"] == "not_applied" and "--yes" in document["message"]
    assert "+    return 3" in document["rounds"][0]["changes"][0]["diff"]
    assert repo_state(setup["repo"]) == before


def test_no_model_and_no_embedded_model_is_a_usage_error_with_directions(setup, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("DGCODE_MODEL")
    monkeypatch.setattr("dgcode.repair.embedded.EMBEDDED_MODEL", tmp_path / "not-installed.gguf")
    engine = ScriptedEngine([])
    result = runner.invoke(app_with(engine), ["fix", "m.py"])
    assert result.exit_code == 2
    assert "no model configured" in result.stderr and "--model PATH.gguf" in result.stderr
    assert "DGCODE_MODEL" in result.stderr and "no embedded model" in result.stderr
    assert engine.prompts == []


def test_a_missing_model_file_names_where_it_was_set(setup, monkeypatch) -> None:
    monkeypatch.setenv("DGCODE_MODEL", "/nowhere/model.gguf")
    result = runner.invoke(app_with(ScriptedEngine([])), ["fix", "m.py"])
    assert result.exit_code == 2 and "/nowhere/model.gguf does not exist" in result.stderr
    assert "env DGCODE_MODEL" in result.stderr


def test_bad_config_and_bad_paths_are_usage_errors(setup, tmp_path: Path) -> None:
    (setup["repo"] / ".dgcode.toml").write_text("[fix]\nrounds = 'many'\n")
    result = runner.invoke(app_with(ScriptedEngine([])), ["fix", "m.py"])
    assert result.exit_code == 2 and "fix.rounds must be a whole number >= 1, got 'many'" in result.stderr
    (setup["repo"] / ".dgcode.toml").unlink()
    outside = tmp_path / "outside.py"
    outside.write_text("x = 1\n")
    result = runner.invoke(app_with(ScriptedEngine([])), ["fix", str(outside)])
    assert result.exit_code == 2 and "outside the repository" in result.stderr


def test_help_documents_exit_codes() -> None:
    result = runner.invoke(app_with(ScriptedEngine([])), ["fix", "--help"])
    assert result.exit_code == 0
    assert "Exit codes" in result.stdout and "usage or configuration error" in result.stdout


def test_real_engine_runs_end_to_end_and_writes_nothing(setup, models, monkeypatch) -> None:
    """A random-weight model answers noise: the pipeline must run through and report no usable edits."""
    monkeypatch.setenv("DGCODE_MODEL", str(models["dream"]))
    monkeypatch.setenv("DGCODE_N_CTX", "2048")
    monkeypatch.setenv("DGCODE_THREADS", "1")
    monkeypatch.setenv("DGCODE_SUB_BLOCK", "8")
    monkeypatch.setenv("DGCODE_MAX_TOKENS", "8")
    application = typer.Typer()
    application.command("noop")(lambda: None)
    cli_fix.register(application)  # the real EngineClient
    before = repo_state(setup["repo"])
    result = runner.invoke(application, ["fix", "m.py", "-m", "make f return 2", "--rounds", "1", "--yes",
                                         "--json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "failed" and len(document["rounds"]) == 1
    round_ = document["rounds"][0]
    assert round_["generation"]["tokens"] > 0 and round_["prompt_tokens"] > 0 and not round_["applied"]
    assert round_["problems"] and document["files_changed"] == []
    assert "loading model dream.gguf" in result.stderr
    assert repo_state(setup["repo"]) == before


def test_the_check_command_can_come_from_the_repository_config(setup) -> None:
    (setup["repo"] / ".dgcode.toml").write_text(f"[fix]\ncmd = '''{CHECK}'''\nrounds = 1\n")
    trust_config_file(setup["repo"] / ".dgcode.toml", config_digest((setup["repo"] / ".dgcode.toml").read_bytes()))
    result = runner.invoke(app_with(ScriptedEngine([RIGHT.replace("return 3", "return 1")])),
                           ["fix", "m.py", "--yes", "--json"])
    document = json.loads(result.stdout)
    assert result.exit_code == 0 and document["status"] == "fixed" and document["command"] == CHECK
    assert "from repo" in result.stderr and ".dgcode.toml" in result.stderr


class FailingEngine(ScriptedEngine):
    def __init__(self, error: Exception):
        super().__init__([])
        self.error = error

    def generate(self, messages, settings, on_step=None):
        raise self.error


@pytest.mark.parametrize("error, code, status", [
    (PromptTooLongError("prompt of 9000 tokens plus an answer of 512 needs 9512 positions"), 2, None),
    (EngineCrashedError("the engine process killed by SIGABRT while generating"), 1, "error"),
])
def test_engine_failures(setup, error, code: int, status) -> None:
    result = runner.invoke(app_with(FailingEngine(error)), ["fix", "m.py", "--yes", "--json"])
    assert result.exit_code == code
    if status is None:
        assert str(error) in result.stderr and result.stdout == ""
    else:
        document = json.loads(result.stdout)
        assert document["status"] == status and str(error) in document["message"]
