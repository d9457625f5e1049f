"""`pull` through huggingface_hub against a local hub on 127.0.0.1: download, resume, verification, errors, CLI.

Two servers stand in for the Hugging Face hub and its storage host (a CDN), so
the redirect from one to the other crosses origins as on huggingface.co (that
is where huggingface_hub stops following redirects, reads the file's metadata,
and drops the Authorization header). ``HF_ENDPOINT`` points at the hub server;
``HF_HOME`` (so the Hugging Face cache) and the token file are per-test temp
paths, so nothing reaches the network or the user's cache. The hub answers
HEAD and GET on ``/{repo}/resolve/{revision}/{file}`` with a 302 to
``{cdn}/blobs/{sha256}`` carrying ``X-Linked-Etag`` (the sha256),
``X-Linked-Size`` and ``X-Repo-Commit``, a 307 for a renamed repository, or a
404/401 with ``X-Error-Code``; the CDN serves bytes with Range. Faults are
injected per test: a connection dropped mid-file, corrupted bytes, a server
that ignores Range. ``requests`` logs (server, method, path, Range, Authorization).

Adapted from the tests of the urllib client this replaced: a resume now
happens within the pull (huggingface_hub retries a dropped transfer with
Range); huggingface_hub 2.x discards a partial download when the pull fails,
so a failed pull leaves nothing behind and the next one starts over; the
If-Range and the `.part` sidecar tests went with the hand-written client.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import socket
import threading
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dgcode.cli.models import register
from dgcode.engine.synthetic import write_synthetic_gguf
from dgcode.models import hub as dg_hub
from dgcode.models import store
from dgcode.models.download import DownloadError, VerificationError
from dgcode.models.pull import pull
from dgcode.models.registry import parse_registry

REPO = "test-org/tiny-GGUF"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 16 << 10
RANGE_RE = re.compile(r"^bytes=(\d+)-$")


class Hub:
    """What the servers serve and how they misbehave."""

    def __init__(self):
        self.files: dict[tuple[str, str], bytes] = {}
        self.blobs: dict[str, bytes] = {}
        self.drops: list[int] = []
        """For each of the next blob GETs, cut the connection after this many body bytes."""
        self.corrupt = False
        self.ignore_range = False
        self.renamed: dict[str, str] = {}
        self.gated: set[str] = set()
        self.requests: list[tuple[str, str, str, str | None, str | None]] = []
        self.url = ""
        self.cdn = ""

    def add(self, filename: str, data: bytes, repo: str = REPO) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.files[(repo, filename)] = data
        self.blobs[sha] = data
        return sha

    def blob_gets(self) -> list[tuple[str, str, str, str | None, str | None]]:
        return [r for r in self.requests if r[1] == "GET" and r[2].startswith("/blobs/")]

    def heads(self) -> list[str]:
        return [r[2] for r in self.requests if r[1] == "HEAD"]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: Hub
    role: str

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._serve()

    def do_GET(self):
        self._serve()

    def _plain(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self) -> None:
        hub = self.hub
        hub.requests.append((self.role, self.command, self.path, self.headers.get("Range"),
                             self.headers.get("Authorization")))
        if self.role == "cdn":
            if self.path.startswith("/blobs/") and self.path[7:] in hub.blobs:
                return self._blob(self.path[7:])
            return self._plain(404)
        match = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.path)
        if not match:
            return self._plain(404)
        repo, revision, filename = match.groups()
        if repo in hub.renamed:
            return self._plain(307, {"Location": f"/{hub.renamed[repo]}/resolve/{revision}/{filename}"})
        if repo in hub.gated and self.headers.get("Authorization") != "Bearer hf_good":
            return self._plain(401, {"X-Error-Code": "GatedRepo", "X-Error-Message": "gated"})
        if not any(r == repo for r, _ in hub.files):
            return self._plain(404, {"X-Error-Code": "RepoNotFound"})
        data = hub.files.get((repo, filename))
        if data is None:
            return self._plain(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
        sha = hashlib.sha256(data).hexdigest()
        return self._plain(302, {"Location": f"{hub.cdn}/blobs/{sha}", "X-Linked-Etag": f'"{sha}"',
                                 "X-Linked-Size": str(len(data)), "X-Repo-Commit": COMMIT,
                                 "ETag": f'"{sha}"'})

    def _blob(self, sha: str) -> None:
        hub, data = self.hub, self.hub.blobs[sha]
        if hub.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])  # same size, one byte flipped
        start = 0
        ranged = RANGE_RE.match(self.headers.get("Range") or "")
        if ranged and not hub.ignore_range:
            start = int(ranged.group(1))
            if start >= len(data):
                return self._plain(416, {"Content-Range": f"bytes */{len(data)}"})
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("ETag", f'"{sha}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if self.command != "GET":
            return
        body = data[start:]
        if hub.drops:
            cut = hub.drops.pop(0)
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


def _serve(state: Hub, role: str):
    handler = type(f"{role.title()}Handler", (Handler,), {"hub": state, "role": role})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server


@pytest.fixture(autouse=True)
def hf_env(tmp_path, monkeypatch):
    """A private Hugging Face home and cache, no token from anywhere, online, no real sleeping between retries."""
    from huggingface_hub import constants, file_download

    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
                     "HF_HUB_OFFLINE", "HF_OIDC_RESOURCE", "HF_OIDC_ID_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.setattr(file_download.time, "sleep", lambda _s: None)
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", CHUNK)  # bytes count as received a chunk at a time
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # never the real hub, even without the `hub` fixture
    return home / "hub"


@pytest.fixture
def hub(monkeypatch):
    state = Hub()
    servers = [_serve(state, "hub"), _serve(state, "cdn")]
    state.url, state.cdn = (f"http://127.0.0.1:{s.server_port}" for s in servers)
    monkeypatch.setenv("HF_ENDPOINT", state.url)
    yield state
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("DGCODE_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def gguf_bytes(tmp_path_factory) -> bytes:
    """An AR-stored block-diffusion file (qwen2 with a mask token): placed exactly as published."""
    path = write_synthetic_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf", "test", arch="qwen2")
    return path.read_bytes()


@pytest.fixture(scope="module")
def dream_bytes(tmp_path_factory) -> bytes:
    """A dream file: relabelled in place when this pull downloaded it (engine/relabel.py)."""
    path = write_synthetic_gguf(tmp_path_factory.mktemp("gguf") / "tiny-dream.gguf", "test", arch="dream")
    return path.read_bytes()


def registry_text(sha: str | None = None, filename: str = "tiny.Q8_0.gguf", repo: str = REPO,
                  architecture: str = "qwen2") -> str:
    sha_line = f', sha256 = "{sha}"' if sha else ""
    return f"""
[models.tiny-dream]
aliases = ["tiny"]
upstream = "test-org/tiny"
repo = "{repo}"
note = "a synthetic test model"
architecture = "{architecture}"
mask_token_id = 383
shift_logits = true
default_quant = "Q8_0"
files.Q8_0 = {{ file = "{filename}"{sha_line} }}
files.F16 = {{ file = "tiny.f16.gguf" }}
[models.tiny-dream.sampler]
schedule = "threshold"
algorithm = "confidence"
threshold = 0.9
"""


def entry(**kwargs):
    return parse_registry(registry_text(**kwargs)).get("tiny-dream")


def cache_files(hf_cache: Path) -> list[str]:
    """Every file in the Hugging Face cache, relative, without its lock and ref bookkeeping."""
    if not hf_cache.exists():
        return []
    return sorted(str(p.relative_to(hf_cache)) for p in hf_cache.rglob("*")
                  if (p.is_file() or p.is_symlink()) and ".locks" not in p.parts and "refs" not in p.parts
                  and p.name != "CACHEDIR.TAG")


def test_pull_downloads_verifies_and_hardlinks_the_cached_file(hub, data_dir, gguf_bytes, hf_env):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    seen: list[tuple[int, int | None]] = []
    result = pull(entry(), progress=lambda done, total: seen.append((done, total)))
    dest = data_dir / "models" / "tiny-dream" / "tiny.Q8_0.gguf"
    assert result.path == dest and dest.read_bytes() == gguf_bytes
    assert (result.sha256, result.checked_against, result.quant) == (sha, "hub", "Q8_0")
    assert result.info.architecture == "qwen2" and not result.from_hf_cache and result.placed_as == "hardlink"
    assert seen[-1] == (len(gguf_bytes), len(gguf_bytes))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["tiny.Q8_0.gguf", "tiny.Q8_0.gguf.json"]
    # One blob in the Hugging Face cache, and the store's file is the same inode (no second copy).
    blob = hf_env / "models--test-org--tiny-GGUF" / "blobs" / sha
    assert cache_files(hf_env) == [f"models--test-org--tiny-GGUF/blobs/{sha}",
                                   f"models--test-org--tiny-GGUF/snapshots/{COMMIT}/tiny.Q8_0.gguf"]
    assert os.path.samefile(blob, dest) and not dest.is_symlink() and dest.stat().st_nlink == 2
    assert (hf_env / "models--test-org--tiny-GGUF" / "refs" / "main").read_text() == COMMIT
    record = store.read_record(dest)
    assert (record["sha256"], record["commit"], record["checked_against"]) == (sha, COMMIT, "hub")
    assert record["placed_as"] == "hardlink" and Path(record["hf_cache_path"]).samefile(blob)
    # dgcode's metadata HEAD, then hf_hub_download's own; one GET of the bytes, from the CDN.
    assert hub.heads() == ["/test-org/tiny-GGUF/resolve/main/tiny.Q8_0.gguf"] * 2
    assert [(r[0], r[3]) for r in hub.blob_gets()] == [("cdn", None)]
    # A second pull finds the file and makes no request.
    before = len(hub.requests)
    again = pull(entry())
    assert again.already_present and again.sha256 == sha and len(hub.requests) == before


def test_dropped_connection_is_resumed_with_range_in_the_same_pull(hub, data_dir, gguf_bytes):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    cut = len(gguf_bytes) // 3
    hub.drops = [cut]
    seen: list[tuple[int, int | None]] = []
    result = pull(entry(), progress=lambda done, total: seen.append((done, total)))
    assert result.path.read_bytes() == gguf_bytes
    resumed_at = cut // CHUNK * CHUNK  # the whole chunks that arrived before the cut
    assert resumed_at > 0 and [r[3] for r in hub.blob_gets()] == [None, f"bytes={resumed_at}-"]
    assert seen[-1] == (len(gguf_bytes), len(gguf_bytes))


def test_a_server_that_ignores_range_makes_the_retry_start_over(hub, data_dir, gguf_bytes):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    hub.drops = [len(gguf_bytes) // 2]
    hub.ignore_range = True
    seen: list[tuple[int, int | None]] = []
    result = pull(entry(), progress=lambda done, total: seen.append((done, total)))
    assert result.path.read_bytes() == gguf_bytes
    resumed_at = len(gguf_bytes) // 2 // CHUNK * CHUNK
    assert [r[3] for r in hub.blob_gets()] == [None, f"bytes={resumed_at}-"]
    assert seen[-1] == (len(gguf_bytes), len(gguf_bytes))


def test_a_pull_that_keeps_failing_leaves_nothing_and_the_next_pull_completes(hub, data_dir, gguf_bytes, hf_env):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    hub.drops = [0] * 6  # the first try and huggingface_hub's five retries get no bytes
    with pytest.raises(DownloadError) as failure:
        pull(entry())
    assert failure.value.resumable and "run the same command again" in str(failure.value)
    folder = data_dir / "models" / "tiny-dream"
    assert not folder.exists() or list(folder.iterdir()) == []
    assert [p for p in cache_files(hf_env) if "/blobs/" in p] == []  # no .incomplete left behind either
    result = pull(entry())
    assert result.path.read_bytes() == gguf_bytes and not result.from_hf_cache
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.Q8_0.gguf", "tiny.Q8_0.gguf.json"]


def test_a_legacy_part_file_is_cleared_once_the_file_is_placed(hub, data_dir, gguf_bytes):
    folder = data_dir / "models" / "tiny-dream"
    folder.mkdir(parents=True)
    (folder / "tiny.Q8_0.gguf.part").write_bytes(b"GGUF old partial download")
    (folder / "tiny.Q8_0.gguf.part.json").write_text(json.dumps({"identity": "0" * 64}))
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    result = pull(entry())
    assert result.path.read_bytes() == gguf_bytes
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.Q8_0.gguf", "tiny.Q8_0.gguf.json"]


def test_checksum_mismatch_fails_leaves_no_file_and_evicts_the_download(hub, data_dir, gguf_bytes, hf_env):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    hub.corrupt = True
    with pytest.raises(VerificationError, match=f"checksum mismatch for tiny.Q8_0.gguf: expected sha256 {sha}"):
        pull(entry())
    folder = data_dir / "models" / "tiny-dream"
    assert [p.name for p in folder.iterdir()] == []
    assert [p for p in cache_files(hf_env) if "/blobs/" in p or "/snapshots/" in p] == []
    hub.corrupt = False
    result = pull(entry())  # downloaded afresh, not served from the cache
    assert result.path.read_bytes() == gguf_bytes and len(hub.blob_gets()) == 2


def test_registry_checksum_that_disagrees_with_the_hub_downloads_nothing(hub, data_dir, gguf_bytes):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    with pytest.raises(DownloadError, match="the registry expects 1111.*changed upstream"):
        pull(entry(sha="1" * 64))
    assert hub.blob_gets() == []


def test_a_renamed_repository_is_followed_to_its_new_name(hub, data_dir, gguf_bytes):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    hub.renamed["test-org/old-name"] = REPO
    result = pull(entry(repo="test-org/old-name"))
    assert (result.sha256, result.checked_against) == (sha, "hub")
    assert store.read_record(result.path)["url"] == f"{hub.url}/test-org/old-name/resolve/main/tiny.Q8_0.gguf"
    assert "/test-org/tiny-GGUF/resolve/main/tiny.Q8_0.gguf" in hub.heads()


def test_registry_checksum_is_used_when_the_hub_matches(hub, data_dir, gguf_bytes):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    result = pull(entry(sha=sha))
    assert result.checked_against == "registry"


def test_a_file_that_is_not_gguf_is_rejected_before_it_gets_its_name(hub, data_dir, hf_env):
    hub.add("tiny.Q8_0.gguf", b"<html>this is an error page, not a model</html>")
    with pytest.raises(DownloadError, match="not a usable GGUF.*bad magic bytes.*removed from the Hugging Face"):
        pull(entry())
    assert list((data_dir / "models" / "tiny-dream").iterdir()) == []
    assert [p for p in cache_files(hf_env) if "/blobs/" in p] == []


@pytest.mark.parametrize("filename,repo,message", [
    ("missing.gguf", REPO,
     r"missing.gguf was not found in http://127.0.0.1:\d+/test-org/tiny-GGUF at revision 'main' \(HTTP 404\)"),
    ("tiny.Q8_0.gguf", "test-org/gone",
     r"repository test-org/gone was not found on http://127.0.0.1:\d+ \(HTTP 404\)"),
])
def test_not_found_is_a_clear_message(hub, data_dir, gguf_bytes, filename, repo, message):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    with pytest.raises(DownloadError, match=message) as failure:
        pull(entry(filename=filename, repo=repo))
    assert "this registry entry is unverified: a synthetic test model" in str(failure.value)
    assert not (data_dir / "models").exists()


def test_unreachable_hub_is_a_clear_message(data_dir, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match=f"cannot reach http://127.0.0.1:{port}") as failure:
        pull(entry())
    assert failure.value.resumable and dg_hub.endpoint() == f"http://127.0.0.1:{port}"


# --- the command line ----------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, monkeypatch):
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def invoke(*args: str, registry: str | None = None):
        path = tmp_path / "registry.toml"
        path.write_text(registry or registry_text())
        monkeypatch.setenv("DGCODE_REGISTRY", str(path))
        return runner.invoke(app, list(args))

    return invoke


def test_cli_pull_prints_the_path_and_list_shows_it(cli, hub, data_dir, gguf_bytes):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    result = cli("pull", "TINY")
    assert result.exit_code == 0, result.output
    dest = data_dir / "models" / "tiny-dream" / "tiny.Q8_0.gguf"
    assert result.stdout.strip() == str(dest)
    assert "downloading tiny.Q8_0.gguf" in result.stderr and "sha256 checked against the hub" in result.stderr
    assert "downloaded: " in result.stderr
    listed = json.loads(cli("list", "--json").stdout)
    (model,) = listed["models"]
    assert model["name"] == "tiny-dream" and model["partial"] == []
    assert model["downloaded"] == [{"quant": "Q8_0", "path": str(dest), "size_bytes": len(gguf_bytes),
                                    "complete": True}]
    again = cli("pull", "tiny:q8_0")
    assert again.exit_code == 0 and "already downloaded" in again.stderr


def test_cli_pull_failures_exit_one_or_two_with_a_message(cli, hub, data_dir, gguf_bytes):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    missing = cli("pull", "tiny", "--quant", "F16")
    assert missing.exit_code == 1
    assert "tiny.f16.gguf was not found" in missing.stderr and missing.stdout == ""
    unknown = cli("pull", "tiny-drem")
    assert unknown.exit_code == 2 and "unknown model 'tiny-drem'; did you mean tiny-dream, tiny?" in unknown.stderr
    bad_quant = cli("pull", "tiny", "--quant", "Q2_K")
    assert bad_quant.exit_code == 2 and "tiny-dream has no Q2_K file; available: Q8_0, F16" in bad_quant.stderr


def test_cli_pull_that_keeps_failing_says_to_run_it_again_and_the_rerun_does(cli, hub, data_dir, gguf_bytes):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    hub.drops = [0] * 6  # the first try and huggingface_hub's five retries get no bytes
    failed = cli("pull", "tiny")
    assert failed.exit_code == 1
    assert "download of tiny.Q8_0.gguf failed" in failed.stderr and "run the same command again" in failed.stderr
    assert not (data_dir / "models" / "tiny-dream" / "tiny.Q8_0.gguf").exists()
    rerun = cli("pull", "tiny")
    assert rerun.exit_code == 0, rerun.output
    assert Path(rerun.stdout.strip()).read_bytes() == gguf_bytes
