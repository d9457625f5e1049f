"""The Hugging Face hub as dgcode uses it: file URLs, the metadata a HEAD request returns, readable errors.

A file is ``{endpoint}/{repo}/resolve/{revision}/{filename}``; the endpoint is
``$HF_ENDPOINT`` when set (a mirror, or a test server), else huggingface.co.
For a large (LFS/Xet) file the hub answers a HEAD with a redirect that carries
``X-Linked-Etag`` (the file's sha256) and ``X-Linked-Size``; a small file
answers 200 with ``ETag`` and ``Content-Length``. ``X-Repo-Commit`` names the
commit served. Errors carry ``X-Error-Code`` (RepoNotFound, EntryNotFound,
RevisionNotFound, GatedRepo). ``$HF_TOKEN`` is sent as a bearer token, to the
hub only, never to the storage host a redirect leads to.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote

DEFAULT_ENDPOINT = "https://huggingface.co"
USER_AGENT = "dgcode/0.1 (+models pull)"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class HubError(Exception):
    """The hub refused or could not answer; str() says what to do."""


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int | None
    sha256: str | None
    """The file's sha256 as the hub reports it (LFS/Xet files), or None."""
    etag: str | None
    commit: str | None


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT).rstrip("/")


def resolve_url(repo: str, filename: str, revision: str = "main", base: str | None = None) -> str:
    return f"{base or endpoint()}/{repo}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def token() -> str | None:
    value = os.environ.get("HF_TOKEN", "").strip()
    return value or None


def open_url(url: str, headers: dict[str, str] | None = None, *, method: str = "GET", timeout: float = 30.0,
             follow_redirects: bool = True):
    """urlopen with dgcode's User-Agent, the hub token kept off redirects, and optional redirect following."""
    request = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})})
    if token():
        request.add_unredirected_header("Authorization", f"Bearer {token()}")
    handlers = [] if follow_redirects else [_NoRedirect()]
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx surfaces as an HTTPError whose headers we read


def _clean_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    value = value.removeprefix("W/")
    return value.strip('"') or None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def file_metadata(repo: str, filename: str, revision: str = "main", *, timeout: float = 30.0) -> RemoteFile:
    """HEAD the file's resolve URL (without following the redirect) and read size, sha256, ETag and commit."""
    url = resolve_url(repo, filename, revision)
    head_url = url
    for _hop in range(4):  # a renamed repository answers with a relative redirect to its new name
        status, headers = _head(head_url, timeout, repo, filename, revision)
        location = headers.get("Location") or ""
        if not (300 <= status < 400 and location.startswith("/") and "X-Linked-Etag" not in headers):
            break
        head_url = url = endpoint() + location
    linked = _clean_etag(headers.get("X-Linked-Etag"))
    etag = _clean_etag(headers.get("ETag"))
    sha = next((v for v in (linked, etag) if v and SHA256_RE.match(v)), None)
    size = _int(headers.get("X-Linked-Size"))
    if size is None and status == 200:
        size = _int(headers.get("Content-Length"))
    return RemoteFile(url=url, size=size, sha256=sha, etag=linked or etag, commit=headers.get("X-Repo-Commit"))


def _head(url: str, timeout: float, repo: str, filename: str, revision: str):
    """(status, headers) of a HEAD that does not follow redirects; HubError for errors and no connection."""
    try:
        response = open_url(url, method="HEAD", timeout=timeout, follow_redirects=False)
        response.close()
        return response.status, response.headers
    except urllib.error.HTTPError as exc:
        exc.close()
        if not 300 <= exc.code < 400:
            raise HubError(describe_error(exc.code, exc.headers, repo, filename, revision)) from None
        return exc.code, exc.headers
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HubError(f"cannot reach {endpoint()} ({reason}); check the network, or set HF_ENDPOINT "
                       "to a mirror") from None


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
