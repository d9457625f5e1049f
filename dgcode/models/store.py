"""The local model store: where pulled models live, what is there, removing one, and resolving a model setting.

Layout, under ``models_dir()`` (``$DGCODE_DATA_DIR/models``, else
``platformdirs.user_data_dir("dgcode")/models``)::

    <entry name>/<file>.gguf        a complete, verified download: usually a hardlink to the blob in the
                                    Hugging Face cache (same inode, no second copy), else a copy of it
    <entry name>/<file>.gguf.json   its download record (repo, commit, sha256 and what it was checked against)
    <entry name>/<file>.gguf.relabel.json   a dream/llada file relabelled in place at pull time (engine/relabel.py)
    <entry name>/<file>.gguf.part   an interrupted download of dgcode before it used huggingface_hub (listed
                                    and removed, never resumed: partial downloads now live, and die, in the
                                    Hugging Face cache)

A model setting (``--model``, ``DGCODE_MODEL``, config ``model``) may be a path
or a registry name, optionally ``NAME:QUANT``; ``resolve_model`` turns either
into a file, preferring the entry's default quantization among those pulled.
Removing a model also removes the aliased copies dgcode's engine made of it in
``default_cache_dir()/"aliased"`` (found through their ``.json`` sidecars'
``source``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dgcode.engine import relabel
from dgcode.engine.errors import ModelFileError
from dgcode.engine.model_file import AR_ARCHS_FOR_BLOCK_DIFFUSION
from dgcode.models.registry import ModelEntry, Registry, load_registry

DATA_ENV = "DGCODE_DATA_DIR"
PART_SUFFIX = ".part"
RECORD_SUFFIX = ".json"
LOCK_SUFFIX = ".lock"


class ModelNotDownloadedError(ModelFileError):
    """A registry model was named but has not been pulled."""


def data_dir() -> Path:
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("dgcode"))


def models_dir() -> Path:
    return data_dir() / "models"


def model_folder(entry: ModelEntry) -> Path:
    return models_dir() / entry.name


def local_path(entry: ModelEntry, quant: str | None = None) -> Path:
    """Where the file of ``quant`` (default: the entry's default) lives once pulled."""
    return model_folder(entry) / Path(entry.file_for(quant).file).name


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + PART_SUFFIX)


def record_path(dest: Path) -> Path:
    return dest.with_name(dest.name + RECORD_SUFFIX)


def read_record(dest: Path) -> dict | None:
    """The download record of a pulled file, or None when there is none (or it is unreadable)."""
    try:
        record = json.loads(record_path(dest).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(dest: Path, record: dict) -> None:
    tmp = record_path(dest).with_name(record_path(dest).name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.replace(tmp, record_path(dest))


@dataclass(frozen=True)
class LocalFile:
    """A pulled (or partly pulled) file of a registry model."""

    entry: str
    quant: str
    path: Path
    size_bytes: int
    complete: bool

    def to_json(self) -> dict[str, object]:
        return {"quant": self.quant, "path": str(self.path), "size_bytes": self.size_bytes,
                "complete": self.complete}


def local_files(entry: ModelEntry) -> list[LocalFile]:
    """The entry's files present in the store, complete ones and interrupted downloads, in registry order."""
    found = []
    for quant in entry.files:
        dest = local_path(entry, quant)
        for path, complete in ((dest, True), (part_path(dest), False)):
            try:
                size = path.stat().st_size
            except OSError:
                continue
            found.append(LocalFile(entry.name, quant, path, size, complete))
    return found


def downloaded(entry: ModelEntry) -> list[LocalFile]:
    return [f for f in local_files(entry) if f.complete]


# --- aliased copies and removal -------------------------------------------------------------------------


def aliased_copies(model_path: Path, cache_dir: Path | None = None) -> list[Path]:
    """The engine's aliased copies of ``model_path`` (each .gguf with its .json sidecar) in the cache."""
    from dgcode.engine.alias import default_cache_dir

    folder = (cache_dir or default_cache_dir()) / "aliased"
    source = str(Path(model_path).resolve())
    found: list[Path] = []
    for sidecar in sorted(folder.glob("*.json")):
        try:
            recorded = json.loads(sidecar.read_text()).get("source")
        except (OSError, ValueError, AttributeError):
            continue
        if recorded == source:
            copy = sidecar.with_suffix(".gguf")
            found.extend(p for p in (copy, sidecar) if p.exists())
    return found


def removal_plan(entry: ModelEntry, quant: str | None = None, cache_dir: Path | None = None) -> list[Path]:
    """Every path ``remove`` would delete: files, records, partial downloads, aliased copies."""
    paths: list[Path] = []
    for local in local_files(entry):
        if quant is not None and local.quant != quant:
            continue
        dest = local_path(entry, local.quant)
        if local.complete:
            paths.extend(aliased_copies(dest, cache_dir))
        for path in (local.path, record_path(local.path), relabel.record_path(local.path)):
            if path.exists() and path not in paths:
                paths.append(path)
    if quant is None or paths:
        folder = model_folder(entry)
        paths.extend(sorted(folder.glob(f"*{LOCK_SUFFIX}")) if folder.is_dir() else [])
    return paths


def remove(entry: ModelEntry, quant: str | None = None, cache_dir: Path | None = None) -> tuple[list[Path], int]:
    """Delete what ``removal_plan`` lists; returns (deleted paths, bytes freed). Missing files are skipped."""
    deleted, freed = [], 0
    for path in removal_plan(entry, quant, cache_dir):
        try:
            st = path.stat()
            size = st.st_size if st.st_nlink <= 1 else 0  # a hardlink the Hugging Face cache shares frees nothing
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ModelFileError(f"cannot delete {path}: {exc.strerror or exc}") from None
        deleted.append(path)
        freed += size
    try:
        model_folder(entry).rmdir()  # only when empty
    except OSError:
        pass
    return deleted, freed


# --- resolving a model setting ------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedModel:
    """A model setting turned into a file, with the registry entry it belongs to (if any)."""

    path: Path
    entry: ModelEntry | None = None
    quant: str | None = None

    @property
    def mask_token_id(self) -> int | None:
        """The registry's mask token where the file's header cannot have one (AR-stored block diffusion)."""
        if self.entry is not None and self.entry.architecture in AR_ARCHS_FOR_BLOCK_DIFFUSION:
            return self.entry.mask_token_id
        return None


def entry_of_path(path: Path, registry: Registry) -> tuple[ModelEntry, str] | None:
    """(entry, quant) when ``path`` is a file in the store, else None."""
    path = Path(path).expanduser()
    try:
        if path.resolve().parent.parent != models_dir().resolve():
            return None
    except OSError:
        return None
    entry = registry.entries.get(path.parent.name)
    quant = entry.quant_for_filename(path.name) if entry else None
    if entry is None or quant is None:
        return None
    return entry, quant


def _looks_like_name(text: str) -> bool:
    return bool(text) and not text.lower().endswith(".gguf") and "/" not in text and os.sep not in text


def resolve_model(value: str | os.PathLike[str], registry: Registry | None = None) -> ResolvedModel:
    """An existing path as is; a registry name (``NAME`` or ``NAME:QUANT``) as its pulled file.

    A name that is known but not pulled raises ModelNotDownloadedError saying
    which ``dgcode models pull`` to run. Anything else is returned as a path, so
    the model-file checks report it. A name that config.py made absolute
    (relative to its file's folder) is recognised by its last component.
    """
    text = os.fspath(value)
    path = Path(text).expanduser()
    registry = registry or load_registry()
    if path.exists():
        owner = entry_of_path(path, registry)
        return ResolvedModel(path, *(owner or (None, None)))
    candidates = [text] if _looks_like_name(text) else []
    if path.is_absolute() and _looks_like_name(path.name):
        candidates.append(path.name)
    for candidate in candidates:
        if registry.find(candidate.partition(":")[0]) is not None:
            return _pulled_file(candidate, registry)
    return ResolvedModel(path)


def _pulled_file(spec: str, registry: Registry) -> ResolvedModel:
    entry, quant = registry.parse_spec(spec)
    quants = [quant] if quant else [q for q in (entry.default_quant, *entry.files) if q]
    for candidate in dict.fromkeys(quants):
        path = local_path(entry, candidate)
        if path.is_file():
            return ResolvedModel(path, entry, candidate)
    if not entry.pullable:
        raise ModelNotDownloadedError(f"model {entry.name!r} has no downloadable GGUF: {entry.note}")
    wanted = f"{entry.name} --quant {quant}" if quant else entry.name
    raise ModelNotDownloadedError(f"model {entry.name!r}{f' ({quant})' if quant else ''} is not downloaded: "
                                  f"run `dgcode models pull {wanted}`")
