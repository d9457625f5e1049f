"""One URL to one local file: resumable across runs, checked against a sha256, never half a file under its name.

Bytes go to ``DEST.part``; ``DEST.part.json`` remembers what they belong to
(the expected sha256 or URL, the size, the server's ETag). A later call with
the same identity resumes with ``Range: bytes=N-`` (and ``If-Range``, so a file
changed on the server restarts from zero); a dropped connection is retried in
process a few times the same way. When every byte is there, the sha256 and
size are checked and the caller's ``validate`` runs on the ``.part``; only then
is it fsynced and renamed to ``DEST``. A checksum mismatch deletes the
``.part`` (resuming would only reproduce it). A second process downloading the
same file is refused through a lock file rather than interleaving bytes.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dgcode.fsio import fsync_folder
from dgcode.models import hub

ProgressCallback = Callable[[int, "int | None"], None]
CHUNK = 1 << 20
CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)


class DownloadError(Exception):
    """The download failed; ``resumable`` says whether the ``.part`` was kept for the next attempt."""

    def __init__(self, message: str, *, resumable: bool = False):
        super().__init__(message)
        self.resumable = resumable


class _Interrupted(Exception):
    """The transfer stopped early in a way a retry with Range can fix."""


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    resumed_from: int
    """Bytes already in the .part when this call started (0: a fresh download)."""
    attempts: int
    """HTTP requests made for the body (1 + in-process retries)."""


def _sidecar(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _load_state(part: Path, identity: str) -> dict:
    try:
        state = json.loads(_sidecar(part).read_text())
    except (OSError, ValueError):
        state = None
    if not isinstance(state, dict) or state.get("identity") != identity or not part.exists():
        part.unlink(missing_ok=True)
        return {"identity": identity}
    return state


def _save_state(part: Path, state: dict) -> None:
    _sidecar(part).write_text(json.dumps(state))


class _Partial:
    """The bytes in the .part so far: their count and running sha256, kept in step with the file."""

    def __init__(self, part: Path):
        self.have, self.hasher, self.total = 0, hashlib.sha256(), None
        if part.exists():
            with open(part, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    self.add(chunk)

    def add(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        self.have += len(chunk)

    def reset(self, part: Path) -> None:
        part.unlink(missing_ok=True)
        self.have, self.hasher = 0, hashlib.sha256()


class _Lock:
    """An exclusive, non-blocking lock on DEST.lock (POSIX); elsewhere a no-op."""

    def __init__(self, dest: Path):
        self.path = dest.with_name(dest.name + ".lock")
        self.fh = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            raise DownloadError(f"another dgcode process is downloading {self.path.name[:-5]}; wait for it "
                                "to finish") from None
        return self

    def __exit__(self, *exc):
        if self.fh is not None:
            self.path.unlink(missing_ok=True)
            self.fh.close()


def download(url: str, dest: str | os.PathLike[str], *, sha256: str | None = None, size: int | None = None,
             progress: ProgressCallback | None = None, validate: Callable[[Path], None] | None = None,
             retries: int = 3, backoff_s: float = 1.0, timeout_s: float = 30.0,
             headers: dict[str, str] | None = None) -> DownloadResult:
    """Download ``url`` to ``dest``; see the module docstring. Raises DownloadError with a clear message."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with _Lock(dest):
        state = _load_state(part, identity=sha256 or url)
        got = _Partial(part)
        if size is not None and got.have > size:
            got.reset(part)
        resumed_from, attempts = got.have, 0
        _check_space(dest, (size or 0) - got.have)
        while True:
            attempts += 1
            try:
                _transfer(url, part, state, got, size, progress, timeout_s, headers)
                break
            except _Interrupted as exc:
                if attempts > retries:
                    done = f"{got.have:,} of {size:,}" if size else f"{got.have:,}"
                    raise DownloadError(f"download of {dest.name} interrupted after {done} bytes ({exc}); run "
                                        "the same command again to resume", resumable=True) from None
                time.sleep(backoff_s * attempts)
        if got.total is not None and got.have != got.total:
            raise DownloadError(f"{dest.name}: received {got.have:,} bytes but the server announced "
                                f"{got.total:,}", resumable=True)
        digest = got.hasher.hexdigest()
        if sha256 is not None and digest != sha256:
            part.unlink(missing_ok=True)
            _sidecar(part).unlink(missing_ok=True)
            raise DownloadError(f"checksum mismatch for {dest.name}: expected sha256 {sha256}, got {digest}; "
                                "the download was deleted (run the command again to retry)")
        if validate is not None:
            try:
                validate(part)
            except Exception:
                part.unlink(missing_ok=True)
                _sidecar(part).unlink(missing_ok=True)
                raise
        _fsync(part)
        os.replace(part, dest)
        _sidecar(part).unlink(missing_ok=True)
        fsync_folder(dest.parent)
        return DownloadResult(dest, got.have, digest, resumed_from, attempts)


def _transfer(url, part: Path, state: dict, got: _Partial, size: int | None, progress, timeout_s: float,
              headers: dict[str, str] | None) -> None:
    """One GET from ``got.have`` on, appending to the .part and updating ``got``; raises _Interrupted."""
    request_headers = dict(headers or {})
    if got.have > 0:
        request_headers["Range"] = f"bytes={got.have}-"
        if state.get("etag"):
            request_headers["If-Range"] = state["etag"]
    try:
        response = hub.open_url(url, request_headers, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and size is not None and got.have == size:
            got.total = size  # everything is already here
            return
        if exc.code == 416:
            got.reset(part)
            state.pop("etag", None)
            raise _Interrupted("the server could not resume; starting over") from None
        if exc.code in TRANSIENT_STATUS:
            raise _Interrupted(f"HTTP {exc.code}") from None
        raise DownloadError(f"the server answered HTTP {exc.code} for {url}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Interrupted(str(getattr(exc, "reason", exc))) from None
    with response:
        status = response.status
        if got.have > 0 and status == 200:  # range ignored, or If-Range saw a changed file: start over
            got.reset(part)
        elif status == 206:
            match = CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != got.have:
                raise DownloadError(f"the server sent an unexpected range ({response.headers.get('Content-Range')})")
        length = response.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        got.total = _total(response.headers, status, got.have, remaining, size)
        if size is not None and got.total is not None and got.total != size:
            raise DownloadError(f"the server reports {got.total:,} bytes for {part.name[:-5]} but {size:,} were "
                                "expected (the file changed upstream?)")
        state["etag"] = response.headers.get("ETag") or state.get("etag")
        _save_state(part, state)
        received = 0
        if progress is not None:
            progress(got.have, got.total)
        with open(part, "ab" if got.have else "wb") as out:
            while remaining is None or received < remaining:
                try:
                    chunk = response.read(CHUNK if remaining is None else min(CHUNK, remaining - received))
                except (OSError, http.client.HTTPException) as exc:
                    raise _Interrupted(f"connection lost: {exc.__class__.__name__}") from None
                if not chunk:
                    break
                out.write(chunk)
                got.add(chunk)
                received += len(chunk)
                if progress is not None:
                    progress(got.have, got.total)
        if remaining is not None and received < remaining:
            raise _Interrupted(f"connection closed after {got.have:,} bytes")


def _total(headers, status: int, have: int, remaining: int | None, size: int | None) -> int | None:
    if status == 206:
        match = CONTENT_RANGE_RE.match(headers.get("Content-Range", ""))
        if match and match.group(3) != "*":
            return int(match.group(3))
    if remaining is not None:
        return remaining + (have if status == 206 else 0)
    return size


def _check_space(dest: Path, needed: int) -> None:
    if needed <= 0:
        return
    free = shutil.disk_usage(dest.parent).free
    if free < needed:
        raise DownloadError(f"not enough disk space in {dest.parent}: {needed:,} bytes needed, {free:,} free")


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
