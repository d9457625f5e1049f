"""The layer contracts in .importlinter hold for dgcode, and they do fail on a wrong import.

``lint-imports`` (import-linter) reads the import graph statically.  The
second test copies the package, adds one import that crosses a layer, and
checks that the same contracts then fail and name the broken one, so a
contract that can never fail would be caught here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"


def lint_imports(cwd: Path, python_path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    env = {**os.environ, "PYTHONPATH": str(python_path), "NO_COLOR": "1"}
    return subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--config", str(CONFIG),
                           "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_layer_contracts_hold() -> None:
    done = lint_imports(ROOT, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "wrong_import", "contract"), [
    ("engine/engine.py", "import dgcode.workflows.fix.pipeline", "The engine imports nothing above it"),
    ("workflows/fix/pipeline.py", "import typer", "The pipelines are headless"),
    ("tui/app.py", "import dgcode.cli.fix", "The TUI does not import the command line"),
])
def test_a_wrong_import_breaks_a_contract(tmp_path: Path, module: str, wrong_import: str, contract: str) -> None:
    copy = tmp_path / "dgcode"
    shutil.copytree(ROOT / "dgcode", copy, ignore=shutil.ignore_patterns("__pycache__", "*.gguf"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # deliberately wrong\n")
    done = lint_imports(tmp_path, tmp_path)
    assert done.returncode != 0, done.stdout
    assert contract in done.stdout and "BROKEN" in done.stdout
