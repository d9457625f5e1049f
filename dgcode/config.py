"""Settings: defaults, then the user's config.toml, the repository's .dgcode.toml, DGCODE_* variables, flags.

Each layer overrides the one before it, key by key::

    default  <  user file (platformdirs.user_config_dir("dgcode")/config.toml)
             <  repository file (.dgcode.toml, found from the working folder up to the repository's top)
             <  environment (DGCODE_MODEL, DGCODE_THRESHOLD, DGCODE_FIX_ROUNDS, ...)
             <  command-line flags

A setting that runs something (``KeySpec.needs_trust``: ``fix.cmd``) is
taken from a repository's file only when the user has trusted that file's
exact contents (``dgcode.trust``; ``dgcode trust``).  Otherwise it is left
out, the rest of the file still applies, and ``Config.untrusted`` says what
was ignored so every front end can say so and how to trust it.  The user's
own file, the environment and flags are the user's and are trusted as they are.

Every effective value remembers where it came from (``Setting.source`` and
``Setting.where``), which ``dgcode config show`` prints.  A value of the
wrong kind, an unknown key or a file that is not TOML raises ``ConfigError``
naming the file (or variable, or flag), the key and what is expected, e.g.
``~/.config/dgcode/config.toml: threshold must be a number between 0 and 1, got 'high'``.

In the files, dotted keys live in tables (``[fix]`` ``rounds = 3``) or as
dotted names (``fix.rounds = 3``).  A relative ``model`` path in a file is
relative to that file's folder.  Environment variables other than the ones
named here (``DGCODE_CACHE_DIR``, ...) belong to other parts of dgcode and are
not checked; an empty variable counts as unset.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import platformdirs

from dgcode.engine.gguf_header import escaped as printable  # one escaping rule for text from files

REPO_FILE_NAME = ".dgcode.toml"
USER_FILE_NAME = "config.toml"
ENV_PREFIX = "DGCODE_"
SOURCES = ("default", "user", "repo", "env", "flag")
"""Where a value can come from, lowest precedence first."""


class ConfigError(Exception):
    """A setting is invalid; ``str(error)`` names where, which key, and what is expected."""


class _Invalid(ValueError):
    """Raised by a parser with what it expected; the loader adds where and which key."""


@dataclass(frozen=True)
class Setting:
    """One effective value and where it came from."""

    key: str
    value: object
    source: str
    """One of SOURCES."""
    where: str = ""
    """The file, variable or flag that set it ("" for a default)."""

    def describe_source(self) -> str:
        return self.source if not self.where else f"{self.source} {self.where}"


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


@dataclass(frozen=True)
class UntrustedSettings:
    """Settings a repository's config file asks for that were left out because the file is not trusted."""

    file: Path
    digest: str
    """SHA-256 of the file's bytes as read: what trusting it records (``dgcode.trust``)."""
    values: Mapping[str, object]
    """The ignored settings by key, as the file gives them."""

    def describe(self) -> str:
        """One line naming what was ignored, why, and how to use it."""
        shown = ", ".join(f"{key} = {printable(repr(str(value)))}" for key, value in self.values.items())
        return (f"ignored {shown} from {shown_path(self.file)}: this repository's config is not trusted, and "
                f"these settings run commands or send your code to a server. Read the file, then run `dgcode trust` "
                "to use it.")


@dataclass(frozen=True)
class FixSettings:
    """``[fix]``: the check command, how many model rounds, each run's time limit."""

    cmd: str | None
    rounds: int
    timeout_s: float


@dataclass(frozen=True)
class HookSettings:
    """``[hook]``: the commit hook's time budget and whether infrastructure errors stop the commit."""

    budget_s: float
    strict: bool


@dataclass(frozen=True)
class SamplingSettings:
    """What the sampler takes from the settings (the model API layers the registry's defaults under them)."""

    threshold: float
    max_tokens: int
    sub_block: int


class Config(Mapping[str, object]):
    """The effective settings: ``config["threshold"]`` is a value, ``config.setting(key)`` its origin too."""

    def __init__(self, settings: Mapping[str, Setting], files: Mapping[str, Path | None],
                 untrusted: UntrustedSettings | None = None):
        self._settings = dict(settings)
        self.files = dict(files)
        """The user and repository files looked for (None where there is none)."""
        self.untrusted = untrusted
        """What the repository's file asked for and did not get for want of trust (None: nothing)."""

    def __getitem__(self, key: str) -> object:
        return self._settings[key].value

    def __iter__(self) -> Iterator[str]:
        return iter(self._settings)

    def __len__(self) -> int:
        return len(self._settings)

    def setting(self, key: str) -> Setting:
        return self._settings[key]

    # typed views: each key was checked by its parser when loaded, so these are the types the parsers return

    @property
    def fix(self) -> FixSettings:
        cmd = self["fix.cmd"]
        return FixSettings(None if cmd is None else str(cmd), int(self["fix.rounds"]), float(self["fix.timeout_s"]))

    @property
    def hook(self) -> HookSettings:
        return HookSettings(float(self["hook.budget_s"]), bool(self["hook.strict"]))

    @property
    def sampling(self) -> SamplingSettings:
        return SamplingSettings(float(self["threshold"]), int(self["max_tokens"]), int(self["sub_block"]))

    def to_json(self) -> dict[str, object]:
        def plain(value: object) -> object:
            return str(value) if isinstance(value, Path) else value

        return {
            "settings": {key: {"value": plain(s.value), "source": s.source, "where": s.where}
                         for key, s in self._settings.items()},
            "files": {kind: str(path) if path else None for kind, path in self.files.items()},
            "untrusted": None if self.untrusted is None else {
                "file": str(self.untrusted.file), "keys": sorted(self.untrusted.values)},
        }


def shown_path(path: Path) -> str:
    """``path`` with the home folder written as ``~``."""
    home = Path.home()
    try:
        return "~/" + path.relative_to(home).as_posix()
    except ValueError:
        return str(path)


def user_config_file() -> Path:
    return Path(platformdirs.user_config_dir("dgcode")) / USER_FILE_NAME


def find_repo_file(start: str | os.PathLike[str]) -> Path | None:
    """The nearest ``.dgcode.toml`` from ``start`` up to the repository's top folder (the one with ``.git``)."""
    folder = Path(os.path.abspath(start))
    if not folder.is_dir():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        if (candidate / REPO_FILE_NAME).is_file():
            return candidate / REPO_FILE_NAME
        if (candidate / ".git").exists():
            return None
    return None


def _unknown_key(where: str, key: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(KEYS), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(KEYS)}"
    return ConfigError(f"{where}: unknown key '{key}'{hint}")


def _flatten(table: Mapping[str, object], where: str, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for name, value in table.items():
        key = prefix + name
        if isinstance(value, dict):
            if key not in TABLES:
                raise (_unknown_key(where, key) if key not in KEYS else
                       ConfigError(f"{where}: {key} must be a single value, not a table"))
            flat.update(_flatten(value, where, key + "."))
        elif key in TABLES:
            names = ", ".join(k.split(".", 1)[1] for k in KEYS if k.startswith(key + "."))
            raise ConfigError(f"{where}: {key} must be a table ([{key}]) with the keys {names}, got {value!r}")
        elif key not in KEYS:
            raise _unknown_key(where, key)
        else:
            flat[key] = value
    return flat


def _check(spec: KeySpec, raw: object, where: str, *, text: bool) -> object:
    try:
        return spec.parse(raw, text)
    except _Invalid as problem:
        raise ConfigError(f"{where}: {spec.name} must be {problem}, got {_quoted(raw)}") from None


def _quoted(raw: object) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return repr(str(raw)) if isinstance(raw, (str, Path)) else repr(raw)


def read_config_file(path: Path) -> dict[str, object]:
    """The checked values of one TOML file, by dotted key; a relative model path made absolute."""
    return read_config_file_and_digest(path)[0]


def read_config_file_and_digest(path: Path) -> tuple[dict[str, object], str]:
    """The checked values of one TOML file and the SHA-256 of the very bytes they were parsed from."""
    from dgcode.trust import config_digest

    where = shown_path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        document = tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not valid TOML: the file is not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{where}: cannot be read: {error.strerror or error}") from None
    values = {}
    for key, raw in _flatten(document, where).items():
        value = _check(KEYS[key], raw, where, text=False)
        if isinstance(value, Path) and not value.is_absolute():
            value = path.parent / value
        values[key] = value
    return values, config_digest(data)


def load_config(start: str | os.PathLike[str] = ".", *, flags: Mapping[str, object] | None = None,
                env: Mapping[str, str] | None = None, user_file: Path | None = None) -> Config:
    """The effective settings for work in the folder ``start``.

    ``flags`` maps keys (``"fix.rounds"``) to command-line values; None
    values are flags not given.  ``env`` defaults to ``os.environ``;
    ``user_file`` to the platform's user config file.
    """
    env = os.environ if env is None else env
    user_path = user_config_file() if user_file is None else user_file
    repo_path = find_repo_file(start)
    settings = {key: Setting(key, spec.default, "default") for key, spec in KEYS.items()}
    untrusted = None
    for source, path in (("user", user_path), ("repo", repo_path)):
        if path is not None and path.is_file():
            values, digest = read_config_file_and_digest(path)
            if source == "repo":
                values, untrusted = _trusted_part(path, values, digest)
            for key, value in values.items():
                settings[key] = Setting(key, value, source, shown_path(path))
    for key, spec in KEYS.items():
        raw = env.get(spec.env_name, "")
        if raw.strip():
            settings[key] = Setting(key, _check(spec, raw, spec.env_name, text=True), "env", spec.env_name)
    for key, raw in (flags or {}).items():
        if key not in KEYS:
            raise ConfigError(f"unknown setting '{key}' passed as a flag")
        if raw is not None:
            spec = KEYS[key]
            settings[key] = Setting(key, _check(spec, raw, spec.flag_name, text=True), "flag", spec.flag_name)
    files = {"user": user_path if user_path.is_file() else None, "repo": repo_path}
    if untrusted is not None:  # a flag or variable that overrides the ignored value makes it moot
        left = {key: value for key, value in untrusted.values.items() if settings[key].source not in ("env", "flag")}
        untrusted = UntrustedSettings(untrusted.file, untrusted.digest, left) if left else None
    return Config(settings, files, untrusted)


def _trusted_part(path: Path, values: dict[str, object],
                  digest: str) -> tuple[dict[str, object], UntrustedSettings | None]:
    """The repository file's values dgcode may use, and what it left out for want of trust."""
    from dgcode.trust import is_trusted

    asking = {key: value for key, value in values.items() if KEYS[key].needs_trust}
    if not asking or is_trusted(path, digest):
        return values, None
    kept = {key: value for key, value in values.items() if key not in asking}
    return kept, UntrustedSettings(path, digest, asking)
