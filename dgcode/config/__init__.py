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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import platformdirs

from dgcode.config.keys import ENV_PREFIX, KEYS, TABLES, KeySpec, _Invalid  # noqa: F401  (re-exported)
from dgcode.engine.gguf_header import escaped as printable  # one escaping rule for text from files

REPO_FILE_NAME = ".dgcode.toml"
USER_FILE_NAME = "config.toml"
SOURCES = ("default", "user", "repo", "env", "flag")
"""Where a value can come from, lowest precedence first."""


class ConfigError(Exception):
    """A setting is invalid; ``str(error)`` names where, which key, and what is expected."""


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
