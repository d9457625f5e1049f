"""Pulling a registry model into the store, and verifying a model file; the work behind `models pull/verify`.

``pull`` asks the hub (huggingface_hub, see hub.py) for the file's size,
sha256 and commit, refuses at once when the registry's sha256 disagrees with
the hub's, gets the file into the shared Hugging Face cache (download.fetch:
nothing is downloaded when it is already there), then places it in the store
(download.place: hardlinked, else copied, and verified before it gets its
name: sha256 against the registry's if it has one, else the hub's, and the
GGUF header with ``read_model_info``), and writes a download record. A
``dream``/``llada`` file this pull downloaded is then taken out of the Hugging
Face cache and relabelled in place as its cached twin (engine/relabel.py), so
the engine loads it directly and the model is on disk once. A file
this pull downloaded that fails verification is evicted from the Hugging Face
cache, so the next pull downloads it afresh; one that was already there
(another tool's) is left alone, and ``--force`` downloads it again. When the
hub cannot be reached (or ``HF_HUB_OFFLINE`` is set) a file already in the
cache is still placed, checked against the registry's sha256, or the sha256
its cache blob is named by. ``verify`` re-checks a local file: header,
diffusion usability, agreement with its registry entry, and the sha256
against the registry or, failing that, the download record.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from dgcode.engine import relabel
from dgcode.engine.errors import ModelFileError
from dgcode.engine.model_file import (
    DIFFUSION_ARCH_ALIASES,
    ModelInfo,
    read_header,
    read_model_info,
    require_diffusion,
)
from dgcode.models import hub, store
from dgcode.models.download import (
    DownloadError,
    Fetched,
    ProgressCallback,
    VerificationError,
    evict,
    fetch,
    place,
    sha256_of,
)
from dgcode.models.registry import ModelEntry

RELABELLED = "relabelled"


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
    from_hf_cache: bool = False
    """The file was already in the Hugging Face cache: nothing was downloaded."""
    placed_as: str | None = None
    """'hardlink' (shares the Hugging Face cache's copy) or 'copy'; None when already present."""
    hf_cache_path: Path | None = None
    notes: list[str] = field(default_factory=list)


def _header_check(path: Path) -> None:
    try:
        read_model_info(path)
    except ModelFileError as exc:
        raise VerificationError(f"the downloaded file is not a usable GGUF ({exc})") from exc


def _metadata(entry: ModelEntry, filename: str) -> tuple[hub.RemoteFile, hub.HubError | None]:
    """The hub's metadata, or (when the hub cannot be reached) what the cache knows, with the error kept."""
    try:
        return hub.file_metadata(entry.repo, filename, entry.revision), None
    except hub.HubError as exc:
        if not exc.unreachable:
            hint = "" if entry.verified else f" (this registry entry is unverified: {entry.note})"
            raise DownloadError(f"{exc}{hint}") from None
        cached = hub.cached_file(entry.repo, filename, entry.revision)
        if cached is None:
            raise DownloadError(str(exc), resumable=True) from None
        blob = Path(os.path.realpath(cached)).name
        sha = blob if hub.SHA256_RE.match(blob) else None
        return hub.RemoteFile(url=hub.resolve_url(entry.repo, filename, entry.revision),
                              size=cached.stat().st_size, sha256=sha, etag=blob, commit=None, cached=True), exc


def pull(entry: ModelEntry, quant: str | None = None, *, force: bool = False,
         progress: ProgressCallback | None = None, on_start: Callable[[hub.RemoteFile], None] | None = None,
         verify_progress: ProgressCallback | None = None) -> PullResult:
    """Get ``entry``'s ``quant`` file into the store (a no-op when it is already there, unless ``force``).

    ``progress`` reports the download, ``verify_progress`` the copy (if any) and
    the sha256 pass over the placed file.
    """
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
    remote, unreachable = _metadata(entry, qfile.file)
    if unreachable is not None and force:
        raise DownloadError(f"{unreachable}; --force needs the hub", resumable=True)
    if qfile.sha256 and remote.sha256 and qfile.sha256 != remote.sha256:
        where = "the Hugging Face cache holds" if unreachable else "the hub serves"
        raise DownloadError(f"{where} {qfile.file} with sha256 {remote.sha256}, but the registry expects "
                            f"{qfile.sha256}: the file changed upstream; nothing was downloaded")
    expected = qfile.sha256 or remote.sha256
    checked_against = "registry" if qfile.sha256 else ("hub" if remote.sha256 else None)
    if force:
        remote = replace(remote, cached=False)
    if on_start is not None:
        on_start(remote)
    try:
        fetched = fetch(entry.repo, qfile.file, entry.revision, force=force, progress=progress,
                        local_only=unreachable is not None)
    except hub.HubError as exc:
        raise DownloadError(str(exc), resumable=exc.unreachable) from None
    finish = _relabeller(fetched, dest) if fetched.downloaded else None
    try:
        placed = place(fetched.path, dest, sha256=expected, validate=_header_check, progress=verify_progress,
                       finish=finish)
    except VerificationError as exc:
        if fetched.downloaded:
            evict(fetched.path)
            what = "it was removed from the Hugging Face cache; run the command again to download it afresh"
        else:
            what = (f"the copy in the Hugging Face cache ({fetched.path}) was left as it is; "
                    f"`dgcode models pull {entry.name} --quant {qfile.quant} --force` downloads it again")
        raise VerificationError(f"{exc}; {what}") from None
    for legacy in (store.part_path(dest), store.part_path(dest).with_name(store.part_path(dest).name + ".json")):
        legacy.unlink(missing_ok=True)  # an interrupted download of dgcode before huggingface_hub: obsolete now
    if placed.how != RELABELLED:
        relabel.record_path(dest).unlink(missing_ok=True)  # a record of a file this one replaced
    info = read_model_info(dest)
    store.write_record(dest, {
        "repo": entry.repo, "revision": entry.revision, "commit": remote.commit, "file": qfile.file,
        "quant": qfile.quant, "url": remote.url, "size_bytes": placed.size, "sha256": placed.sha256,
        "checked_against": checked_against, "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hf_cache_path": None if placed.how == RELABELLED else str(fetched.path), "placed_as": placed.how,
        "relabelled_as": info.relabelled_as,
    })
    notes = _notes(entry, info)
    if expected is None:
        notes.insert(0, "the hub reported no sha256 for this file: only its size and GGUF header were checked")
    if unreachable is not None:
        notes.insert(0, f"the hub was not reached ({unreachable}); the file came from the Hugging Face cache")
    if placed.how == "copy":
        notes.append(f"the Hugging Face cache ({hub.cache_dir()}) and the models folder are on different "
                     "filesystems (or links are not supported), so the file was copied: it is on disk twice")
    return PullResult(entry, qfile.quant, dest, placed.size, placed.sha256, checked_against, info,
                      from_hf_cache=not fetched.downloaded, placed_as=placed.how,
                      hf_cache_path=None if placed.how == RELABELLED else fetched.path, notes=notes)


def _relabeller(fetched: Fetched, dest: Path) -> Callable[[Path], str] | None:
    """For a dream/llada file this pull downloaded: relabel the verified temp file in place (one copy on disk).

    The download is dgcode's alone, so its Hugging Face cache entry is removed
    first (the temp file, a hardlink to it, then has no other link) and the
    file is relabelled as its cached twin, recorded beside ``dest``
    (engine/relabel.py). A file that was in the cache before (another tool's)
    is never taken away: it is linked as published and the engine makes its
    relabelled copy on first load.
    """
    try:
        info = read_model_info(fetched.path)
    except ModelFileError:
        return None  # place() reports it
    label = DIFFUSION_ARCH_ALIASES.get(info.architecture)
    if label is None or info.relabelled_as is not None:
        return None

    def finish(tmp: Path) -> str:
        how = "hardlink" if os.path.samefile(tmp, fetched.path) else "copy"
        evict(fetched.path)
        if os.stat(tmp).st_nlink != 1:  # the blob is linked elsewhere too: relabelling would change that file
            return how
        relabel.relabel_in_place(tmp, read_header(tmp), info.architecture, label, record_for=dest)
        return RELABELLED

    return finish


def _notes(entry: ModelEntry, info: ModelInfo) -> list[str]:
    notes = []
    if info.architecture != entry.architecture:
        notes.append(f"the file's architecture is '{info.architecture}', the registry says '{entry.architecture}'")
    alias = DIFFUSION_ARCH_ALIASES.get(info.architecture)
    if info.relabelled_as is not None:
        notes.append(f"stored relabelled as '{info.relabelled_as}' so the engine loads it directly with a KV "
                     "cache: one copy on disk (it was taken out of the Hugging Face cache)")
    elif alias:
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
        if info is not None and info.relabelled_as is not None:  # the published bytes, as the checksum knows them
            report.sha256 = relabel.upstream_sha256(report.path, info.architecture, progress)
        else:
            report.sha256 = sha256_of(report.path, progress)
        if report.expected_sha256 and report.sha256 != report.expected_sha256:
            report.problems.append(f"sha256 {report.sha256} does not match the {report.expected_from}'s "
                                   f"{report.expected_sha256}")
    if report.expected_sha256 is None:
        report.warnings.append("no known sha256 to compare with: only the header was checked")
    return report
