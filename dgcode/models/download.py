"""A hub file into the Hugging Face cache (``huggingface_hub``), then verified and placed under dgcode's models folder.

``fetch`` is ``hf_hub_download`` into the shared Hugging Face cache: a file
already there (downloaded by dgcode or any other tool) is not downloaded
again; a dropped connection is resumed in the same run with a ``Range``
request; Xet-backed files go through ``hf_xet``; the library's own lock stops
two processes downloading the same blob at once, and its bytes reach the
cache's ``blobs/`` folder only complete (it downloads to a unique
``.incomplete`` file and renames it). Its tqdm progress is routed into
dgcode's ``(done, total)`` callback instead of being drawn (``_progress_class``).

``place`` puts the cached file at its final path in dgcode's store only complete
and verified: it links (or copies) the file to a hidden temp name beside the
destination, checks the sha256 and runs the caller's ``validate`` (the GGUF
header check) on exactly that inode, and only then renames it to its final
name. So nothing half-written or unverified ever sits under the model's name.

Hardlink, not symlink, and not a copy: a hardlink costs no second copy of a
multi-GB file, and, unlike a symlink, it keeps the file's resolved path inside
dgcode's models folder, which the store relies on (``entry_of_path`` and the
engine's aliased-copy records compare resolved paths), and it survives the
Hugging Face cache being pruned (``hf cache rm`` then frees the bytes only once
``dgcode models rm`` removes the last link). Both links share one inode, so
neither side may ever write into it: huggingface_hub replaces blobs by rename,
and dgcode's engine never writes model files (its aliased copies are copies).
Where a hardlink is impossible (the two folders on different filesystems, or a
filesystem without links) the file is copied, with progress, and fsynced.

Relabelled at pull time, when the file is dgcode's alone: ``place`` takes a
``finish`` step, run on the verified temp file just before its rename. pull
uses it for a ``dream``/``llada`` file it downloaded itself: the Hugging Face
cache entry is removed, so the temp file is the only link, and its header is
relabelled in place as ``qwen2``/``llama`` (engine/relabel.py; the record
beside it keeps the real architecture and lets ``verify`` check the published
sha256). The engine then loads it directly, with no copy in its cache: the
model is on disk once. A file that was already in the Hugging Face cache
(another tool's) is linked as published and never changed; the engine makes
its relabelled copy on first load and says so.
"""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dgcode.fsio import fsync_folder
from dgcode.models import hub

ProgressCallback = Callable[[int, "int | None"], None]
HASH_CHUNK = 8 << 20
COPY_CHUNK = 16 << 20
NO_LINK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EMLINK,
                  getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)}


class DownloadError(Exception):
    """The pull failed; str() says what happened and what to do."""

    def __init__(self, message: str, *, resumable: bool = False):
        super().__init__(message)
        self.resumable = resumable
        """Running the same command again may succeed (a transfer cut short, the hub unreachable)."""


class VerificationError(DownloadError):
    """The file's bytes are not what was expected: wrong sha256, or not a usable GGUF."""


@dataclass(frozen=True)
class Fetched:
    path: Path
    """The file in the Hugging Face cache (its snapshot entry; usually a symlink to the blob)."""
    downloaded: bool
    """This call transferred it (False: it was already in the cache)."""


@dataclass(frozen=True)
class Placed:
    path: Path
    size: int
    sha256: str
    how: str
    """'hardlink', 'copy' or what ``place``'s ``finish`` said ('relabelled')."""


def _progress_class(callback: ProgressCallback | None):
    """A stand-in for tqdm that huggingface_hub instantiates for its bars; it reports to ``callback``, draws nothing.

    A class that does not subclass huggingface_hub's tqdm is constructed with the
    bar's keyword arguments only (``total``, ``initial``, ``desc``...). HTTP
    downloads call ``update`` with each chunk (negative when a server ignored a
    Range and the download starts over); Xet downloads call ``update`` with bytes
    written to the file and ``update_transfer`` with network bytes (ignored).
    """

    class _Bar:
        def __init__(self, *args, total=None, initial=0, **kwargs):
            self.total, self.n, self.disable = total, initial or 0, False
            self._report()

        def _report(self) -> None:
            if callback is not None:
                callback(self.n, self.total)

        def update(self, n=1):
            self.n = max(0, self.n + (n or 0))
            self._report()

        def update_transfer(self, n=1):
            pass

        def set_postfix_str(self, *args, **kwargs):
            pass

        set_transfer_postfix_str = set_postfix_str

        def set_description(self, *args, **kwargs):
            pass

        def refresh(self, *args, **kwargs):
            pass

        def close(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    return _Bar


def fetch(repo: str, filename: str, revision: str = "main", *, force: bool = False,
          progress: ProgressCallback | None = None, local_only: bool = False) -> Fetched:
    """``hf_hub_download`` into the Hugging Face cache; HubError (hub said no) or DownloadError (transfer failed)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    before = None if force else hub.cached_file(repo, filename, revision)
    try:
        path = hf_hub_download(repo, filename, revision=revision, cache_dir=str(hub.cache_dir()),
                               endpoint=hub.endpoint(), token=hub.token(), library_name=hub.LIBRARY_NAME,
                               force_download=force, local_files_only=local_only,
                               tqdm_class=_progress_class(progress))
    except (HfHubHTTPError, LocalEntryNotFoundError) as exc:
        raise hub.translate(exc, repo, filename, revision) from None
    except Exception as exc:  # noqa: BLE001 - the transport's exceptions (httpx, hf_xet) vary by version
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DownloadError(f"download of {filename} failed ({type(exc).__name__}: {reason}); run the same "
                            "command again to retry", resumable=True) from None
    path = Path(path)
    return Fetched(path, downloaded=before is None or not os.path.samefile(before, path))


def evict(cached: Path) -> None:
    """Remove a file from the Hugging Face cache: its snapshot entry and the blob behind it."""
    blob = Path(os.path.realpath(cached))
    for path in (cached, blob):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def sha256_of(path: Path, progress: ProgressCallback | None = None) -> str:
    hasher, done, total = hashlib.sha256(), 0, path.stat().st_size
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            hasher.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return hasher.hexdigest()


def place(source: Path, dest: Path, *, sha256: str | None = None, validate: Callable[[Path], None] | None = None,
          progress: ProgressCallback | None = None, finish: Callable[[Path], str] | None = None) -> Placed:
    """Link (else copy) ``source`` to ``dest`` through a verified temp file; see the module docstring.

    ``progress`` reports the copy (when a copy is needed) and the sha256 pass.
    Raises VerificationError when the sha256 differs from ``sha256`` or
    ``validate`` raises (its exception is chained); ``dest`` is then untouched.
    ``finish``, when given, gets the verified temp file just before the rename
    (pull relabels a dream/llada file there) and returns what ``Placed.how`` says.
    """
    source = Path(os.path.realpath(source))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        how = _link_or_copy(source, tmp, progress)
        digest = sha256_of(tmp, progress)
        if sha256 is not None and digest != sha256:
            raise VerificationError(f"checksum mismatch for {dest.name}: expected sha256 {sha256}, got {digest}")
        if validate is not None:
            validate(tmp)
        if finish is not None:
            how = finish(tmp)
        os.replace(tmp, dest)
        fsync_folder(dest.parent)
        return Placed(dest, dest.stat().st_size, digest, how)
    finally:
        tmp.unlink(missing_ok=True)


def _link_or_copy(source: Path, tmp: Path, progress: ProgressCallback | None) -> str:
    try:
        os.link(source, tmp)
        return "hardlink"
    except OSError as exc:
        if exc.errno not in NO_LINK_ERRNOS:
            raise
    total, done = source.stat().st_size, 0
    with open(source, "rb") as fin, open(tmp, "wb") as fout:
        while chunk := fin.read(COPY_CHUNK):
            fout.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        fout.flush()
        os.fsync(fout.fileno())
    return "copy"
