"""`pull` against a local hub on 127.0.0.1: success with progress, resume, checksum and header failures, 404s.

The server speaks the part of the Hugging Face protocol dgcode uses: HEAD and
GET on ``/{repo}/resolve/{revision}/{file}`` answer a 302 to a blob URL with
``X-Linked-Etag`` (the sha256), ``X-Linked-Size`` and ``X-Repo-Commit``, or a
404 with ``X-Error-Code``; the blob URL serves bytes with Range / If-Range.
Faults are injected per test: a connection dropped mid-file, corrupted bytes.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import socket
import threading
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dgcode.cli.models import register
from dgcode.engine.synthetic import write_synthetic_gguf
from dgcode.models import store
from dgcode.models.download import DownloadError, download
from dgcode.models.pull import pull
from dgcode.models.registry import parse_registry

REPO = "test-org/tiny-GGUF"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
RANGE_RE = re.compile(r"^bytes=(\d+)-$")


class Hub:
    """What the server serves and how it misbehaves; ``requests`` logs (method, path, Range, If-Range)."""

    def __init__(self):
        self.files: dict[tuple[str, str], bytes] = {}
        self.blobs: dict[str, bytes] = {}
        self.drops: list[int] = []
        """For each of the next blob GETs, cut the connection after this many body bytes."""
        self.corrupt = False
        self.ignore_range = False
        self.renamed: dict[str, str] = {}
        self.requests: list[tuple[str, str, str | None, str | None]] = []
        self.url = ""

    def add(self, filename: str, data: bytes, repo: str = REPO) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.files[(repo, filename)] = data
        self.blobs[sha] = data
        return sha

    def blob_gets(self) -> list[tuple[str, str, str | None, str | None]]:
        return [r for r in self.requests if r[0] == "GET" and r[1].startswith("/blobs/")]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: Hub

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
        hub.requests.append((self.command, self.path, self.headers.get("Range"), self.headers.get("If-Range")))
        match = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.path)
        if match:
            repo, revision, filename = match.groups()
            if repo in hub.renamed:
                return self._plain(307, {"Location": f"/{hub.renamed[repo]}/resolve/{revision}/{filename}"})
            if not any(r == repo for r, _ in hub.files):
                return self._plain(404, {"X-Error-Code": "RepoNotFound"})
            data = hub.files.get((repo, filename))
            if data is None:
                return self._plain(404, {"X-Error-Code": "EntryNotFound"})
            sha = hashlib.sha256(data).hexdigest()
            return self._plain(302, {"Location": f"/blobs/{sha}", "X-Linked-Etag": f'"{sha}"',
                                     "X-Linked-Size": str(len(data)), "X-Repo-Commit": COMMIT,
                                     "ETag": f'"{sha}"'})
        if self.path.startswith("/blobs/") and self.path[7:] in hub.blobs:
            return self._blob(self.path[7:])
        return self._plain(404)

    def _blob(self, sha: str) -> None:
        hub, data = self.hub, self.hub.blobs[sha]
        if hub.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])  # same size, one byte flipped
        start = 0
        ranged = RANGE_RE.match(self.headers.get("Range") or "")
        if_range = self.headers.get("If-Range")
        if ranged and not hub.ignore_range and (if_range is None or if_range == f'"{sha}"'):
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


@pytest.fixture
def hub(monkeypatch):
    state = Hub()
    handler = type("BoundHandler", (Handler,), {"hub": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("HF_ENDPOINT", state.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("DGCODE_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def gguf_bytes(tmp_path_factory) -> bytes:
    path = write_synthetic_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf", "test", arch="dream")
    return path.read_bytes()


def registry_text(sha: str | None = None, filename: str = "tiny.Q8_0.gguf", repo: str = REPO) -> str:
    sha_line = f', sha256 = "{sha}"' if sha else ""
    return f"""
[models.tiny-dream]
aliases = ["tiny"]
upstream = "test-org/tiny"
repo = "{repo}"
note = "a synthetic test model"
architecture = "dream"
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


def test_pull_downloads_verifies_and_reports_progress(hub, data_dir, gguf_bytes):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    seen: list[tuple[int, int | None]] = []
    result = pull(entry(), progress=lambda done, total: seen.append((done, total)))
    dest = data_dir / "models" / "tiny-dream" / "tiny.Q8_0.gguf"
    assert result.path == dest and dest.read_bytes() == gguf_bytes
    assert (result.sha256, result.checked_against, result.quant) == (sha, "hub", "Q8_0")
    assert result.info.architecture == "dream" and result.resumed_from == 0
    assert seen[-1] == (len(gguf_bytes), len(gguf_bytes))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["tiny.Q8_0.gguf", "tiny.Q8_0.gguf.json"]
    record = store.read_record(dest)
    assert (record["sha256"], record["commit"], record["checked_against"]) == (sha, COMMIT, "hub")
    assert any("cached copy relabelled as 'qwen2'" in note for note in result.notes)
    head = [r for r in hub.requests if r[0] == "HEAD"]
    assert head == [("HEAD", "/test-org/tiny-GGUF/resolve/main/tiny.Q8_0.gguf", None, None)]
    # A second pull finds the file and makes no request.
    before = len(hub.requests)
    again = pull(entry())
    assert again.already_present and again.sha256 == sha and len(hub.requests) == before


def test_dropped_connection_is_resumed_with_range_in_the_same_pull(hub, data_dir, gguf_bytes):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    cut = len(gguf_bytes) // 3
    hub.drops = [cut]
    result = pull(entry(), backoff_s=0.01)
    assert result.path.read_bytes() == gguf_bytes
    gets = hub.blob_gets()
    assert [r[2] for r in gets] == [None, f"bytes={cut}-"]
    assert gets[1][3] is not None  # If-Range guards the resume


def test_a_server_that_ignores_range_makes_the_retry_start_over(hub, data_dir, gguf_bytes):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    hub.drops = [len(gguf_bytes) // 2]
    hub.ignore_range = True
    result = pull(entry(), backoff_s=0.01)
    assert result.path.read_bytes() == gguf_bytes
    assert [r[2] for r in hub.blob_gets()] == [None, f"bytes={len(gguf_bytes) // 2}-"]


def test_interrupted_pull_keeps_a_part_file_and_the_next_pull_resumes(hub, data_dir, gguf_bytes):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    cut = len(gguf_bytes) // 2
    hub.drops = [cut]
    with pytest.raises(DownloadError) as failure:
        pull(entry(), retries=0)
    assert failure.value.resumable and "run the same command again to resume" in str(failure.value)
    folder = data_dir / "models" / "tiny-dream"
    assert not (folder / "tiny.Q8_0.gguf").exists()
    assert (folder / "tiny.Q8_0.gguf.part").read_bytes() == gguf_bytes[:cut]
    result = pull(entry())
    assert result.resumed_from == cut and result.path.read_bytes() == gguf_bytes
    assert hub.blob_gets()[-1][2] == f"bytes={cut}-"
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.Q8_0.gguf", "tiny.Q8_0.gguf.json"]


def test_a_part_file_of_another_version_is_discarded(hub, data_dir, gguf_bytes):
    folder = data_dir / "models" / "tiny-dream"
    folder.mkdir(parents=True)
    (folder / "tiny.Q8_0.gguf.part").write_bytes(b"GGUF old version bytes")
    (folder / "tiny.Q8_0.gguf.part.json").write_text(json.dumps({"identity": "0" * 64, "etag": '"old"'}))
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    result = pull(entry())
    assert result.resumed_from == 0 and result.path.read_bytes() == gguf_bytes
    assert [r[2] for r in hub.blob_gets()] == [None]


def test_checksum_mismatch_fails_and_leaves_no_file(hub, data_dir, gguf_bytes):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    hub.corrupt = True
    with pytest.raises(DownloadError, match=f"checksum mismatch for tiny.Q8_0.gguf: expected sha256 {sha}"):
        pull(entry())
    folder = data_dir / "models" / "tiny-dream"
    assert [p.name for p in folder.iterdir()] == []


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
    assert store.read_record(result.path)["url"] == f"{hub.url}/{REPO}/resolve/main/tiny.Q8_0.gguf"


def test_registry_checksum_is_used_when_the_hub_matches(hub, data_dir, gguf_bytes):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    result = pull(entry(sha=sha))
    assert result.checked_against == "registry"


def test_a_file_that_is_not_gguf_is_rejected_before_it_gets_its_name(hub, data_dir):
    hub.add("tiny.Q8_0.gguf", b"<html>this is an error page, not a model</html>")
    with pytest.raises(DownloadError, match="not a usable GGUF.*bad magic bytes"):
        pull(entry())
    assert list((data_dir / "models" / "tiny-dream").iterdir()) == []


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
    with pytest.raises(DownloadError, match=f"cannot reach http://127.0.0.1:{port}"):
        pull(entry())


def test_download_already_complete_part_is_finished_without_refetching(hub, tmp_path, gguf_bytes):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    dest = tmp_path / "model.gguf"
    (tmp_path / "model.gguf.part").write_bytes(gguf_bytes)
    (tmp_path / "model.gguf.part.json").write_text(json.dumps({"identity": sha, "etag": f'"{sha}"'}))
    result = download(f"{hub.url}/blobs/{sha}", dest, sha256=sha, size=len(gguf_bytes))
    assert result.resumed_from == len(gguf_bytes) and dest.read_bytes() == gguf_bytes
    assert [r[2] for r in hub.blob_gets()] == [f"bytes={len(gguf_bytes)}-"]


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


def test_cli_pull_that_keeps_failing_says_how_to_resume_and_the_rerun_does(cli, hub, data_dir, gguf_bytes,
                                                                           monkeypatch):
    monkeypatch.setattr("dgcode.models.download.time.sleep", lambda _s: None)
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    step = len(gguf_bytes) // 8
    hub.drops = [step] * 4  # the first try and all three retries are cut short
    failed = cli("pull", "tiny")
    assert failed.exit_code == 1
    assert f"interrupted after {4 * step:,} of {len(gguf_bytes):,} bytes" in failed.stderr
    assert "run the same command again to resume" in failed.stderr
    part = data_dir / "models" / "tiny-dream" / "tiny.Q8_0.gguf.part"
    assert part.stat().st_size == 4 * step
    rerun = cli("pull", "tiny")
    assert rerun.exit_code == 0, rerun.output
    assert "resumed from" in rerun.stderr and not part.exists()
    assert Path(rerun.stdout.strip()).read_bytes() == gguf_bytes
