"""Typer's parameter coercion without pydantic for the values that need no conversion: every command starts lighter.

typer 0.29 coerces each parameter's value through a pydantic ``TypeAdapter``
that it builds the first time the parameter is processed, even when the value
is absent.  Building the first one imports pydantic, about 0.1 s of every
`dgcode` command on a 2-core machine, before dgcode's own code runs (issue
13: `dgcode models info` in 0.3 s; `dgcode fix` spawning its engine early).

``LightRuntimeParam`` gives typer's own answer for the cases that need no
parsing: an absent value (typer's ``RuntimeParam.coerce`` handles it before
any adapter), a text value of a ``str`` parameter, a list of texts of a
``list[str]`` one, a whole number (an ``int`` default, or plain digits)
within an ``int`` parameter's bounds, and a ``Path`` with no custom parser
(made with ``Path`` and then checked by typer's own ``coerce_cli_path``,
which is what its adapter does).  Anything else (signs, numbers out of
range, floats, choices, files, custom parsers) goes to typer's adapter
exactly as before, built on first use, so its errors are typer's own.
``tests/test_cli_light_params.py`` checks the answers against typer's own.
This relies on typer internals (``_coercion``, ``_param_types``), so
pyproject.toml pins typer below 0.30; cli/style.py applies it to every
parameter of the command tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._coercion import RuntimeParam, build_runtime_param
from typer._param_types import coerce_cli_path, lenient_issubclass


@dataclass(frozen=True)
class LightRuntimeParam(RuntimeParam):
    """Coerce a value without pydantic where typer's adapter would return it as it is (see the module docstring)."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        annotation, info = self.annotation, self.parameter_info
        if info.parser is None and getattr(info, "click_type", None) is None:
            if annotation is str and isinstance(value, str):
                return value
            if annotation is int and _whole_number_in_range(value, info):
                return int(value)
            if get_origin(annotation) is list and get_args(annotation) == (str,) \
                    and isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
                return list(value)
            path_type = info.path_type or annotation
            if lenient_issubclass(annotation, Path) and lenient_issubclass(path_type, Path) \
                    and isinstance(value, str):
                return coerce_cli_path(path_type(value), info, path_type=path_type, param=param, ctx=ctx)
        return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)


def _whole_number_in_range(value: Any, info: Any) -> bool:
    """An ``int`` (a default) or plain ASCII digits, within the option's min and max: typer's answer is ``int()``."""
    if type(value) is int:
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        return False
    return (info.min is None or number >= info.min) and (info.max is None or number <= info.max)


def light_runtime_param(param: Any) -> RuntimeParam:
    """``param.get_runtime_param()`` for a typer parameter: a ``LightRuntimeParam``, built once and kept."""
    if param._runtime_param is None:
        descriptor = param.type_descriptor
        if descriptor.file_annotation is not None:  # opening files: typer's own, unchanged
            param._runtime_param = build_runtime_param(descriptor)
        else:
            param._runtime_param = LightRuntimeParam(parameter_info=descriptor.parameter_info,
                                                     annotation=descriptor.annotation)
    return param._runtime_param
