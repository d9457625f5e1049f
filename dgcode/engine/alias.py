"""Aliased model copies: a diffusion GGUF relabelled as its same-graph autoregressive twin.

llama.cpp gives `dream` and `llada` contexts no KV cache, but the very same
weights loaded as `qwen2` / `llama` get one, and with causal attention switched
off they compute identical logits (see docs/engine.md). The names have equal
length, so the copy differs from the original only in header bytes: the
architecture string and every `dream.*` / `llada.*` key. The user's file is
never touched; the copy lives in dgcode's cache folder, keyed by the source's
path, size, mtime and inode so a changed source is noticed, and is written to a
temp file, fsynced and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dgcode.engine import relabel
from dgcode.engine.errors import ModelFileError
from dgcode.engine.model_file import DIFFUSION_ARCH_ALIASES, ModelInfo, read_header
from dgcode.fsio import fsync_folder

ProgressCallback = Callable[[int, int], None]
COPY_CHUNK = 16 << 20


def default_cache_dir() -> Path:
    env = os.environ.get("DGCODE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("dgcode"))


def source_key(path: Path) -> str:
    """A key that changes whenever the source file is replaced or modified."""
    st = path.stat()
    ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def aliased_copy_path(info: ModelInfo, cache_dir: Path | None = None) -> Path:
    alias = DIFFUSION_ARCH_ALIASES[info.architecture]
    folder = (cache_dir or default_cache_dir()) / "aliased"
    return folder / f"{info.path.stem}.{source_key(info.path)}.{alias}.gguf"


def _clone_or_copy(src: Path, dst: Path, progress: ProgressCallback | None) -> bool:
    """Copy-on-write clone where the filesystem can, else a chunked copy with progress; whether it was a clone."""
    clone_cmd = ["cp", "-c", str(src), str(dst)] if sys.platform == "darwin" else [
        "cp", "--reflink=always", str(src), str(dst)]
    try:
        done = subprocess.run(clone_cmd, capture_output=True, timeout=600).returncode == 0
    except (OSError, subprocess.SubprocessError):
        done = False
    total = src.stat().st_size
    if done:
        if progress:
            progress(total, total)
        return True
    copied = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(COPY_CHUNK):
            fout.write(chunk)
            copied += len(chunk)
            if progress:
                progress(copied, total)
        fout.flush()
        os.fsync(fout.fileno())
    return False


def header_patches(info: ModelInfo, alias: str) -> list[tuple[int, bytes]]:
    """(offset, new bytes) pairs that relabel the architecture; lengths never change."""
    return relabel.header_patches(read_header(info.path), info.architecture, alias)


@dataclass(frozen=True)
class AliasedCopy:
    """The cached copy a dream/llada model runs from, and what making it cost."""

    path: Path
    size_bytes: int
    created: bool
    """Made by this call (else it was there already)."""
    cloned: bool
    """A copy-on-write clone (shares the source's disk blocks) rather than a full second copy."""


def ensure_aliased_copy(info: ModelInfo, cache_dir: Path | None = None,
                        progress: ProgressCallback | None = None) -> Path:
    """Return the path of the cached aliased copy of a dream/llada model, creating it if needed."""
    return make_aliased_copy(info, cache_dir, progress).path


def make_aliased_copy(info: ModelInfo, cache_dir: Path | None = None,
                      progress: ProgressCallback | None = None) -> AliasedCopy:
    """The cached aliased copy of a dream/llada model, created if needed, with its size and how it was made."""
    alias = DIFFUSION_ARCH_ALIASES.get(info.architecture)
    if info.relabelled_as is not None:
        raise ModelFileError(f"internal: {info.path.name} is already relabelled as '{info.relabelled_as}'")
    if alias is None:
        raise ModelFileError(f"architecture '{info.architecture}' has no cached twin to alias to")
    if len(alias) != len(info.architecture):
        raise ModelFileError(f"internal: alias {alias!r} must have the length of {info.architecture!r}")
    target = aliased_copy_path(info, cache_dir)
    if target.exists():
        return AliasedCopy(target, target.stat().st_size, False, _recorded_clone(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_copies(target, info.path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        patches = header_patches(info, alias)
        cloned = _clone_or_copy(info.path, tmp, progress)
        relabel.apply_patches(tmp, info.architecture, patches)
        os.replace(tmp, target)
        fsync_folder(target.parent)
        (target.with_suffix(".json")).write_text(json.dumps({"source": str(info.path), "alias": alias,
                                                             "cloned": cloned}))
    except OSError as exc:
        raise ModelFileError(f"cannot write the aliased model copy in {target.parent}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return AliasedCopy(target, target.stat().st_size, True, cloned)


def _recorded_clone(target: Path) -> bool:
    try:
        return bool(json.loads(target.with_suffix(".json").read_text()).get("cloned", False))
    except (OSError, ValueError, AttributeError):
        return False


def _remove_stale_copies(target: Path, source: Path) -> None:
    """Copies made from an earlier version of the same source file are deleted (they can be GBs)."""
    for meta in target.parent.glob("*.json"):
        try:
            recorded = json.loads(meta.read_text()).get("source")
        except (OSError, ValueError):
            continue
        old = meta.with_suffix(".gguf")
        if recorded == str(source) and old != target:
            old.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
