"""Building dgcode's libllama (`dgcode kernels build`): run kernels/llama/build.sh, then prove the result loads.

The script (a patch set and a CMake build of the llama.cpp that the
installed llama-cpp-python vendors) installs into engine/libllama.py's
``build_folder``, under that name only once complete.  Then a fresh Python
process loads llama_cpp with the new library and reports what it offers;
a build that does not load, or lacks what the patches add, is removed again,
so the engine never meets it.  Tests run the same two steps on a real build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from dgcode.engine import libllama

SCRIPT = Path(__file__).resolve().parents[2] / "kernels" / "llama" / "build.sh"
"""In a source checkout (the README installs dgcode editable from one)."""
PROBE = ("import json; from dgcode.engine import libllama; module, choice = libllama.load_llama_cpp(); "
         "print(json.dumps({'features': choice.features, 'fallback': choice.fallback}))")


class BuildError(Exception):
    """The build could not be made or does not work; ``str`` says why."""


def probe(folder: Path) -> dict:
    """Load llama_cpp with the library in ``folder`` in a fresh process: ``{"features": int, "fallback": str|None}``."""
    env = dict(os.environ, **{libllama.ENV: str(folder)})
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        tail = " | ".join(line for line in done.stderr.strip().splitlines()[-3:])
        raise BuildError(f"loading llama_cpp with {folder} failed (exit {done.returncode}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def build(sdist: Path | None = None, folder: Path | None = None,
          say: Callable[[str], None] = lambda _line: None) -> Path:
    """Build and install dgcode's libllama for the installed llama-cpp-python; returns its folder (BuildError)."""
    if not SCRIPT.is_file():
        raise BuildError(f"the build script is not here ({SCRIPT}): `dgcode kernels build` runs from a source "
                         "checkout of dgcode (the README's editable install)")
    for tool in ("bash", "cmake", "patch", "tar"):
        if shutil.which(tool) is None:
            raise BuildError(f"`{tool}` is not installed; the build needs bash, cmake, patch, tar and a C++ compiler")
    if sdist is not None and not sdist.is_file():
        raise BuildError(f"--sdist {sdist}: no such file")
    folder = folder or libllama.build_folder()
    command = ["bash", str(SCRIPT), str(folder)] + ([str(sdist)] if sdist is not None else [])
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=dict(os.environ, PYTHON=sys.executable)) as proc:
        for line in proc.stdout:
            say(line.rstrip())
    if proc.returncode != 0:
        raise BuildError(f"the build failed (exit {proc.returncode}); see the lines above")
    found = probe(folder)
    if found.get("fallback") or not found.get("features", 0) & libllama.FEATURE_DIFFUSION_CACHE:
        shutil.rmtree(folder, ignore_errors=True)
        raise BuildError(f"the new library does not work here ({found.get('fallback') or 'no dgcode features'}); "
                         "it was removed, and dgcode keeps using llama-cpp-python's own")
    return folder
