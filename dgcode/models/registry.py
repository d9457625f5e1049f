"""The model registry: known diffusion models, read from registry.toml and checked key by key.

The data lives in ``registry.toml`` beside this module (or the file named by
``DGCODE_REGISTRY``, which replaces it: for tests and private mirrors). Each
``[models.NAME]`` table names an upstream model, the Hugging Face repository
its GGUF files are published in, one file per quantization, the header facts
dgcode relies on (architecture, mask token, shift_logits) and the sampler
settings its authors recommend, with ``from_card`` saying which of them come
from the model card. A broken file raises ``RegistryError`` naming the file,
the entry and the key, e.g. ``registry.toml: [models.llada-8b-instruct]
mask_token_id must be a whole number >= 0, got 'x'``.

Names resolve case-insensitively, through aliases, and accept ``NAME:QUANT``.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from dgcode.engine.model_file import AR_ARCHS_FOR_BLOCK_DIFFUSION, DIFFUSION_ARCH_ALIASES, NATIVE_ONLY_DIFFUSION_ARCHS

REGISTRY_ENV = "DGCODE_REGISTRY"
ARCHITECTURES = (*DIFFUSION_ARCH_ALIASES, *NATIVE_ONLY_DIFFUSION_ARCHS, *AR_ARCHS_FOR_BLOCK_DIFFUSION)
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
QUANT_RE = re.compile(r"^[A-Z0-9_]+$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
ENTRY_KEYS = {"display_name", "aliases", "upstream", "repo", "revision", "verified", "architecture",
              "mask_token_id", "shift_logits", "default_quant", "files", "sampler", "note", "license", "card"}
FILE_KEYS = {"file", "sha256"}
SAMPLER_KEYS = {"schedule", "algorithm", "threshold", "temperature", "top_p", "top_k", "alg_temp", "eps",
                "tokens_per_step", "sub_block", "block_size", "from_card", "source"}


class RegistryError(ValueError):
    """The registry file is broken, or a name or quantization is unknown; str() says which and why."""


@dataclass(frozen=True)
class QuantFile:
    """One published GGUF file of a model."""

    quant: str
    file: str
    sha256: str | None = None


@dataclass(frozen=True)
class SamplerDefaults:
    """Recommended decoding settings; ``from_card`` names the keys taken from the model card."""

    schedule: str
    algorithm: str
    threshold: float | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    alg_temp: float = 0.0
    eps: float | None = None
    tokens_per_step: float | None = None
    """Steps = answer tokens / this (block and timestep schedules); 1 is one token per step."""
    sub_block: int = 32
    block_size: int | None = None
    """The attention block a block-diffusion model was trained with."""
    from_card: tuple[str, ...] = ()
    source: str = ""

    def settings_kwargs(self, max_tokens: int) -> dict[str, object]:
        """Keyword arguments for ``dgcode.engine.unmasking.SamplerSettings`` for an answer of ``max_tokens``."""
        kwargs: dict[str, object] = {
            "schedule": self.schedule, "algorithm": self.algorithm, "temperature": self.temperature,
            "top_p": self.top_p, "top_k": self.top_k, "alg_temp": self.alg_temp,
            "sub_block_size": self.sub_block, "max_tokens": max_tokens,
        }
        if self.threshold is not None:
            kwargs["threshold"] = self.threshold
        if self.eps is not None:
            kwargs["eps"] = self.eps
        if self.schedule != "threshold":
            per_step = self.tokens_per_step or 1.0
            n_sub = -(-max_tokens // self.sub_block)
            kwargs["steps"] = max(n_sub, int(-(-max_tokens // per_step)))
        return kwargs


@dataclass(frozen=True)
class ModelEntry:
    """One known model."""

    name: str
    display_name: str
    upstream: str
    architecture: str
    mask_token_id: int | None
    shift_logits: bool
    sampler: SamplerDefaults
    files: dict[str, QuantFile] = field(default_factory=dict)
    default_quant: str | None = None
    repo: str | None = None
    revision: str = "main"
    verified: bool = False
    """True once the repo and file names were checked against the hub."""
    aliases: tuple[str, ...] = ()
    note: str = ""
    license: str = ""
    card: str = ""

    @property
    def pullable(self) -> bool:
        return self.repo is not None and bool(self.files)

    def file_for(self, quant: str | None = None) -> QuantFile:
        """The file of ``quant`` (default: the entry's default quantization); RegistryError if there is none."""
        if not self.pullable:
            raise RegistryError(f"{self.name}: no GGUF repository is known for this model. {self.note}".strip())
        wanted = (quant or self.default_quant or next(iter(self.files))).upper()
        if wanted not in self.files:
            raise RegistryError(f"{self.name} has no {wanted} file; available: {', '.join(self.files)}")
        return self.files[wanted]

    def quant_for_filename(self, filename: str) -> str | None:
        for quant, qfile in self.files.items():
            if qfile.file == filename:
                return quant
        return None


class Registry:
    """The known models, by canonical name, with case-insensitive and alias lookup."""

    def __init__(self, entries: list[ModelEntry], where: str = "registry"):
        self.where = where
        self.entries = {entry.name: entry for entry in entries}
        self._lookup: dict[str, str] = {entry.name: entry.name for entry in entries}
        for entry in entries:
            for key in entry.aliases:
                owner = self._lookup.setdefault(key.lower(), entry.name)
                if owner != entry.name:
                    raise RegistryError(f"{where}: [models.{entry.name}] alias {key!r} is already used by {owner}")

    def __iter__(self):
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, name: str) -> ModelEntry | None:
        """The entry called ``name`` (any case, or an alias), or None."""
        key = self._lookup.get(name.strip().lower())
        return self.entries[key] if key else None

    def get(self, name: str) -> ModelEntry:
        entry = self.find(name)
        if entry is None:
            close = difflib.get_close_matches(name.strip().lower(), list(self._lookup), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `dgcode models list` shows the known models"
            raise RegistryError(f"unknown model {name!r}{hint}")
        return entry

    def parse_spec(self, spec: str) -> tuple[ModelEntry, str | None]:
        """``NAME`` or ``NAME:QUANT`` -> (entry, quant or None); the quantization is checked."""
        name, _, quant = spec.partition(":")
        entry = self.get(name)
        if quant:
            quant = entry.file_for(quant).quant
        return entry, quant or None


# --- loading and validation ----------------------------------------------------------------------------


class _Checker:
    """Reads one entry's table, raising RegistryError that names the file, entry and key."""

    def __init__(self, where: str, name: str, table: dict):
        self.where, self.name, self.table = where, name, table

    def fail(self, key: str, expected: str, value: object = None, *, show: bool = True) -> RegistryError:
        got = f", got {value!r}" if show else ""
        return RegistryError(f"{self.where}: [models.{self.name}] {key} must be {expected}{got}")

    def get(self, key: str, kind, expected: str, default=..., table: dict | None = None, prefix: str = ""):
        table = self.table if table is None else table
        if key not in table:
            if default is ...:
                raise RegistryError(f"{self.where}: [models.{self.name}] is missing the key {prefix}{key} "
                                    f"({expected})")
            return default
        value = table[key]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float, (int, float)))
        if not ok:
            raise self.fail(prefix + key, expected, value)
        return value


def _check_keys(where: str, name: str, table: dict, allowed: set[str], prefix: str = "") -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(allowed), n=1)
        hint = f"; did you mean {prefix}{close[0]}?" if close else f"; known keys: {', '.join(sorted(allowed))}"
        raise RegistryError(f"{where}: [models.{name}] unknown key {prefix}{unknown[0]}{hint}")


def _parse_sampler(check: _Checker, table: object) -> SamplerDefaults:
    from dgcode.engine.errors import InvalidSettingsError
    from dgcode.engine.settings import ALGORITHMS, SCHEDULES, SamplerSettings

    if not isinstance(table, dict):
        raise check.fail("sampler", "a table ([models.NAME.sampler])", table)
    _check_keys(check.where, check.name, table, SAMPLER_KEYS, "sampler.")
    num, p = (int, float), "sampler."
    schedule = check.get("schedule", str, f"one of {', '.join(SCHEDULES)}", table=table, prefix=p)
    if schedule not in SCHEDULES:
        raise check.fail(p + "schedule", f"one of {', '.join(SCHEDULES)}", schedule)
    algorithm = check.get("algorithm", str, f"one of {', '.join(ALGORITHMS)}", table=table, prefix=p)
    if algorithm not in ALGORITHMS:
        raise check.fail(p + "algorithm", f"one of {', '.join(ALGORITHMS)}", algorithm)
    from_card = check.get("from_card", list, "a list of sampler key names", (), table=table, prefix=p)
    for key in from_card:
        if key not in table or key in ("from_card", "source"):
            raise check.fail(p + "from_card", "a list of keys set in this sampler table", key)
    tokens_per_step = check.get("tokens_per_step", num, "a positive number", None, table=table, prefix=p)
    if tokens_per_step is not None and tokens_per_step <= 0:
        raise check.fail(p + "tokens_per_step", "a positive number", tokens_per_step)
    defaults = SamplerDefaults(
        schedule=schedule, algorithm=algorithm,
        threshold=check.get("threshold", num, "a number between 0 and 1", None, table=table, prefix=p),
        temperature=float(check.get("temperature", num, "a number >= 0", 0.0, table=table, prefix=p)),
        top_p=float(check.get("top_p", num, "a number in (0, 1]", 1.0, table=table, prefix=p)),
        top_k=check.get("top_k", int, "a whole number >= 0", 0, table=table, prefix=p),
        alg_temp=float(check.get("alg_temp", num, "a number >= 0", 0.0, table=table, prefix=p)),
        eps=check.get("eps", num, "a number in [0, 1)", None, table=table, prefix=p),
        tokens_per_step=tokens_per_step,
        sub_block=check.get("sub_block", int, "a whole number between 1 and 256", 32, table=table, prefix=p),
        block_size=check.get("block_size", int, "a whole number >= 1", None, table=table, prefix=p),
        from_card=tuple(from_card),
        source=check.get("source", str, "a string", "", table=table, prefix=p),
    )
    if not 1 <= defaults.sub_block <= 256:
        raise check.fail(p + "sub_block", "a whole number between 1 and 256", defaults.sub_block)
    try:  # the engine's own rules decide whether the combination is usable
        canvas = -(-256 // defaults.sub_block) * defaults.sub_block
        SamplerSettings(**defaults.settings_kwargs(max_tokens=256), canvas_size=canvas).validate()
    except InvalidSettingsError as exc:
        raise RegistryError(f"{check.where}: [models.{check.name}] sampler settings are not usable: {exc}") from None
    return defaults


def _parse_files(check: _Checker, table: object) -> dict[str, QuantFile]:
    if not isinstance(table, dict) or not table:
        raise check.fail("files", 'a table of QUANT = { file = "NAME.gguf" }', table)
    files = {}
    for quant, spec in table.items():
        key = f"files.{quant}"
        if not QUANT_RE.match(quant):
            raise check.fail(key, "named by an upper-case quantization such as Q4_K_M", quant, show=False)
        if not isinstance(spec, dict):
            raise check.fail(key, '{ file = "NAME.gguf" }', spec)
        _check_keys(check.where, check.name, spec, FILE_KEYS, key + ".")
        name = check.get("file", str, "a .gguf file name", table=spec, prefix=key + ".")
        if not name.endswith(".gguf") or name.startswith("/") or ".." in name.split("/"):
            raise check.fail(key + ".file", "a relative .gguf file name", name)
        sha = check.get("sha256", str, "64 lower-case hex digits", None, table=spec, prefix=key + ".")
        if sha is not None and not SHA256_RE.match(sha):
            raise check.fail(key + ".sha256", "64 lower-case hex digits", sha)
        files[quant] = QuantFile(quant, name, sha)
    return files


def _parse_entry(where: str, name: str, table: object) -> ModelEntry:
    if not NAME_RE.match(name):
        raise RegistryError(f"{where}: [models.{name}] the name must be lower-case letters, digits, '.', '-', '_'")
    if not isinstance(table, dict):
        raise RegistryError(f"{where}: models.{name} must be a table ([models.{name}]), got {table!r}")
    _check_keys(where, name, table, ENTRY_KEYS)
    check = _Checker(where, name, table)
    arch = check.get("architecture", str, f"one of {', '.join(ARCHITECTURES)}")
    if arch not in ARCHITECTURES:
        raise check.fail("architecture", f"one of {', '.join(ARCHITECTURES)}", arch)
    mask = check.get("mask_token_id", int, "a whole number >= 0", None)
    if mask is not None and mask < 0:
        raise check.fail("mask_token_id", "a whole number >= 0", mask)
    if mask is None and arch in AR_ARCHS_FOR_BLOCK_DIFFUSION:
        raise RegistryError(f"{where}: [models.{name}] a model stored as '{arch}' needs mask_token_id "
                            "(its GGUF header has none)")
    upstream = check.get("upstream", str, "a Hugging Face repository 'owner/name'")
    repo = check.get("repo", str, "a Hugging Face repository 'owner/name'", None)
    for key, value in (("upstream", upstream), ("repo", repo)):
        if value is not None and not REPO_RE.match(value):
            raise check.fail(key, "a Hugging Face repository 'owner/name'", value)
    files = _parse_files(check, table["files"]) if "files" in table else {}
    if repo is not None and not files:
        raise RegistryError(f"{where}: [models.{name}] has a repo but no [models.{name}.files]")
    if files and repo is None:
        raise RegistryError(f"{where}: [models.{name}] lists files but no repo to download them from")
    default_quant = check.get("default_quant", str, "one of the quantizations under files", None)
    if default_quant is not None and default_quant not in files:
        raise check.fail("default_quant", f"one of {', '.join(files) or '(no files listed)'}", default_quant)
    aliases = check.get("aliases", list, "a list of strings", [])
    if not all(isinstance(a, str) and a.strip() and ":" not in a for a in aliases):
        raise check.fail("aliases", "a list of non-empty strings without ':'", aliases)
    if "sampler" not in table:
        raise RegistryError(f"{where}: [models.{name}] is missing the table [models.{name}.sampler]")
    return ModelEntry(
        name=name, display_name=check.get("display_name", str, "a string", name), upstream=upstream,
        architecture=arch, mask_token_id=mask,
        shift_logits=check.get("shift_logits", bool, "true or false"),
        sampler=_parse_sampler(check, table["sampler"]), files=files, default_quant=default_quant, repo=repo,
        revision=check.get("revision", str, "a branch, tag or commit", "main"),
        verified=check.get("verified", bool, "true or false", False), aliases=tuple(aliases),
        note=check.get("note", str, "a string", ""), license=check.get("license", str, "a string", ""),
        card=check.get("card", str, "a string (URL)", ""),
    )


def parse_registry(text: str, where: str = "registry.toml") -> Registry:
    """Parse and check registry TOML text; RegistryError names ``where``, the entry and the key on a problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{where}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"schema", "models"})
    if unknown:
        raise RegistryError(f"{where}: unknown top-level key {unknown[0]!r} (expected schema and [models.NAME])")
    if document.get("schema", 1) != 1:
        raise RegistryError(f"{where}: schema {document.get('schema')!r} is not supported (this dgcode reads 1)")
    models = document.get("models")
    if not isinstance(models, dict) or not models:
        raise RegistryError(f"{where}: no models: expected one or more [models.NAME] tables")
    return Registry([_parse_entry(where, name, table) for name, table in models.items()], where)


def registry_path() -> Path:
    env = os.environ.get(REGISTRY_ENV, "").strip()
    return Path(env).expanduser() if env else Path(__file__).with_name("registry.toml")


def load_registry(path: str | os.PathLike[str] | None = None) -> Registry:
    """The registry at ``path`` (default: $DGCODE_REGISTRY, else the packaged registry.toml)."""
    path = Path(path) if path is not None else registry_path()
    try:
        stat = path.stat()
    except OSError as exc:
        raise RegistryError(f"cannot read the model registry {path}: {exc.strerror or exc}") from None
    return _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime_ns: int, _size: int) -> Registry:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"cannot read the model registry {path}: {exc}") from None
    return parse_registry(text, where=path)
