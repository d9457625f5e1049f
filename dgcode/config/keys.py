"""The settings dgcode knows: each key's check, default and help, and how it is named in files, variables, flags.

``KEYS`` is the catalogue the loader (dgcode/config/__init__.py) checks
every value against: a parser per key takes the raw value (and whether it
came as text: a variable or a flag) and returns the checked value or raises
``_Invalid`` with what it expected, to which the loader adds where and which key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "DGCODE_"


class _Invalid(ValueError):
    """Raised by a parser with what it expected; the loader adds where and which key."""


# --- parsers: (value, came_from_text) -> parsed value, or _Invalid(expected) -----------------------------


def _integer(minimum: int, maximum: int | None = None) -> Callable[[object, bool], int]:
    expected = (f"a whole number >= {minimum}" if maximum is None
                else f"a whole number between {minimum} and {maximum}")

    def parse(value: object, text: bool) -> int:
        if text and isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise _Invalid(expected) from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(expected)
        if value < minimum or (maximum is not None and value > maximum):
            raise _Invalid(expected)
        return value

    return parse


def _number(expected: str, accept: Callable[[float], bool]) -> Callable[[object, bool], float]:
    def parse(value: object, text: bool) -> float:
        if text and isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise _Invalid(expected) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise _Invalid(expected)
        if not accept(float(value)):
            raise _Invalid(expected)
        return float(value)

    return parse


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _boolean(value: object, text: bool) -> bool:
    if text and isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    if not isinstance(value, bool):
        raise _Invalid("true or false")
    return value


def _text(value: object, text: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("a non-empty string")
    return value


def _url(value: object, text: bool) -> str:
    if not isinstance(value, str) or not value.strip().lower().startswith(("http://", "https://")):
        raise _Invalid("an http:// or https:// URL, e.g. http://gpu-box:8000/v1")
    return value.strip()


def _env_name(value: object, text: bool) -> str:
    if not isinstance(value, str) or not value.strip().replace("_", "a").isalnum() or value.strip()[0].isdigit():
        raise _Invalid("the name of an environment variable, e.g. DGCODE_ENDPOINT_KEY")
    return value.strip()


def _path(value: object, text: bool) -> Path:
    if isinstance(value, Path):
        return value.expanduser()
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("a path to a .gguf file (a string)")
    return Path(value).expanduser()


@dataclass(frozen=True)
class KeySpec:
    """A setting dgcode knows: how to check it, its default, what it does."""

    name: str
    parse: Callable[[object, bool], object]
    default: object
    help: str
    needs_trust: bool = False
    """Runs something or widens what dgcode may touch: from a repository's file only once trusted."""

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.name.replace(".", "_").upper()

    @property
    def flag_name(self) -> str:
        return "--" + self.name.rsplit(".", 1)[-1].replace("_", "-")


KEYS: dict[str, KeySpec] = {spec.name: spec for spec in (
    KeySpec("model", _path, None, "GGUF diffusion model file"),
    KeySpec("mask_token_id", _integer(0), None, "mask token of block-diffusion models stored as AR"),
    KeySpec("n_ctx", _integer(128), None, "context size in tokens (prompt + answer); default: the model's, "
            "at most 8192"),
    KeySpec("threads", _integer(1), None, "CPU threads; default: physical cores"),
    KeySpec("threshold", _number("a number between 0 and 1", lambda x: 0.0 <= x <= 1.0), 0.9,
            "confidence a position needs to be committed"),
    KeySpec("max_tokens", _integer(1), 512, "answer budget in tokens"),
    KeySpec("sub_block", _integer(1, 256), 32, "tokens denoised at a time"),
    KeySpec("fix.rounds", _integer(1), 3, "most model attempts `dgcode fix` makes"),
    KeySpec("fix.cmd", _text, None, "command `dgcode fix` runs to check its work", needs_trust=True),
    KeySpec("fix.timeout_s", _number("a positive number of seconds", lambda x: x > 0), 300.0,
            "time limit for each run of fix.cmd"),
    KeySpec("hook.budget_s", _number("a positive number of seconds", lambda x: x > 0), 20.0,
            "time the commit hook may spend"),
    KeySpec("hook.strict", _boolean, False, "the hook fails the commit on infrastructure errors"),
    KeySpec("repair.min_margin", _number("a number of at least 0", lambda x: x >= 0), 4.0,  # abstain.DEFAULT_POLICY
            "how much likelier than any other compiling rewrite the embedded model's repair must be to be "
            "offered (0: offer every repair that compiles)"),
    KeySpec("endpoint", _url, None, "an OpenAI-compatible endpoint (vLLM, SGLang, dgcode serve; ends in /v1) "
            "used instead of a local model", needs_trust=True),
    KeySpec("endpoint_api_key_env", _env_name, None, "the environment variable holding the endpoint's API key",
            needs_trust=True),
    KeySpec("remote_model", _text, None, "the endpoint's model name (default: the first it lists)"),
    KeySpec("warm_server", _boolean, True, "use a running `dgcode serve` of the same model instead of loading it"),
    KeySpec("mouse", _boolean, True, "the app captures the mouse (false, or `dgcode --no-mouse`: the terminal's own "
            "selection works)"),
)}
TABLES = sorted({name.split(".")[0] for name in KEYS if "." in name})
