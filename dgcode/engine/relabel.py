"""A dream/llada file relabelled in place as its cached twin, and the record beside it that says so.

The engine runs a ``dream`` model on a copy whose header says ``qwen2`` (and
``llada`` as ``llama``; see engine/alias.py): same weights, but llama.cpp
gives it a KV cache. For a file the user owns that copy is made in dgcode's
cache, so the model sits on disk twice. A file dgcode downloaded itself
(``dgcode models pull``) has no other owner, so it can be relabelled in place
instead, once, and loaded directly: one copy on disk.

A relabelled header no longer says it holds a diffusion model, so the fact is
kept beside the file, in ``<file>.relabel.json``: the original architecture,
the label, the byte offsets that were changed (each holds the first
``len(architecture)`` bytes of a key or of the architecture value), the file's
size and a sha256 of the header bytes up to just past the last change. The
record counts only while all of that still matches the file, so a replaced or
edited file is never mistaken for a relabelled one. ``upstream_sha256``
hashes the file as it was published (the changed bytes put back), so the
download's checksum can still be verified.

The engine layer owns this format (``read_model_info`` consults it), so every
front end sees a relabelled file as the diffusion model it is.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

from dgcode.engine.errors import ModelFileError
from dgcode.engine.gguf_header import GGUFHeader
from dgcode.fsio import write_text_atomic

RECORD_SUFFIX = ".relabel.json"
DIGEST_SLACK = 4096
"""Bytes past the last changed one that the header digest covers."""
HASH_CHUNK = 8 << 20


def record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def header_patches(header: GGUFHeader, architecture: str, label: str) -> list[tuple[int, bytes]]:
    """(offset, new bytes) pairs that relabel ``architecture`` as ``label``; lengths never change."""
    if len(label) != len(architecture):
        raise ModelFileError(f"internal: label {label!r} must have the length of {architecture!r}")
    prefix, new_prefix = f"{architecture}.".encode(), f"{label}.".encode()
    patches: list[tuple[int, bytes]] = []
    for name, key_offset in header.key_offsets.items():
        key = name.encode()
        if key.startswith(prefix):
            patches.append((key_offset, new_prefix + key[len(prefix):]))
    patches.append((header.value_offsets["general.architecture"], label.encode()))
    return patches


def apply_patches(path: Path, architecture: str, patches: list[tuple[int, bytes]]) -> None:
    """Write ``patches`` into ``path``, checking each spot still starts with ``architecture``; fsynced."""
    expected = architecture.encode()
    with open(path, "r+b") as fh:
        for offset, data in patches:
            fh.seek(offset)
            old = fh.read(len(data))
            if not (old.startswith(expected) and len(old) == len(data)):
                raise ModelFileError(f"unexpected header layout while relabelling {path.name} at byte {offset}")
            fh.seek(offset)
            fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _head_digest(path: Path, length: int) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read(length)).hexdigest()


def relabel_in_place(path: Path, header: GGUFHeader, architecture: str, label: str, *,
                     record_for: Path | None = None) -> Path:
    """Relabel ``path`` (a file nobody else shares: check its link count first) and write its record.

    ``record_for`` is the name the file will have (a temp file about to be
    renamed); the record is written for that name. Returns the record's path.
    """
    if os.stat(path).st_nlink != 1:
        raise ModelFileError(f"internal: {path.name} has other hard links; relabelling it would change them too")
    patches = header_patches(header, architecture, label)
    apply_patches(path, architecture, patches)
    offsets = sorted(offset for offset, _ in patches)
    size = os.stat(path).st_size
    digest_len = min(size, offsets[-1] + len(architecture) + DIGEST_SLACK)
    record = {"architecture": architecture, "label": label, "offsets": offsets, "size_bytes": size,
              "digest_length": digest_len, "head_sha256": _head_digest(path, digest_len)}
    return write_text_atomic(record_path(record_for or path), json.dumps(record))


def relabelled_from(header: GGUFHeader) -> str | None:
    """The original architecture when ``header``'s file carries a record that still matches it, else None."""
    path = record_path(header.path)
    try:
        record = json.loads(path.read_text())
        architecture, label = str(record["architecture"]), str(record["label"])
        offsets = [int(o) for o in record["offsets"]]
        size, digest_len, digest = int(record["size_bytes"]), int(record["digest_length"]), record["head_sha256"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged record is ignored: the file is taken for what its header says
    if header.values.get("general.architecture") != label or size != header.size_bytes or not offsets:
        return None
    if header.value_offsets.get("general.architecture") not in offsets:
        return None
    try:
        if _head_digest(header.path, digest_len) != digest:
            return None
    except OSError:
        return None
    return architecture


def upstream_sha256(path: Path, architecture: str, progress: Callable[[int, int], None] | None = None) -> str:
    """The sha256 the file had before it was relabelled (its record's changed bytes put back)."""
    record = json.loads(record_path(path).read_text())
    original, width = architecture.encode(), len(architecture)
    offsets = sorted(int(o) for o in record["offsets"])
    hasher, done, total = hashlib.sha256(), 0, os.stat(path).st_size
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            start, end = done, done + len(chunk)
            touched = [o for o in offsets if o < end and o + width > start]
            if touched:
                block = bytearray(chunk)
                for offset in touched:
                    for i in range(width):
                        if start <= offset + i < end:
                            block[offset + i - start] = original[i]
                chunk = bytes(block)
            hasher.update(chunk)
            done = end
            if progress is not None:
                progress(done, total)
    return hasher.hexdigest()
