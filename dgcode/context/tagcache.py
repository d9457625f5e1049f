"""A cache of each file's tags, keyed by (path, mtime, size), optionally kept on disk as JSON.

Parsing every file of a repository for every prompt would be wasteful: a
file whose modification time (in nanoseconds) and size are unchanged gives
the tags it gave last time.  The on-disk copy is stamped with a fingerprint of
the query files and grammar versions, so a new query or grammar starts afresh.
Binary files and files over the size cap have no tags (and are not read), nor
has a file whose grammar wheel is not installed.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from dgcode.context.tags import GRAMMARS, Tag, extract_tags, language_for, query_text

DEFAULT_MAX_TAG_BYTES = 500_000
BINARY_SNIFF_BYTES = 8000


def fingerprint() -> str:
    """Changes whenever a query file or an installed grammar changes."""
    digest = hashlib.sha256()
    for module, _, stem in sorted(set(GRAMMARS.values())):
        digest.update(query_text(stem).encode("utf-8"))
        for dist in ("tree-sitter", module.replace("_", "-")):
            try:
                digest.update(f"{dist}={metadata.version(dist)}".encode())
            except metadata.PackageNotFoundError:
                digest.update(f"{dist}=?".encode())
    return digest.hexdigest()[:16]


class TagCache:
    """Tags per file; ``parsed`` counts the files actually read and parsed (the misses)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_bytes: int = DEFAULT_MAX_TAG_BYTES):
        self.path = Path(path) if path else None
        self.max_bytes = max_bytes
        self.parsed = 0
        self._entries: dict[str, tuple[int, int, list[Tag]]] = {}
        self._fingerprint = fingerprint()
        if self.path and self.path.is_file():
            self._load()

    def tags(self, root: str | os.PathLike[str], rel: str) -> list[Tag]:
        """The tags of ``root/rel`` (empty for unknown languages, binary or oversized files)."""
        if language_for(rel) is None:
            return []
        absolute = os.path.join(root, rel)
        try:
            info = os.stat(absolute)
        except OSError:
            return []
        key = os.path.realpath(absolute)
        cached = self._entries.get(key)
        if cached and cached[0] == info.st_mtime_ns and cached[1] == info.st_size:
            return cached[2]
        found = self._parse(absolute, rel, info.st_size)
        self._entries[key] = (info.st_mtime_ns, info.st_size, found)
        return found

    def _parse(self, absolute: str, rel: str, size: int) -> list[Tag]:
        if size > self.max_bytes:
            return []
        try:
            with open(absolute, "rb") as handle:
                source = handle.read(self.max_bytes + 1)
        except OSError:
            return []
        if len(source) > self.max_bytes or b"\0" in source[:BINARY_SNIFF_BYTES]:
            return []
        self.parsed += 1
        try:
            return extract_tags(rel, source)
        except ImportError:  # the language's grammar wheel is not installed: the file has no tags
            return []

    def save(self) -> None:
        """Write the cache to its file (a temp file renamed into place); no-op without a path."""
        if not self.path:
            return
        files = {key: [mtime, size, [[t.path, t.name, t.kind, t.category, t.line, [list(x) for x in t.lines]]
                                     for t in tags]]
                 for key, (mtime, size, tags) in self._entries.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        temp.write_text(json.dumps({"fingerprint": self._fingerprint, "files": files}), encoding="utf-8")
        os.replace(temp, self.path)

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("fingerprint") != self._fingerprint:
                return
            for key, (mtime, size, rows) in data["files"].items():
                tags = [Tag(p, n, k, c, line, tuple((row, text) for row, text in lines))
                        for p, n, k, c, line, lines in rows]
                self._entries[key] = (int(mtime), int(size), tags)
        except (OSError, ValueError, TypeError, KeyError):
            self._entries.clear()  # a damaged cache is rebuilt, never trusted
