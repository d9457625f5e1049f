"""`models list / verify / rm` through typer's CliRunner on a private registry and data folder.

Models are real (tiny, synthetic) GGUF files placed where `pull` puts them;
aliased copies are made by the engine's own ensure_aliased_copy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dgcode.cli import models as cli_models
from dgcode.engine.alias import default_cache_dir, ensure_aliased_copy
from dgcode.engine.model_file import read_model_info
from dgcode.engine.synthetic import write_synthetic_gguf
from dgcode.models import store
from dgcode.models.pull import sha256_of
from dgcode.models.registry import load_registry

REGISTRY = """
[models.tiny-dream]
aliases = ["tiny"]
upstream = "test-org/tiny"
repo = "test-org/tiny-GGUF"
verified = true
architecture = "dream"
mask_token_id = 383
shift_logits = true
default_quant = "Q8_0"
files.Q8_0 = { file = "tiny.Q8_0.gguf" }
files.F16 = { file = "tiny.f16.gguf" }
[models.tiny-dream.sampler]
schedule = "threshold"
algorithm = "confidence"

[models.tiny-llada]
upstream = "test-org/tiny-llada"
repo = "test-org/tiny-llada-GGUF"
architecture = "llada"
mask_token_id = 383
shift_logits = false
note = "test entry"
files.Q8_0 = { file = "tiny-llada.Q8_0.gguf" }
[models.tiny-llada.sampler]
schedule = "block"
algorithm = "confidence"
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch):
    registry_file = tmp_path / "registry.toml"
    registry_file.write_text(REGISTRY)
    monkeypatch.setenv("DGCODE_REGISTRY", str(registry_file))
    monkeypatch.setenv("DGCODE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DGCODE_CACHE_DIR", str(tmp_path / "cache"))  # this test's aliased copies only
    return load_registry()


@pytest.fixture(scope="module")
def tiny_dream(tmp_path_factory) -> bytes:
    return write_synthetic_gguf(tmp_path_factory.mktemp("src") / "t.gguf", "test", arch="dream").read_bytes()


def run(*args: str, stdin: str | None = None):
    app = typer.Typer()
    cli_models.register(app)
    return CliRunner().invoke(app, list(args), input=stdin)


def place(registry, name: str, quant: str, data: bytes, *, record_sha: bool = True) -> Path:
    """Put a file where `pull` would, with the download record it writes."""
    path = store.local_path(registry.get(name), quant)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if record_sha:
        store.write_record(path, {"sha256": sha256_of(path), "checked_against": "hub"})
    return path


def test_list_json_shows_every_entry_and_what_is_downloaded(env, tiny_dream):
    path = place(env, "tiny", "Q8_0", tiny_dream)
    partial = store.part_path(store.local_path(env.get("tiny"), "F16"))
    partial.write_bytes(b"GGUF" + b"\0" * 96)
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["models_dir"] == str(store.models_dir())
    tiny, llada = document["models"]
    assert (tiny["name"], tiny["default_quant"], tiny["quants"], tiny["aliases"]) == (
        "tiny-dream", "Q8_0", ["Q8_0", "F16"], ["tiny"])
    assert tiny["downloaded"] == [{"quant": "Q8_0", "path": str(path), "size_bytes": len(tiny_dream),
                                   "complete": True}]
    assert tiny["partial"] == [{"quant": "F16", "path": str(partial), "size_bytes": 100, "complete": False}]
    assert (llada["downloaded"], llada["partial"], llada["verified"]) == ([], [], False)


def test_list_table_is_readable(env, tiny_dream):
    place(env, "tiny", "Q8_0", tiny_dream)
    result = run("list")
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    row = next(line for line in lines if line.startswith("tiny-dream"))
    assert "dream" in row and "Q8_0" in row and "F16" in row and "checked" in row
    assert "unverified" in next(line for line in lines if line.startswith("tiny-llada"))


def test_rm_deletes_the_model_and_its_aliased_copy_only(env, tiny_dream, tmp_path):
    path = place(env, "tiny", "Q8_0", tiny_dream)
    store.part_path(store.local_path(env.get("tiny"), "F16")).write_bytes(b"GGUF partial")
    copy = ensure_aliased_copy(read_model_info(path))
    other_source = tmp_path / "elsewhere.gguf"
    other_source.write_bytes(tiny_dream)
    other_copy = ensure_aliased_copy(read_model_info(other_source))
    assert copy.exists() and copy.with_suffix(".json").exists() and other_copy.exists()
    assert store.aliased_copies(path) == [copy, copy.with_suffix(".json")]

    refused = run("rm", "tiny")  # stdin is not a terminal: no silent deletion
    assert refused.exit_code == 1 and "confirm with --yes" in refused.stderr and path.exists()

    result = run("rm", "TINY", "--yes")
    assert result.exit_code == 0, result.output
    assert "removed 5 files" in result.stdout
    assert not path.exists() and not copy.exists() and not copy.with_suffix(".json").exists()
    assert not (store.models_dir() / "tiny-dream").exists()
    assert other_copy.exists() and other_copy.with_suffix(".json").exists()
    assert sorted(p.name for p in (default_cache_dir() / "aliased").iterdir()) == sorted(
        [other_copy.name, other_copy.with_suffix(".json").name])
    again = run("rm", "tiny", "--yes")
    assert again.exit_code == 1 and "tiny-dream is not downloaded; nothing to remove" in again.stderr


def test_rm_asks_at_a_terminal_and_can_remove_one_quantization(env, tiny_dream, monkeypatch):
    q8 = place(env, "tiny", "Q8_0", tiny_dream)
    f16 = place(env, "tiny", "F16", tiny_dream)
    monkeypatch.setattr(cli_models, "_stdin_is_terminal", lambda: True)
    declined = run("rm", "tiny", "--quant", "f16", stdin="n\n")
    assert declined.exit_code == 1 and f16.exists()
    accepted = run("rm", "tiny:F16", stdin="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert not f16.exists() and not store.record_path(f16).exists() and q8.exists()


def test_verify_a_good_model_by_name_and_by_path(env, tiny_dream, tmp_path):
    path = place(env, "tiny", "Q8_0", tiny_dream)
    by_name = run("verify", "tiny")
    assert by_name.exit_code == 0, by_name.output
    assert by_name.stdout.strip() == f"ok: {path}, sha256 matches the download record"
    report = json.loads(run("verify", str(path), "--json").stdout)
    assert (report["ok"], report["model"], report["quant"], report["architecture"]) == (
        True, "tiny-dream", "Q8_0", "dream")
    assert report["sha256"] == report["expected_sha256"] and report["expected_from"] == "download record"
    loose = tmp_path / "loose.gguf"
    loose.write_bytes(tiny_dream)
    outside = run("verify", str(loose))
    assert outside.exit_code == 0 and "no known sha256 to compare with" in outside.stderr


def test_verify_catches_a_truncated_file(env, tiny_dream):
    path = place(env, "tiny", "Q8_0", tiny_dream[: len(tiny_dream) - 1000], record_sha=False)
    result = run("verify", "tiny")
    assert result.exit_code == 1
    assert "problem: model file is truncated" in result.stderr and str(path) in result.stderr
    assert result.stdout == ""


def test_verify_catches_changed_bytes_and_a_wrong_architecture(env, tiny_dream):
    path = place(env, "tiny", "Q8_0", tiny_dream)
    with open(path, "r+b") as fh:  # flip the last byte of tensor data: the header still reads fine
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 0xFF]))
    changed = run("verify", "tiny", "--json")
    assert changed.exit_code == 1
    (problem,) = json.loads(changed.stdout)["problems"]
    assert "does not match the download record's" in problem
    wrong = place(env, "tiny-llada", "Q8_0", tiny_dream)  # a dream file filed under a llada entry
    result = run("verify", str(wrong))
    assert result.exit_code == 1 and "architecture is 'dream' but tiny-llada is 'llada'" in result.stderr


def test_verify_a_name_that_is_not_downloaded_is_a_usage_error(env):
    result = run("verify", "tiny")
    assert result.exit_code == 2
    assert "model 'tiny-dream' is not downloaded: run `dgcode models pull tiny-dream`" in result.stderr
    broken = run("verify", "tiny:Q4_0")
    assert broken.exit_code == 2 and "tiny-dream has no Q4_0 file" in broken.stderr
