"""Atomic writes (mode kept, no temp files left, clean failure) and stale-file snapshots."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dgcode.edits import atomic
from dgcode.edits.atomic import FileSnapshot, check_still_absent, read_with_snapshot, write_atomic
from dgcode.edits.errors import EditError, ErrorCode


def test_replaces_content_and_keeps_mode(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_bytes(b"#!/bin/sh\necho old\n")
    script.chmod(0o755)
    write_atomic(script, b"#!/bin/sh\necho new\n")
    assert script.read_bytes() == b"#!/bin/sh\necho new\n"
    assert script.stat().st_mode & 0o7777 == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.sh"]


def test_new_file_gets_given_mode_or_umask_default(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a", b"a", mode=0o600)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o600
    write_atomic(tmp_path / "b", b"b")
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o666 & ~atomic.current_umask()


def test_failure_cleans_up_temp_and_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.txt"
    target.write_bytes(b"old\n")

    def broken_fsync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(EditError) as caught:
        write_atomic(target, b"new\n")
    assert caught.value.code is ErrorCode.IO_FAILED
    assert "No space left on device" in str(caught.value)
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_missing_folder_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(EditError):
        write_atomic(tmp_path / "no" / "such" / "file", b"x")


def test_snapshot_catches_a_changed_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_bytes(b"one\n")
    snapshot = FileSnapshot.capture(target)
    snapshot.check_unchanged(target)
    target.write_bytes(b"two\n")  # same size, different content
    with pytest.raises(EditError) as caught:
        snapshot.check_unchanged(target)
    assert caught.value.code is ErrorCode.STALE
    assert "changed since dgcode read it (content" in str(caught.value)
    target.write_bytes(b"one more\n")
    with pytest.raises(EditError, match="size 4 -> 9 bytes"):
        snapshot.check_unchanged(target)


def test_snapshot_of_deleted_file_is_stale(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_bytes(b"x")
    snapshot = FileSnapshot.capture(target)
    target.unlink()
    with pytest.raises(EditError) as caught:
        snapshot.check_unchanged(target)
    assert caught.value.code is ErrorCode.STALE


def test_touch_without_content_change_is_not_stale(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_bytes(b"x")
    snapshot = FileSnapshot.capture(target)
    os.utime(target, ns=(1, 1))
    snapshot.check_unchanged(target)


def test_check_still_absent(tmp_path: Path) -> None:
    check_still_absent(tmp_path / "new.txt")
    (tmp_path / "new.txt").write_bytes(b"")
    with pytest.raises(EditError, match="appeared since"):
        check_still_absent(tmp_path / "new.txt")


def test_read_with_snapshot_bounds_memory_and_refuses_links(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"a" * 100)
    with pytest.raises(EditError) as caught:
        read_with_snapshot(big, max_bytes=10)
    assert caught.value.code is ErrorCode.TOO_LARGE
    data, snapshot = read_with_snapshot(big)
    assert data == b"a" * 100 and snapshot.size == 100
    (tmp_path / "link").symlink_to(big)
    with pytest.raises(EditError):
        read_with_snapshot(tmp_path / "link")


KILL_WRITER = """
import sys
from dgcode.edits.atomic import write_atomic
target, old, new = sys.argv[1], sys.argv[2].encode() * 20000, sys.argv[3].encode() * 20000
print("go", flush=True)
while True:
    write_atomic(target, new)
    write_atomic(target, old)
"""


def test_sigkill_at_random_points_leaves_old_or_new_bytes(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    old, new = b"old line\n" * 20000, b"NEW LINE\r\n" * 20000
    target.write_bytes(old)
    target.chmod(0o640)
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for _ in range(40):
        child = subprocess.Popen(
            [sys.executable, "-c", KILL_WRITER, str(target), "old line\n", "NEW LINE\r\n"],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None and child.stdout.readline() == b"go\n"
        time.sleep(rng.uniform(0, 0.02))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        assert target.read_bytes() in (old, new)
        assert target.stat().st_mode & 0o777 == 0o640
    # A kill can strand a temp file; it is named so recovery can find it, never the target.
    strays = [p.name for p in tmp_path.iterdir() if p.name != "f.txt"]
    assert all(name.startswith(".dgcode-f.txt.") and name.endswith(".tmp") for name in strays)
