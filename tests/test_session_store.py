"""Saved chat sessions on disk: round trip, atomic writes, files set aside (corrupt, other versions), listing."""

from __future__ import annotations

import json
import os
import time

import pytest

from dgcode.workflows.chat import session_store
from dgcode.workflows.chat.session_store import (
    FORMAT_VERSION,
    Entry,
    SessionFileError,
    SessionStore,
    repo_key,
)


@pytest.fixture
def store(tmp_path):
    repo = tmp_path / "my repo"
    repo.mkdir()
    return SessionStore(repo, base=tmp_path / "data")


def _filled(store, request="make x bigger"):
    saved = store.new()
    saved.entries = [Entry("user", request), Entry("answer", "x = 10", "cancelled"), Entry("note", "added a.py", "ok"),
                     Entry("markdown", "`ls` passed")]
    saved.history = [{"role": "user", "content": request}, {"role": "assistant", "content": "x = 10"}]
    saved.context = ["a.py", "src/b.py:2-4"]
    saved.attachments = [{"label": "/run pytest (failed)", "text": "1 failed"}]
    return saved


def test_save_and_load_round_trip(store, tmp_path):
    saved = _filled(store)
    path = store.save(saved)
    assert path.parent == store.folder and path.name == f"{saved.id}.json"
    assert str(tmp_path / "data" / "sessions") in str(path), "in the data folder, never in the repository"
    loaded = store.load(saved.id)
    assert loaded == saved
    assert loaded.turns == 1 and loaded.first_request == "make x bigger"
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT_VERSION and data["repo"] == os.path.realpath(store.repo)
    assert store.latest() == saved


def test_the_folder_is_named_after_the_repository_and_a_hash_of_its_path(tmp_path):
    key = repo_key(tmp_path / "my repo")
    assert key.startswith("my_repo-") and len(key.split("-")[-1]) == 16
    assert key != repo_key(tmp_path / "other" / "my repo"), "two repositories of one name keep apart"


def test_writing_is_atomic_a_failed_write_keeps_the_old_file(store, monkeypatch):
    saved = _filled(store)
    path = store.save(saved)
    before = path.read_text()
    saved.entries.append(Entry("user", "second"))

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(session_store.os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.save(saved)
    assert path.read_text() == before, "the old file is whole"
    assert [p.name for p in store.folder.iterdir()] == [path.name], "no temporary file is left behind"


def test_a_corrupt_file_is_set_aside_and_reported(store):
    saved = store.save(_filled(store))
    saved.write_text('{"format": 1, "id": ')
    with pytest.raises(SessionFileError, match="not valid JSON") as caught:
        store.latest()
    moved = caught.value.moved_to
    assert moved is not None and moved.name.startswith(f"{saved.name}.corrupt-") and moved.exists()
    assert not saved.exists() and store.latest() is None, "set aside: never read again"


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, None])
def test_a_file_of_another_format_version_is_set_aside(store, version):
    path = store.save(_filled(store))
    data = json.loads(path.read_text())
    data["format"] = version
    path.write_text(json.dumps(data))
    with pytest.raises(SessionFileError, match="format version") as caught:
        store.load_file(path)
    assert caught.value.moved_to.exists() and not path.exists()


def test_malformed_fields_are_set_aside_too(store):
    path = store.save(_filled(store))
    data = json.loads(path.read_text())
    data["transcript"] = [{"kind": "poem", "text": 3}]
    path.write_text(json.dumps(data))
    with pytest.raises(SessionFileError, match="transcript entry"):
        store.load_file(path)


def test_listing_is_newest_first_and_skips_what_it_sets_aside(store):
    first = _filled(store, "first request")
    store.save(first)
    time.sleep(0.01)
    second = _filled(store, "second request " + "long " * 30)
    store.save(second)
    broken = store.folder / "broken.json"
    broken.write_text("not json")
    sessions, notes = store.sessions()
    assert [s.id for s in sessions] == [second.id, first.id]
    assert sessions[0].first_request.endswith("…") and len(sessions[0].first_request) == 60
    assert len(notes) == 1 and "broken.json" in notes[0] and not broken.exists()


def test_no_sessions_yet(store):
    assert store.latest() is None and store.sessions() == ([], [])
    with pytest.raises(ValueError):
        store.path_of("../escape")


def test_a_file_from_before_attachments_were_saved_loads_with_none(store):
    path = store.save(_filled(store))
    data = json.loads(path.read_text())
    assert data["attachments"] == [{"label": "/run pytest (failed)", "text": "1 failed"}]
    del data["attachments"]
    path.write_text(json.dumps(data))
    assert store.load_file(path).attachments == []


def test_a_malformed_attachment_is_set_aside(store):
    path = store.save(_filled(store))
    data = json.loads(path.read_text())
    data["attachments"] = [{"label": "/run x", "text": 3}]
    path.write_text(json.dumps(data))
    with pytest.raises(SessionFileError, match="attachment"):
        store.load_file(path)
