"""One model API: a pulled model's registry name works in every front end, with its mask token and sampler.

The fake pulled model is a real (tiny, random-weight) GGUF stored under an
autoregressive architecture with no mask token in its header, placed where
``dgcode models pull`` would put it, in a temporary data folder with a
temporary registry.  Only the registry knows its mask token, so a front end
that bypassed the registry could not run it at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from git_shim import REAL_GIT, git_shim, init_repo, real_git  # noqa: F401  (autouse fixture)
from test_hook_support import install_hook
from tui_pilot import notes, run, submit, until

from dgcode.config import load_config
from dgcode.models.registry import load_registry
from dgcode.models.store import local_path
from dgcode.workflows.model import NoModelConfigured, choose_model, sampler_settings

REGISTRY = """
schema = 1

[models.tiny-block]
display_name = "Tiny block diffusion (test)"
upstream = "test/tiny"
repo = "test/tiny-GGUF"
architecture = "qwen2"
mask_token_id = {mask}
shift_logits = true
default_quant = "F32"
files.F32 = {{ file = "tiny-block.f32.gguf" }}

[models.tiny-block.sampler]
schedule = "threshold"
algorithm = "margin"
threshold = 0.55
sub_block = 16
"""


@pytest.fixture
def pulled(tmp_path: Path, monkeypatch, models, test_ids) -> dict:
    """``tiny-block`` pulled into a temporary data folder; no model configured anywhere else."""
    mask = test_ids["eos"] - 1  # a token of the header's vocabulary; the header itself names no mask
    registry_file = tmp_path / "registry.toml"
    registry_file.write_text(REGISTRY.format(mask=mask))
    monkeypatch.setenv("DGCODE_REGISTRY", str(registry_file))
    monkeypatch.setenv("DGCODE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DGCODE_MODEL", raising=False)
    entry = load_registry().find("tiny-block")
    target = local_path(entry)
    target.parent.mkdir(parents=True)
    shutil.copy(models["qwen2-no-mask"], target)
    repo = init_repo(tmp_path / "repo")
    (repo / "m.py").write_text("def f():\n    return 1\n")
    real_git(repo, "add", "m.py")
    real_git(repo, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    monkeypatch.chdir(repo)
    return {"mask": mask, "path": target, "repo": repo}


def test_a_registry_name_resolves_with_its_mask_and_sampler(pulled) -> None:
    config = load_config(pulled["repo"], flags={"model": "tiny-block"})
    choice = choose_model(config)
    assert choice.path == pulled["path"] and choice.entry.name == "tiny-block"
    assert choice.mask_token_id == pulled["mask"]
    settings = sampler_settings(config, choice)
    assert (settings.algorithm, settings.threshold, settings.sub_block_size) == ("margin", 0.55, 16)


def test_the_users_settings_win_over_the_registry(pulled) -> None:
    config = load_config(pulled["repo"], flags={"model": "tiny-block", "threshold": "0.8", "mask_token_id": "3"})
    choice = choose_model(config)
    settings = sampler_settings(config, choice)
    assert settings.threshold == 0.8 and settings.algorithm == "margin"  # the registry's, where not set
    assert choice.mask_token_id == 3


def test_no_model_is_one_error_with_directions(pulled, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("dgcode.repair.embedded.EMBEDDED_MODEL", tmp_path / "not-installed.gguf")
    with pytest.raises(NoModelConfigured, match="DGCODE_MODEL"):
        choose_model(load_config(pulled["repo"]), embedded=False)


def dgcode(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dgcode", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_generate_runs_a_pulled_name(pulled) -> None:
    done = dgcode("generate", "hello", "--model", "tiny-block", "--max-tokens", "16", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tokens"] <= 16


def test_fix_runs_a_pulled_name(pulled) -> None:
    done = dgcode("fix", "m.py", "-m", "return 2", "--model", "tiny-block", "--dry-run", "--json")
    assert done.returncode in (0, 1), done.stderr  # random weights rarely make a usable edit; they must run
    report = json.loads(done.stdout)
    assert report["rounds"] and report["rounds"][0]["generation"]["tokens"] > 0
    assert "loading model tiny-block.f32.gguf" in done.stderr


def test_the_hook_runs_a_pulled_name(pulled) -> None:
    repo = pulled["repo"]
    install_hook(repo)
    (repo / "m.py").write_text("def f():\n    return 3\n")
    real_git(repo, "add", "m.py")
    check = f"{sys.executable} -c \"import m; assert m.f() == 2\""
    env = {**__import__("os").environ, "DGCODE_MODEL": "tiny-block", "DGCODE_FIX_CMD": check,
           "DGCODE_FIX_ROUNDS": "1"}
    done = subprocess.run([REAL_GIT, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m",
                           "x"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert "not found" not in done.stderr, done.stderr  # the name was resolved, not taken as a path
    assert "loading model tiny-block.f32.gguf" in done.stderr, done.stderr


def test_the_tui_starts_on_a_pulled_name_and_switches_to_it(pulled, models) -> None:
    from dgcode.tui.app import DgcodeApp

    config = load_config(pulled["repo"], flags={"model": "tiny-block"})
    app = DgcodeApp(pulled["repo"], config)
    assert app.settings.algorithm == "margin" and app.settings.threshold == 0.55
    engine = app.engine
    assert Path(engine.client.model_path) == pulled["path"]
    assert engine.client.options.mask_token_id == pulled["mask"]
    engine.close()

    async def scenario():
        switching = DgcodeApp(pulled["repo"], load_config(pulled["repo"]))
        async with switching.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/model tiny-block")
            await until(pilot, lambda: switching.engine is not None and not switching.main.switching,
                        timeout=60, what="the switch")
            assert Path(switching.engine.client.model_path) == pulled["path"], notes(switching)
            assert switching.engine.client.options.mask_token_id == pulled["mask"]

    run(scenario, timeout=90)


def test_bench_runs_a_pulled_name(pulled) -> None:
    done = dgcode("bench", "--model", "tiny-block", "--prompt-tokens", "16", "--gen-tokens", "8", "--steps", "4",
                  "--sub-block", "8", "--modes", "dgcode", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows[0]["mode"] == "dgcode" and rows[0]["tokens"] == 8
