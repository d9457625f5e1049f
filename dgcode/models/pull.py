"""Pulling a registry model into the store, and verifying a model file; the work behind `models pull/verify`.

``pull`` asks the hub for the file's size and sha256, downloads it resumably
into the store (download.py), checks the sha256 (the registry's if it has one,
else the hub's), validates the GGUF header with ``read_model_info`` before the
file gets its final name, and writes a download record. ``verify`` re-checks a
local file: header, diffusion usability, agreement with its registry entry,
and the sha256 against the registry or, failing that, the download record.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dgcode.engine.errors import ModelFileError
from dgcode.engine.model_file import DIFFUSION_ARCH_ALIASES, ModelInfo, read_model_info, require_diffusion
from dgcode.models import hub, store
from dgcode.models.download import DownloadError, ProgressCallback, download
from dgcode.models.registry import ModelEntry

HASH_CHUNK = 8 << 20


@dataclass
class PullResult:
    entry: ModelEntry
    quant: str
    path: Path
    size_bytes: int
    sha256: str | None
    checked_against: str | None
    """'registry', 'hub', or None when no checksum was known."""
    info: ModelInfo
    already_present: bool = False
    resumed_from: int = 0
    notes: list[str] = field(default_factory=list)


def _header_check() -> Callable[[Path], None]:
    def check(path: Path) -> None:
        try:
            read_model_info(path)
        except ModelFileError as exc:
            raise DownloadError(f"the downloaded file is not a usable GGUF ({exc}); it was deleted") from None
    return check


def pull(entry: ModelEntry, quant: str | None = None, *, force: bool = False,
         progress: ProgressCallback | None = None, on_start: Callable[[hub.RemoteFile], None] | None = None,
         retries: int = 3, backoff_s: float = 1.0) -> PullResult:
    """Download ``entry``'s ``quant`` file into the store (a no-op when it is already there, unless ``force``)."""
    qfile = entry.file_for(quant)
    dest = store.local_path(entry, qfile.quant)
    if dest.is_file() and not force:
        try:
            info = read_model_info(dest)
        except ModelFileError as exc:
            raise ModelFileError(f"{exc}; `dgcode models pull {entry.name} --quant {qfile.quant} --force` "
                                 "downloads it again") from None
        record = store.read_record(dest) or {}
        return PullResult(entry, qfile.quant, dest, info.size_bytes, record.get("sha256"),
                          record.get("checked_against"), info, already_present=True,
                          notes=_notes(entry, info))
    try:
        remote = hub.file_metadata(entry.repo, qfile.file, entry.revision)
    except hub.HubError as exc:
        hint = "" if entry.verified else f" (this registry entry is unverified: {entry.note})"
        raise DownloadError(f"{exc}{hint}") from None
    if qfile.sha256 and remote.sha256 and qfile.sha256 != remote.sha256:
        raise DownloadError(f"the hub serves {qfile.file} with sha256 {remote.sha256}, but the registry expects "
                            f"{qfile.sha256}: the file changed upstream; nothing was downloaded")
    expected = qfile.sha256 or remote.sha256
    checked_against = "registry" if qfile.sha256 else ("hub" if remote.sha256 else None)
    if on_start is not None:
        on_start(remote)
    result = download(remote.url, dest, sha256=expected, size=remote.size, progress=progress,
                      validate=_header_check(), retries=retries, backoff_s=backoff_s)
    info = read_model_info(dest)
    store.write_record(dest, {
        "repo": entry.repo, "revision": entry.revision, "commit": remote.commit, "file": qfile.file,
        "quant": qfile.quant, "url": remote.url, "size_bytes": result.size, "sha256": result.sha256,
        "checked_against": checked_against, "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    notes = _notes(entry, info)
    if expected is None:
        notes.insert(0, "the hub reported no sha256 for this file: only its size and GGUF header were checked")
    return PullResult(entry, qfile.quant, dest, result.size, result.sha256, checked_against, info,
                      resumed_from=result.resumed_from, notes=notes)


def _notes(entry: ModelEntry, info: ModelInfo) -> list[str]:
    notes = []
    if info.architecture != entry.architecture:
        notes.append(f"the file's architecture is '{info.architecture}', the registry says '{entry.architecture}'")
    alias = DIFFUSION_ARCH_ALIASES.get(info.architecture)
    if alias:
        from dgcode.engine.alias import default_cache_dir

        notes.append(f"the first run makes a cached copy relabelled as '{alias}' (about the same size) in "
                     f"{default_cache_dir() / 'aliased'}; `dgcode models rm {entry.name}` removes it too")
    return notes


# --- verify ------------------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    path: Path
    info: ModelInfo | None = None
    entry: ModelEntry | None = None
    quant: str | None = None
    sha256: str | None = None
    expected_sha256: str | None = None
    expected_from: str | None = None
    """'registry' or 'download record'."""
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path), "ok": self.ok, "model": self.entry.name if self.entry else None,
            "quant": self.quant, "architecture": self.info.architecture if self.info else None,
            "size_bytes": self.info.size_bytes if self.info else None, "sha256": self.sha256,
            "expected_sha256": self.expected_sha256, "expected_from": self.expected_from,
            "problems": self.problems, "warnings": self.warnings,
        }


def sha256_of(path: Path, progress: ProgressCallback | None = None) -> str:
    hasher, done, total = hashlib.sha256(), 0, path.stat().st_size
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            hasher.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return hasher.hexdigest()


def verify(path: Path, entry: ModelEntry | None = None, quant: str | None = None, *, hash_file: bool = True,
           progress: ProgressCallback | None = None) -> VerifyReport:
    """Check a local model file; problems make ``report.ok`` False, warnings do not."""
    report = VerifyReport(Path(path), entry=entry, quant=quant)
    try:
        info = report.info = read_model_info(path)
    except ModelFileError as exc:
        report.problems.append(str(exc))
        info = None
    if info is not None:
        if entry is not None and info.architecture != entry.architecture:
            report.problems.append(f"architecture is '{info.architecture}' but {entry.name} is "
                                   f"'{entry.architecture}' in the registry")
        mask = entry.mask_token_id if entry is not None and info.mask_token_id is None else None
        try:
            require_diffusion(info, mask_token_id=mask)
        except ModelFileError as exc:
            report.problems.append(str(exc))
        if entry is not None and None not in (info.mask_token_id, entry.mask_token_id) \
                and info.mask_token_id != entry.mask_token_id:
            report.warnings.append(f"the header's mask token is {info.mask_token_id}, the registry says "
                                   f"{entry.mask_token_id} (the header is used)")
    if entry is not None and quant is not None:
        report.expected_sha256 = entry.files[quant].sha256
        report.expected_from = "registry" if report.expected_sha256 else None
    if report.expected_sha256 is None:
        recorded = (store.read_record(report.path) or {}).get("sha256")
        if recorded:
            report.expected_sha256, report.expected_from = recorded, "download record"
    if hash_file and report.path.is_file():
        report.sha256 = sha256_of(report.path, progress)
        if report.expected_sha256 and report.sha256 != report.expected_sha256:
            report.problems.append(f"sha256 {report.sha256} does not match the {report.expected_from}'s "
                                   f"{report.expected_sha256}")
    if report.expected_sha256 is None:
        report.warnings.append("no known sha256 to compare with: only the header was checked")
    return report
