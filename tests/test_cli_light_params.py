"""cli/light_params.py: the same values as typer's own coercion, without importing pydantic where none is needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest
import typer
import typer.main
from typer import BadParameter
from typer._coercion import build_runtime_param

from dgcode.cli.light_params import LightRuntimeParam, light_runtime_param


def _params() -> dict[str, object]:
    app = typer.Typer()

    @app.command()
    def probe(paths: Optional[List[str]] = typer.Argument(None),
              text: Optional[str] = typer.Option(None, "--text"),
              count: int = typer.Option(1, "--count", min=1, max=16),
              level: Optional[int] = typer.Option(None, "--level"),
              ratio: float = typer.Option(0.5, "--ratio"),
              model: Optional[Path] = typer.Option(None, "--model"),
              existing: Optional[Path] = typer.Option(None, "--existing", exists=True)) -> None:
        pass

    @app.command()
    def other() -> None:
        pass

    command = typer.main.get_command(app).commands["probe"]
    return {param.name: param for param in command.params}


def _typer_says(param, value):
    try:
        return "value", build_runtime_param(param.type_descriptor).coerce(value, param=param, ctx=None)
    except BadParameter as error:
        return "error", error.message


def _light_says(param, value):
    light = LightRuntimeParam(parameter_info=param.type_descriptor.parameter_info,
                              annotation=param.type_descriptor.annotation)
    try:
        return "value", light.coerce(value, param=param, ctx=None)
    except BadParameter as error:
        return "error", error.message


CASES = [
    ("paths", None), ("paths", ("a.py", "b.py:1-4")), ("paths", ()),
    ("text", None), ("text", "fix the bug"), ("text", ""),
    ("count", 1), ("count", "3"), ("count", "007"), ("count", "0"), ("count", "17"), ("count", "-2"),
    ("count", "x"), ("count", " 4"), ("level", None), ("level", "12"), ("level", "-3"), ("level", "1_000"),
    ("ratio", "0.25"), ("ratio", 0.5), ("ratio", "many"),
    ("model", None), ("model", "m.gguf"), ("model", "~/models/m.gguf"), ("model", ""),
    ("existing", "/no/such/file.gguf"),
]


@pytest.mark.parametrize(("name", "value"), CASES)
def test_light_coercion_gives_typers_own_answer(name, value, tmp_path):
    param = _params()[name]
    assert _light_says(param, value) == _typer_says(param, value)


def test_an_existing_path_is_checked_by_typer_as_before(tmp_path):
    present = tmp_path / "m.gguf"
    present.write_bytes(b"GGUF")
    param = _params()["existing"]
    assert _light_says(param, str(present)) == _typer_says(param, str(present)) == ("value", present)


def test_the_runtime_param_is_built_once_per_parameter():
    param = _params()["text"]
    first = light_runtime_param(param)
    assert isinstance(first, LightRuntimeParam) and light_runtime_param(param) is first


def test_models_info_starts_without_pydantic_and_bad_numbers_keep_typers_errors(tmp_path, models):
    """The point of the module: no pydantic import on the way to reading a model or spawning an engine."""
    script = ("import sys\nfrom dgcode.cli.main import app\n"
              "try:\n    app()\nexcept SystemExit:\n    pass\n"
              "print('PYDANTIC', 'pydantic' in sys.modules, 'NUMPY', 'numpy' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script, "models", "info", str(models["dream"])],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "PYDANTIC False NUMPY False" in result.stdout, result.stdout + result.stderr
    assert "architecture" in result.stdout.lower()
    # a value that needs parsing (a signed number) still goes through typer's own adapter and error
    bad = subprocess.run([sys.executable, "-c", script, "fix", "--rounds", "-1x"], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert "'-1x' is not a whole number" in bad.stderr, bad.stderr
