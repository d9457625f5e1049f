"""The Hugging Face hub as dgcode uses it, through ``huggingface_hub``: file metadata, the cache, readable errors.

All hub traffic goes through the ``huggingface_hub`` library (imported lazily,
so ``import dgcode.models`` stays cheap), which is what every other tool in
this field uses. That gives dgcode, for free and with the same meaning as
elsewhere:

- ``$HF_ENDPOINT`` (a mirror, or a test server) and ``$HF_TOKEN`` (sent as a
  bearer token to the hub, never to the storage host a redirect leads to; a
  token saved by ``hf auth login`` is used when ``HF_TOKEN`` is unset);
- the shared Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
  ``~/.cache/huggingface/hub``): a file another tool already downloaded is not
  downloaded again, and ``$HF_HUB_OFFLINE=1`` serves it without any request;
- Xet-backed files (through ``hf_xet``), which most GGUF repositories now are.

Endpoint, token and cache folder are read from the environment on every call
(``huggingface_hub`` reads its own copies once, at import) and passed
explicitly. A HEAD on ``{endpoint}/{repo}/resolve/{revision}/{filename}``
gives the file's size, its sha256 (``X-Linked-Etag`` of LFS/Xet files) and the
commit served (``X-Repo-Commit``); errors carry ``X-Error-Code``
(RepoNotFound, EntryNotFound, RevisionNotFound, GatedRepo), which
``describe_error`` turns into a sentence saying what to do.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ENDPOINT = "https://huggingface.co"
LIBRARY_NAME = "dgcode"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class HubError(Exception):
    """The hub refused or could not answer; str() says what to do.

    ``unreachable`` is True when no answer came at all (no connection, or
    ``HF_HUB_OFFLINE``): a file already in the Hugging Face cache can still be used.
    """

    def __init__(self, message: str, *, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int | None
    sha256: str | None
    """The file's sha256 as the hub reports it (LFS/Xet files), or None."""
    etag: str | None
    commit: str | None
    cached: bool = False
    """The file of this commit is already in the Hugging Face cache: pulling it downloads nothing."""


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT).rstrip("/")


def token() -> str | None:
    """``$HF_TOKEN``, or None (then huggingface_hub falls back to a token saved by ``hf auth login``)."""
    value = os.environ.get("HF_TOKEN", "").strip()
    return value or None


def cache_dir() -> Path:
    """The shared Hugging Face hub cache, resolved from the environment as huggingface_hub does."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        value = os.environ.get(variable, "").strip()
        if value:
            return Path(os.path.expandvars(value)).expanduser()
    home = os.environ.get("HF_HOME", "").strip()
    if home:
        return Path(os.path.expandvars(home)).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return Path(xdg).expanduser() / "huggingface" / "hub" if xdg else Path.home() / ".cache" / "huggingface" / "hub"


def offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub sees it (it reads the variable once, at import)."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def resolve_url(repo: str, filename: str, revision: str = "main") -> str:
    from huggingface_hub import hf_hub_url

    return hf_hub_url(repo, filename, revision=revision, endpoint=endpoint())


def _sha256_of_etag(etag: str | None) -> str | None:
    return etag if etag and SHA256_RE.match(etag) else None


def cached_file(repo: str, filename: str, revision: str = "main") -> Path | None:
    """The file in the Hugging Face cache for ``revision`` (a branch, tag or commit), or None. No request."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, cache_dir=str(cache_dir()), revision=revision)
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def file_metadata(repo: str, filename: str, revision: str = "main", *, timeout: float = 30.0) -> RemoteFile:
    """HEAD the file's resolve URL (following the hub's own redirects, e.g. a renamed repository)."""
    from huggingface_hub import get_hf_file_metadata

    url = resolve_url(repo, filename, revision)
    if offline():
        raise HubError("HF_HUB_OFFLINE is set: the hub was not asked", unreachable=True)
    try:
        meta = get_hf_file_metadata(url, token=token(), timeout=timeout, library_name=LIBRARY_NAME,
                                    endpoint=endpoint())
    except Exception as exc:  # noqa: BLE001 - the transport's own exception types are huggingface_hub's business
        raise translate(exc, repo, filename, revision) from None
    etag = meta.etag
    commit = meta.commit_hash
    cached = commit is not None and cached_file(repo, filename, commit) is not None
    return RemoteFile(url=url, size=meta.size, sha256=_sha256_of_etag(etag), etag=etag, commit=commit,
                      cached=cached)


def translate(exc: BaseException, repo: str, filename: str, revision: str = "main") -> HubError:
    """A huggingface_hub (or transport) exception as a HubError with a sentence saying what to do."""
    from huggingface_hub.errors import FileMetadataError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        response = exc.response
        return HubError(describe_error(response.status_code, response.headers, repo, filename, revision))
    if isinstance(exc, (OfflineModeIsEnabled, LocalEntryNotFoundError)):
        cause = exc.__cause__ or exc
        if isinstance(cause, HfHubHTTPError) and cause.response is not None:
            return HubError(describe_error(cause.response.status_code, cause.response.headers, repo, filename,
                                           revision))
        if isinstance(cause, FileMetadataError):  # an answer, but not a hub's (e.g. HF_ENDPOINT is no mirror)
            return HubError(f"{endpoint()} did not answer like a Hugging Face hub for {filename} of {repo}: "
                            f"{str(cause).splitlines()[0]}")
        if isinstance(exc, OfflineModeIsEnabled) or offline():
            return HubError(f"{filename} of {repo} is not in the Hugging Face cache ({cache_dir()}) and "
                            "HF_HUB_OFFLINE is set; unset it to download", unreachable=True)
        return _unreachable(cause)
    return _unreachable(exc)


def _unreachable(exc: BaseException) -> HubError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return HubError(f"cannot reach {endpoint()} ({reason}); check the network, or set HF_ENDPOINT to a mirror",
                    unreachable=True)


def describe_error(status: int, headers, repo: str, filename: str, revision: str = "main") -> str:
    """A sentence for an HTTP error from the hub, using its X-Error-Code where it sent one."""
    code = (headers.get("X-Error-Code") if headers is not None else None) or ""
    where = f"{endpoint()}/{repo}"
    if code == "RepoNotFound" or (status == 404 and not code and filename == ""):
        return f"repository {repo} was not found on {endpoint()} (HTTP {status}); it may be private or renamed"
    if code == "RevisionNotFound":
        return f"revision {revision!r} was not found in {where} (HTTP {status})"
    if code == "EntryNotFound" or status == 404:
        return f"{filename} was not found in {where} at revision {revision!r} (HTTP {status})"
    if code == "GatedRepo" or status in (401, 403):
        hint = "set HF_TOKEN to a token with access" if not token() else "HF_TOKEN has no access to it"
        return f"{where} refused access (HTTP {status}): the repository is gated or private; {hint}"
    if status == 429:
        return f"{endpoint()} is rate-limiting requests (HTTP 429); wait a minute and pull again"
    return f"{endpoint()} answered HTTP {status} for {filename} in {repo}"
