"""Mouse capture off: the `mouse` setting (DGCODE_MOUSE) and `dgcode --no-mouse` run the app with mouse=False."""

from __future__ import annotations

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from tui_fakes import two_file_repo
from typer.testing import CliRunner

from dgcode.cli import main as cli_main
from dgcode.config import ConfigError, load_config
from dgcode.tui import app as tui_app

runner = CliRunner()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.delenv("DGCODE_MOUSE", raising=False)
    monkeypatch.delenv("DGCODE_MODEL", raising=False)
    return two_file_repo(tmp_path / "repo")


def test_the_mouse_setting(repo):
    assert load_config(repo, env={})["mouse"] is True
    assert load_config(repo, env={"DGCODE_MOUSE": "false"})["mouse"] is False
    assert load_config(repo, env={"DGCODE_MOUSE": "0"}).setting("mouse").source == "env"
    assert load_config(repo, env={}, flags={"mouse": False})["mouse"] is False
    with pytest.raises(ConfigError):
        load_config(repo, env={"DGCODE_MOUSE": "sometimes"})


@pytest.fixture
def runs(monkeypatch, repo):
    made: list[dict] = []
    monkeypatch.chdir(repo)
    monkeypatch.setattr(cli_main, "_has_terminal", lambda: True)
    monkeypatch.setattr(tui_app.DgcodeApp, "run", lambda self, **options: made.append(options))
    return made


def test_no_mouse_reaches_the_apps_run(runs):
    result = runner.invoke(cli_main.app, ["--no-mouse"])
    assert result.exit_code == 0, result.output
    assert runs == [{"mouse": False}]


def test_the_mouse_is_captured_by_default(runs):
    result = runner.invoke(cli_main.app, [])
    assert result.exit_code == 0, result.output
    assert runs == [{}]
