"""dgcode's libllama build (kernels/llama/, engine/libllama.py): chosen only when it fits, never a crash.

The choice itself and the fallbacks run everywhere.  The real build (its
patches on the llama.cpp that llama-cpp-python vendors) is used when
``DGCODE_TEST_LIBLLAMA`` names a folder ``dgcode kernels build --into`` made
(.ci/run builds one before the tests); there a Dream model loads with a KV
cache as it is, with no relabelled copy, and answers token for token as the
stock library's path through the copy does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dgcode.engine import libllama
from dgcode.workflows.libllama_build import PROBE, BuildError, build, probe

VERSION = libllama.installed_version()
BUILT = os.environ.get("DGCODE_TEST_LIBLLAMA")
needs_build = pytest.mark.skipif(not BUILT, reason="no dgcode libllama build: set DGCODE_TEST_LIBLLAMA to a folder "
                                 "made by `dgcode kernels build --into FOLDER` (.ci/run does)")


def _fake_build(folder: Path, version: str = VERSION, lib: bytes = b"not a library") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "libllama.so").write_bytes(lib)
    (folder / libllama.RECORD).write_text(json.dumps({"llama_cpp_python": version}))
    return folder


def test_no_build_means_llama_cpp_pythons_own_library_with_nothing_to_say(tmp_path, monkeypatch):
    monkeypatch.delenv(libllama.ENV, raising=False)
    choice = libllama.choose(tmp_path)
    assert choice.folder is None and choice.fallback is None and choice.version == VERSION


def test_a_build_for_the_installed_version_is_chosen(tmp_path, monkeypatch):
    monkeypatch.delenv(libllama.ENV, raising=False)
    folder = _fake_build(libllama.build_folder(VERSION, tmp_path))
    assert libllama.choose(tmp_path).folder == folder
    monkeypatch.setenv(libllama.ENV, "stock")
    assert libllama.choose(tmp_path).folder is None, "DGCODE_LIBLLAMA=stock never uses it"


@pytest.mark.parametrize("problem", ["other version", "no record", "no library", "no folder"])
def test_a_build_that_does_not_fit_falls_back_and_says_why(tmp_path, monkeypatch, problem):
    folder = tmp_path / "build"
    if problem == "other version":
        _fake_build(folder, version="0.0.1")
    elif problem == "no record":
        _fake_build(folder)
        (folder / libllama.RECORD).unlink()
    elif problem == "no library":
        _fake_build(folder)
        (folder / "libllama.so").unlink()
    monkeypatch.setenv(libllama.ENV, str(folder))
    choice = libllama.choose(tmp_path)
    assert choice.folder is None
    wanted = {"other version": f"is for llama-cpp-python 0.0.1, not the installed {VERSION}",
              "no record": "has no readable dgcode-libllama.json", "no library": "has no libllama",
              "no folder": "no such folder"}[problem]
    assert wanted in choice.fallback and wanted in choice.describe()


def test_a_build_that_does_not_load_falls_back_to_the_stock_library(tmp_path):
    """In a fresh process (llama_cpp loads its library once): the bad one is refused, the stock one works."""
    folder = _fake_build(tmp_path / "bad")
    found = probe(folder)
    assert found["features"] == 0 and "did not load" in found["fallback"] and str(folder) in found["fallback"]
    code = PROBE.replace("print(", "module.llama_backend_init(); print(")  # the stock library answers calls
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **{libllama.ENV: str(folder)}))
    assert done.returncode == 0, done.stderr


def test_build_refuses_a_missing_sdist_before_building(tmp_path):
    with pytest.raises(BuildError, match="no such file"):
        build(tmp_path / "nothing.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@needs_build
def test_the_build_loads_and_says_what_it_adds():
    found = probe(Path(BUILT))
    assert found == {"features": libllama.FEATURE_DIFFUSION_CACHE | libllama.FEATURE_FREE_POSITIONS, "fallback": None}


@needs_build
@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_dream_and_llada_load_as_they_are_with_the_same_answer(arch, tmp_path):
    """Stock library: through the relabelled copy; dgcode's build: the file itself, no copy, the same tokens
    (on the window step both times: the build's default step, masked-rows, reads stale cells by design and is
    checked in tests/masked_rows_checks.py)."""
    script = f"""
import json, sys
from pathlib import Path
from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.settings import SamplerSettings
from dgcode.engine.synthetic import write_synthetic_gguf
folder = Path(sys.argv[1])
path = folder / "{arch}.gguf"
if not path.exists():
    write_synthetic_gguf(path, "test", arch="{arch}", dtype="f32", seed=1)
engine = Engine(path, EngineOptions(cache_dir=folder / sys.argv[2], kv_f32=True))
answer = engine.generate(list(range(5, 40)), SamplerSettings(max_tokens=32, canvas_size=32, sub_block_size=16))
described = engine.describe()
print(json.dumps({{"tokens": answer.tokens, "native": described["native_diffusion_cache"],
                  "copy": described["cached_copy"], "has_cache": engine.ctx.has_cache}}))
"""
    runs = {}
    for name, lib in (("stock", "stock"), ("dgcode", BUILT)):
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path), f"cache-{name}"], capture_output=True,
                              text=True, timeout=300,
                              env=dict(os.environ, **{libllama.ENV: lib, "DGCODE_FORWARD_BACKEND": "cached"}))
        assert done.returncode == 0, done.stderr
        runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
    assert runs["stock"]["copy"] is not None and not runs["stock"]["native"]
    assert runs["dgcode"]["copy"] is None and runs["dgcode"]["native"] and runs["dgcode"]["has_cache"]
    assert not (tmp_path / "cache-dgcode").exists(), "no relabelled copy was made"
    assert runs["dgcode"]["tokens"] == runs["stock"]["tokens"]
