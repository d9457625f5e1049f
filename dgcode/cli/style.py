"""How dgcode's commands read in ``--help`` and in usage errors: plain placeholders, dgcode's own wording.

Typer shows Python types where a person expects a placeholder (``<bool>`` on
a flag, which takes no value; ``<list[str]>``; ``{prompt}`` in the usage
line) and passes pydantic's wording through for a value that does not parse
("Input should be a valid integer, unable to parse string as an integer").
``Group`` is the root app's group class: when the command tree is built it
gives every command, group and parameter under it the placeholders below, so
a command added later is covered without asking for it; and it says in its
own words why a value does not parse.
"""

from __future__ import annotations

from typing import Any

from typer import BadParameter
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from dgcode.cli.light_params import light_runtime_param

PLACEHOLDERS = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "path": "PATH", "file": "FILE", "dir": "FOLDER"}
"""What a value option shows after its name, by its type, unless it sets its own metavar."""
VALUE_WORDS = {"int_parsing": "a whole number", "int_from_float": "a whole number", "float_parsing": "a number",
               "bool_parsing": "true or false"}
"""What a value had to be, by pydantic's error type, for the few types dgcode's options use."""
BOUND_WORDS = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
"""A number out of an option's range (min=, max=), by the bound pydantic names."""


class Argument(TyperArgument):
    """A positional argument shown as NAME (required) or [NAME], with no Python type beside it."""

    def get_runtime_param(self):
        return light_runtime_param(self)  # cli/light_params.py: no pydantic where no parsing is needed

    def display_type_rich(self, ctx) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")


class Option(TyperOption):
    """An option whose value is coerced without pydantic where none is needed (cli/light_params.py)."""

    def get_runtime_param(self):
        return light_runtime_param(self)


def _tidy(param: Any) -> None:
    if type(param) is TyperArgument:
        param.__class__ = Argument  # adds only the methods above (no state of its own)
    if isinstance(param, TyperArgument):
        if param.metavar is None:
            param.metavar = (param.name or "value").upper()
    elif type(param) is TyperOption:
        param.__class__ = Option
    if isinstance(param, TyperOption) and param.metavar is None:
        if param.is_flag:
            param.metavar = ""  # a flag takes no value: nothing to show
        else:
            shown = param.display_type(None) if not param.type_descriptor.is_choice else None
            param.metavar = PLACEHOLDERS.get((shown or "").strip("<>")) if shown else None


class Command(TyperCommand):
    """A command with dgcode's placeholders (no state of its own: a TyperCommand becomes one in place)."""

    def get_params(self, ctx) -> list:
        return _tidied(super().get_params(ctx))


class Group(TyperGroup):
    """The root app's group: styles the whole tree under it, and words bad values in dgcode's terms."""

    def get_params(self, ctx) -> list:
        return _tidied(super().get_params(ctx))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style_tree(self)

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except BadParameter as error:
            _reword(error)
            raise

    def invoke(self, ctx) -> Any:
        try:
            return super().invoke(ctx)  # a subcommand's own arguments are parsed in here
        except BadParameter as error:
            _reword(error)
            raise


def _tidied(params: list) -> list:
    """``params`` (the help and completion options included) with their placeholders set, in place."""
    for param in params:
        _tidy(param)
    return params


def _style_tree(group: TyperGroup) -> None:
    for command in group.commands.values():
        if type(command) is TyperGroup:
            command.__class__ = Group  # the same object with the methods above
            _style_tree(command)
        elif type(command) is TyperCommand:
            command.__class__ = Command


def _reword(error: BadParameter) -> None:
    """Replace pydantic's message for a value that did not parse by dgcode's; leave any other message."""
    from pydantic import ValidationError

    cause = error.__cause__
    problems = cause.errors() if isinstance(cause, ValidationError) else []
    if not problems:
        return
    kind, given, limits = problems[0].get("type", ""), problems[0].get("input"), problems[0].get("ctx") or {}
    wanted = VALUE_WORDS.get(kind)
    bound = next(((words, limits[key]) for key, words in BOUND_WORDS.items() if key in limits), None)
    if wanted is not None:
        error.message = f"{given!r} is not {wanted}"
    elif bound is not None:
        error.message = f"must be {bound[0]} {bound[1]}, not {given!r}"
