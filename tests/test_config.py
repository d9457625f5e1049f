"""Settings: precedence of defaults, user file, repo file, environment and flags; error messages; `config show`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dgcode.cli.fix import register
from dgcode.config import KEYS, ConfigError, load_config, user_config_file
from dgcode.trust import config_digest, trust_config_file

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    """A home folder with ~/.config as the user config folder and no DGCODE_* settings in the environment."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder / ".config"))
    for spec in KEYS.values():
        monkeypatch.delenv(spec.env_name, raising=False)
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    (folder / ".git").mkdir(parents=True)  # find_repo_file stops at the folder holding .git
    (folder / "src" / "pkg").mkdir(parents=True)
    return folder


def write_user(home: Path, text: str) -> Path:
    path = home / ".config" / "dgcode" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_user_file_is_in_the_platform_config_folder(home: Path) -> None:
    assert user_config_file() == home / ".config" / "dgcode" / "config.toml"


def test_defaults_when_nothing_is_set(home: Path, repo: Path) -> None:
    config = load_config(repo)
    assert config["model"] is None and config["threshold"] == 0.9 and config["fix.rounds"] == 3
    assert config["hook.strict"] is False and config["sub_block"] == 32
    assert {config.setting(key).source for key in config} == {"default"}
    assert set(config) == set(KEYS)


def test_each_layer_overrides_the_one_below(home: Path, repo: Path, monkeypatch) -> None:
    write_user(home, "threshold = 0.5\nmax_tokens = 100\nn_ctx = 1024\n[fix]\nrounds = 4\n")
    (repo / ".dgcode.toml").write_text("threshold = 0.6\nmax_tokens = 200\nfix.rounds = 5\n")
    monkeypatch.setenv("DGCODE_THRESHOLD", "0.7")
    monkeypatch.setenv("DGCODE_FIX_ROUNDS", "6")
    config = load_config(repo / "src" / "pkg", flags={"fix.rounds": 7, "model": None})
    assert (config["n_ctx"], config.setting("n_ctx").source) == (1024, "user")
    assert config.setting("n_ctx").where == "~/.config/dgcode/config.toml"
    assert (config["max_tokens"], config.setting("max_tokens").source) == (200, "repo")
    assert config.setting("max_tokens").where.endswith("repo/.dgcode.toml")
    assert (config["threshold"], config.setting("threshold").describe_source()) == (0.7, "env DGCODE_THRESHOLD")
    assert (config["fix.rounds"], config.setting("fix.rounds").describe_source()) == (7, "flag --rounds")
    assert config.setting("model").source == "default"  # a flag given as None is a flag not given
    monkeypatch.delenv("DGCODE_THRESHOLD")
    assert load_config(repo)["threshold"] == 0.6


def test_environment_values_are_parsed_and_empty_means_unset(home: Path, repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("DGCODE_HOOK_STRICT", "yes")
    monkeypatch.setenv("DGCODE_HOOK_BUDGET_S", "2.5")
    monkeypatch.setenv("DGCODE_MODEL", "~/models/m.gguf")
    monkeypatch.setenv("DGCODE_FIX_CMD", "")
    monkeypatch.setenv("DGCODE_CACHE_DIR", "/somewhere")  # someone else's variable: not checked
    config = load_config(repo)
    assert config["hook.strict"] is True and config["hook.budget_s"] == 2.5
    assert config["model"] == home / "models" / "m.gguf"
    assert config["fix.cmd"] is None and config.setting("fix.cmd").source == "default"


def test_a_relative_model_path_in_a_file_is_relative_to_that_file(home: Path, repo: Path) -> None:
    (repo / ".dgcode.toml").write_text('model = "models/tiny.gguf"\n')
    assert load_config(repo / "src")["model"] == repo / "models" / "tiny.gguf"


def test_the_repo_file_is_looked_for_up_to_the_repository_top_only(home: Path, repo: Path) -> None:
    (repo.parent / ".dgcode.toml").write_text("threshold = 0.1\n")  # above the repository: not ours
    assert load_config(repo / "src" / "pkg").setting("threshold").source == "default"
    (repo / "src" / ".dgcode.toml").write_text("threshold = 0.2\n")
    assert load_config(repo / "src" / "pkg")["threshold"] == 0.2


@pytest.mark.parametrize("text, message", [
    ("threshold = 'high'\n", "~/.config/dgcode/config.toml: threshold must be a number between 0 and 1, got 'high'"),
    ("threshold = 1.5\n", "~/.config/dgcode/config.toml: threshold must be a number between 0 and 1, got 1.5"),
    ("treshold = 0.5\n", "~/.config/dgcode/config.toml: unknown key 'treshold'; did you mean 'threshold'?"),
    ("[fix]\nroundz = 2\n", "~/.config/dgcode/config.toml: unknown key 'fix.roundz'; did you mean 'fix.rounds'?"),
    ("[fix]\nrounds = true\n", "~/.config/dgcode/config.toml: fix.rounds must be a whole number >= 1, got true"),
    ("fix = 3\n", "~/.config/dgcode/config.toml: fix must be a table ([fix]) with the keys rounds, cmd, timeout_s"),
    ("sub_block = 1000\n", "~/.config/dgcode/config.toml: sub_block must be a whole number between 1 and 256"),
    ("[hook]\nstrict = 'yes'\n", "~/.config/dgcode/config.toml: hook.strict must be true or false, got 'yes'"),
    ("model = 3\n", "~/.config/dgcode/config.toml: model must be a path to a .gguf file (a string), got 3"),
    ("threshold = \n", "~/.config/dgcode/config.toml: not valid TOML"),
])
def test_invalid_user_file_names_file_key_and_expectation(home: Path, repo: Path, text: str, message: str) -> None:
    write_user(home, text)
    with pytest.raises(ConfigError) as caught:
        load_config(repo)
    assert str(caught.value).startswith(message)


def test_invalid_repo_file_and_environment_are_named(home: Path, repo: Path, monkeypatch) -> None:
    (repo / ".dgcode.toml").write_text("[fix]\nrounds = 0\n")
    with pytest.raises(ConfigError, match=r"repo/\.dgcode\.toml: fix\.rounds must be a whole number >= 1, got 0"):
        load_config(repo)
    (repo / ".dgcode.toml").unlink()
    monkeypatch.setenv("DGCODE_FIX_ROUNDS", "zero")
    with pytest.raises(ConfigError) as caught:
        load_config(repo)
    assert str(caught.value) == "DGCODE_FIX_ROUNDS: fix.rounds must be a whole number >= 1, got 'zero'"
    monkeypatch.delenv("DGCODE_FIX_ROUNDS")
    with pytest.raises(ConfigError, match=r"^--threshold: threshold must be a number between 0 and 1, got 2"):
        load_config(repo, flags={"threshold": 2})


def test_a_file_that_is_not_utf8_is_reported(home: Path, repo: Path) -> None:
    (repo / ".dgcode.toml").write_bytes(b"threshold = 0.5 # \xff\n")
    with pytest.raises(ConfigError, match=r"\.dgcode\.toml: not valid TOML"):
        load_config(repo)


def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


def test_config_show_json_and_text(home: Path, repo: Path, monkeypatch) -> None:
    (repo / ".dgcode.toml").write_text("[fix]\ncmd = 'pytest -x'\n")
    monkeypatch.setenv("DGCODE_THRESHOLD", "0.75")
    monkeypatch.chdir(repo)
    result = runner.invoke(app(), ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["settings"]["fix.cmd"]["value"] is None  # a command from the repository: not until trusted
    assert document["untrusted"] == {"file": str(repo / ".dgcode.toml"), "keys": ["fix.cmd"]}
    assert "not trusted" in runner.invoke(app(), ["config", "show"]).stdout
    trust_config_file(repo / ".dgcode.toml", config_digest((repo / ".dgcode.toml").read_bytes()))
    result = runner.invoke(app(), ["config", "show", "--json"])
    document = json.loads(result.stdout)
    assert set(document["settings"]) == set(KEYS)
    assert document["settings"]["threshold"] == {"value": 0.75, "source": "env", "where": "DGCODE_THRESHOLD"}
    assert document["settings"]["fix.cmd"]["value"] == "pytest -x" and document["untrusted"] is None
    assert document["settings"]["fix.cmd"]["source"] == "repo"
    assert document["settings"]["model"] == {"value": None, "source": "default", "where": ""}
    assert document["files"] == {"user": None, "repo": str(repo / ".dgcode.toml")}
    text = runner.invoke(app(), ["config", "show"]).stdout
    threshold_line = next(line for line in text.splitlines() if line.startswith("threshold "))
    assert "0.75" in threshold_line and "env DGCODE_THRESHOLD" in threshold_line


def test_config_show_with_a_bad_file_exits_2(home: Path, repo: Path, monkeypatch) -> None:
    write_user(home, "n_ctx = 'big'\n")
    monkeypatch.chdir(repo)
    result = runner.invoke(app(), ["config", "show"])
    assert result.exit_code == 2
    assert "~/.config/dgcode/config.toml: n_ctx must be a whole number >= 128, got 'big'" in result.stderr


def test_typed_views_give_each_table_its_types(home: Path, repo: Path) -> None:
    (repo / ".dgcode.toml").write_text("threshold = 0.6\n[fix]\nrounds = 5\ntimeout_s = 7\n[hook]\nstrict = true\n")
    config = load_config(repo)
    assert config.fix.rounds == 5 and config.fix.timeout_s == 7.0 and isinstance(config.fix.timeout_s, float)
    assert config.fix.cmd is None and config.hook.strict is True and config.hook.budget_s == 20.0
    assert config.sampling.threshold == 0.6 and config.sampling.max_tokens == 512
