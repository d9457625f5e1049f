"""Shared fixtures: small random-weight GGUF models built with the `gguf` package, a private cache folder."""

from __future__ import annotations

import os

import pytest
from git_shim import git_shim  # noqa: F401  (autouse: every test runs with the logging, blocking git shim)

from dgcode.engine.synthetic import special_token_ids, with_changes, write_synthetic_gguf

ON_LIBLLAMA = "DGCODE_TESTS_ON_LIBLLAMA"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Aliased copies and synthetic models go to a per-session temp folder, never the user's cache; the engine
    loads llama-cpp-python's own library (tests/test_libllama.py chooses dgcode's build where it means to),
    except in a pytest process started on dgcode's build on purpose (ON_LIBLLAMA: masked_rows_checks.py)."""
    monkeypatch.setenv("DGCODE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "dgcode-cache"))
    if os.environ.get(ON_LIBLLAMA) != "1":
        monkeypatch.delenv("DGCODE_LIBLLAMA", raising=False)


@pytest.fixture(autouse=True)
def quiet_git(monkeypatch, tmp_path_factory):
    """No user or system git config leaks into tests (hooks, templates, identities)."""
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("DGCODE_DATA_DIR", str(tmp_path_factory.mktemp("data")))  # trust record, pulled models
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)  # warm-server records: under this test's data folder


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Paths of tiny models: f32 weights so logits can be compared exactly."""
    folder = tmp_path_factory.mktemp("models")
    built = {}
    for arch in ("dream", "llada", "qwen2", "llama"):
        built[arch] = write_synthetic_gguf(folder / f"{arch}.gguf", "test", arch=arch, dtype="f32", seed=1)
    built["qwen2-no-mask"] = write_synthetic_gguf(folder / "qwen2-no-mask.gguf", "test", arch="qwen2",
                                                  dtype="f32", with_mask_token=False, seed=1)
    return built


@pytest.fixture(scope="session")
def test_ids():
    return special_token_ids("test")


@pytest.fixture(scope="session")
def one_layer(tmp_path_factory):
    """1-layer models: keys and values depend on token and position only, so a stale cache cell cannot show."""
    folder = tmp_path_factory.mktemp("one-layer")
    shape = with_changes("test", n_layer=1)
    return {arch: write_synthetic_gguf(folder / f"{arch}.gguf", shape, arch=arch, dtype="f32", seed=2)
            for arch in ("dream", "llada")}
