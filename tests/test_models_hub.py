"""What huggingface_hub brings to `pull`: the shared cache, offline use, HF_TOKEN, and how dgcode places the file.

The local hub and CDN servers, the private Hugging Face home and the registry
come from test_models_pull.py. "Another tool" downloading a file is
``hf_hub_download`` called directly into the same cache.
"""

from __future__ import annotations

import errno
import os

import pytest
import test_models_pull as shared
from huggingface_hub import constants, hf_hub_download

from dgcode.models import download, store
from dgcode.models.download import DownloadError, VerificationError, _progress_class
from dgcode.models.pull import pull

REPO, cache_files, entry = shared.REPO, shared.cache_files, shared.entry
# The fixtures of test_models_pull.py, hf_env autouse as there.
hf_env, hub, data_dir, gguf_bytes, cli = shared.hf_env, shared.hub, shared.data_dir, shared.gguf_bytes, shared.cli


def other_tool_downloads(hub_state, hf_cache, filename: str = "tiny.Q8_0.gguf") -> str:
    path = hf_hub_download(REPO, filename, endpoint=hub_state.url, cache_dir=str(hf_cache))
    hub_state.requests.clear()
    return path


def test_a_file_another_tool_downloaded_is_not_downloaded_again(hub, data_dir, gguf_bytes, hf_env):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    cached = other_tool_downloads(hub, hf_env)
    starts = []
    result = pull(entry(), on_start=starts.append)
    assert hub.blob_gets() == [] and starts[0].cached and starts[0].sha256 == sha
    assert result.from_hf_cache and result.placed_as == "hardlink" and result.checked_against == "hub"
    assert os.path.samefile(result.path, cached) and result.path.read_bytes() == gguf_bytes


def test_offline_a_cached_file_is_placed_without_any_request(hub, data_dir, gguf_bytes, monkeypatch, hf_env):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    other_tool_downloads(hub, hf_env)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    result = pull(entry())
    assert hub.requests == []
    assert (result.sha256, result.checked_against, result.from_hf_cache) == (sha, "hub", True)  # the blob's name
    assert "the hub was not reached" in result.notes[0]


def test_offline_a_file_not_in_the_cache_is_a_clear_message(hub, data_dir, gguf_bytes, monkeypatch):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE is set"):
        pull(entry())
    assert hub.requests == [] and not (data_dir / "models").exists()


def test_hf_token_is_sent_as_a_bearer_token_to_the_hub_and_not_to_the_cdn(hub, data_dir, gguf_bytes, monkeypatch):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    hub.gated.add(REPO)
    monkeypatch.setenv("HF_TOKEN", "hf_good")
    pull(entry())
    assert {r[4] for r in hub.requests if r[0] == "hub"} == {"Bearer hf_good"}
    assert [r[4] for r in hub.blob_gets()] == [None]


def test_a_gated_repository_says_to_set_hf_token(hub, data_dir, gguf_bytes, monkeypatch):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    hub.gated.add(REPO)
    with pytest.raises(DownloadError, match=r"refused access \(HTTP 401\).*gated or private; set HF_TOKEN"):
        pull(entry())
    assert all(r[4] is None for r in hub.requests)
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(DownloadError, match="HF_TOKEN has no access to it"):
        pull(entry())


def test_a_corrupt_file_another_tool_left_is_not_placed_nor_deleted_and_force_replaces_it(
        hub, data_dir, gguf_bytes, hf_env):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    hub.corrupt = True
    cached = other_tool_downloads(hub, hf_env)  # huggingface_hub checks sizes, not hashes
    hub.corrupt = False
    with pytest.raises(VerificationError, match="checksum mismatch.*left as it is.*--force"):
        pull(entry())
    assert os.path.exists(cached) and list((data_dir / "models" / "tiny-dream").iterdir()) == []
    result = pull(entry(), force=True)
    assert result.path.read_bytes() == gguf_bytes and not result.from_hf_cache and len(hub.blob_gets()) == 1


def test_where_a_hardlink_is_impossible_the_file_is_copied(hub, data_dir, gguf_bytes, monkeypatch):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)

    def no_link(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(download.os, "link", no_link)
    copied: list[tuple[int, int | None]] = []
    result = pull(entry(), verify_progress=lambda done, total: copied.append((done, total)))
    assert result.placed_as == "copy" and result.path.stat().st_nlink == 1
    assert result.path.read_bytes() == gguf_bytes and copied[-1] == (len(gguf_bytes), len(gguf_bytes))
    assert any("copied: it is on disk twice" in note for note in result.notes)


def test_removing_a_linked_model_frees_nothing_and_keeps_the_hf_cache(hub, data_dir, gguf_bytes, hf_env):
    sha = hub.add("tiny.Q8_0.gguf", gguf_bytes)
    result = pull(entry())
    deleted, freed = store.remove(entry())
    assert result.path in deleted and not result.path.exists()
    assert freed < len(gguf_bytes)  # only the record: the bytes are still the Hugging Face cache's
    assert f"models--test-org--tiny-GGUF/blobs/{sha}" in cache_files(hf_env)


def test_the_progress_stand_in_reports_file_bytes_only():
    seen: list[tuple[int, int | None]] = []
    bar_class = _progress_class(lambda done, total: seen.append((done, total)))
    with bar_class(total=100, initial=10, desc="x", unit="B", position=1, bar_format="", leave=True) as bar:
        bar.update(30)
        bar.update_transfer(5)  # Xet network bytes: not file progress
        bar.set_postfix_str("1 MB/s", refresh=False)
        bar.update(-40)  # a server ignored Range: the download starts over
        bar.total = 120
        bar.update(120)
    assert seen == [(10, 100), (40, 100), (0, 100), (120, 120)]


def test_cli_pull_says_when_the_file_came_from_the_hf_cache(cli, hub, data_dir, gguf_bytes, hf_env):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    other_tool_downloads(hub, hf_env)
    result = cli("pull", "tiny")
    assert result.exit_code == 0, result.output
    assert "is in the Hugging Face cache: nothing to download" in result.stderr
    assert "taken from the Hugging Face cache" in result.stderr and hub.blob_gets() == []
