"""Which libllama the engine loads: llama-cpp-python's own, or dgcode's build of the same llama.cpp with its patches.

dgcode's build (kernels/llama/: a patch set and build.sh, run by `dgcode
kernels build`) is the llama.cpp commit that the installed llama-cpp-python
vendors, so its ctypes bindings fit it exactly, with dgcode's changes: today,
Dream and LLaDA get a KV cache directly (``FEATURE_DIFFUSION_CACHE``), so
such a model loads as it is, with no relabelled copy of the file.  The build
lives in ``<cache>/libllama/<llama-cpp-python version>/`` with a record,
``dgcode-libllama.json``, saying which version it was built for.

``choose()`` (before llama_cpp is first imported, in the engine's process)
picks it when ``DGCODE_LIBLLAMA`` is unset (or ``dgcode``) and a build for
the installed version is there, or the folder ``DGCODE_LIBLLAMA`` names;
``DGCODE_LIBLLAMA=stock`` never.  A build for another version, a folder
without a libllama, or one that fails to load falls back to llama-cpp-python's
own library with the reason kept (``LibllamaChoice.fallback``), never a
crash; the front ends say it once.  It sets ``LLAMA_CPP_LIB_PATH``, which
llama-cpp-python reads when it loads its library.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ENV = "DGCODE_LIBLLAMA"
RECORD = "dgcode-libllama.json"
FEATURE_DIFFUSION_CACHE = 1
"""Bit 0 of ``dgcode_libllama_features()``: Dream and LLaDA have a KV cache (kernels/llama/dgcode-libllama.patch)."""
FEATURE_FREE_POSITIONS = 2
"""Bit 1: with non-causal attention a batch may sit at any positions, below or between cached cells."""
LIB_NAMES = ("libllama.so", "libllama.dylib", "llama.dll")


@dataclass(frozen=True)
class LibllamaChoice:
    """The library chosen: ``folder`` None for llama-cpp-python's own; ``fallback`` why a dgcode build was not used."""

    folder: Path | None
    version: str
    fallback: str | None = None
    features: int = 0

    def describe(self) -> str:
        if self.folder is None:
            own = f"llama-cpp-python {self.version}'s own"
            return own if self.fallback is None else f"{own} ({self.fallback})"
        added = [name for bit, name in ((FEATURE_DIFFUSION_CACHE, "dream/llada KV cache"),
                                        (FEATURE_FREE_POSITIONS, "decodes between cached cells"))
                 if self.features & bit]
        extras = f" ({', '.join(added)})" if added else ""
        return f"dgcode's build for llama-cpp-python {self.version} at {self.folder}{extras}"


def installed_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_folder(version: str | None = None, cache_dir: Path | None = None) -> Path:
    """Where `dgcode kernels build` installs the build for ``version`` (default: the installed one)."""
    from dgcode.engine.alias import default_cache_dir

    return (cache_dir or default_cache_dir()) / "libllama" / (version or installed_version())


def choose(cache_dir: Path | None = None) -> LibllamaChoice:
    """Decide (without loading anything) which library llama_cpp should load; see the module docstring."""
    version = installed_version()
    wanted = os.environ.get(ENV, "").strip()
    if wanted.lower() == "stock":
        return LibllamaChoice(None, version)
    named = bool(wanted) and wanted.lower() != "dgcode"
    folder = Path(wanted).expanduser() if named else build_folder(version, cache_dir)
    if not folder.is_dir():
        reason = f"{ENV}={wanted}: no such folder" if named else None  # no build: nothing to say
        return LibllamaChoice(None, version, reason)
    if not any((folder / name).is_file() for name in LIB_NAMES):
        return LibllamaChoice(None, version, f"{folder} has no libllama")
    try:
        record = json.loads((folder / RECORD).read_text())
        built_for = str(record["llama_cpp_python"])
    except (OSError, ValueError, KeyError, TypeError):
        return LibllamaChoice(None, version, f"{folder} has no readable {RECORD} (rebuild: `dgcode kernels build`)")
    if built_for != version:
        return LibllamaChoice(None, version, f"the dgcode build at {folder} is for llama-cpp-python {built_for}, "
                                             f"not the installed {version} (rebuild: `dgcode kernels build`)")
    return LibllamaChoice(folder, version)


_loaded: tuple[object, LibllamaChoice] | None = None


def load_llama_cpp(cache_dir: Path | None = None):
    """Import llama_cpp with the chosen library (once per process); returns (the module, the choice)."""
    global _loaded
    if _loaded is not None:
        return _loaded
    choice = choose(cache_dir)
    if choice.folder is None:
        _loaded = (importlib.import_module("llama_cpp"), choice)
        return _loaded
    before = os.environ.get("LLAMA_CPP_LIB_PATH")
    os.environ["LLAMA_CPP_LIB_PATH"] = str(choice.folder)
    try:
        module = importlib.import_module("llama_cpp")
    except (OSError, RuntimeError, AttributeError) as error:  # not loadable, or a symbol the bindings need is missing
        for name in [name for name in sys.modules if name == "llama_cpp" or name.startswith("llama_cpp.")]:
            del sys.modules[name]
        if before is None:
            os.environ.pop("LLAMA_CPP_LIB_PATH", None)
        else:
            os.environ["LLAMA_CPP_LIB_PATH"] = before
        choice = LibllamaChoice(None, choice.version, f"the dgcode build at {choice.folder} did not load: {error}")
        _loaded = (importlib.import_module("llama_cpp"), choice)
        return _loaded
    features_fn = getattr(module.llama_cpp._lib, "dgcode_libllama_features", None)
    features = int(features_fn()) if features_fn is not None else 0
    _loaded = (module, LibllamaChoice(choice.folder, choice.version, None, features))
    return _loaded


def loaded() -> LibllamaChoice | None:
    """The choice this process loaded llama_cpp with, or None before it did."""
    return _loaded[1] if _loaded is not None else None


def has_diffusion_cache() -> bool:
    """The loaded libllama gives Dream and LLaDA a KV cache (loads llama_cpp if it is not loaded)."""
    return bool(load_llama_cpp()[1].features & FEATURE_DIFFUSION_CACHE)


def has_free_positions() -> bool:
    """The loaded libllama decodes a non-causal batch at any positions (loads llama_cpp if it is not loaded)."""
    return bool(load_llama_cpp()[1].features & FEATURE_FREE_POSITIONS)
