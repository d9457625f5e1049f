"""SIGKILL an apply at random points, hundreds of times: every file is its old or new bytes, and recover fixes the rest.

Each run forks a child (cheap: everything is already imported) that applies
a 3-file response (two edits, one new file in a new folder).  A third of the
runs kill it after a random delay from its start (lock, snapshot, planning),
a third after a random delay from the moment it writes its journal, and a
third at an exact checkpoint: the child stops just before its k-th file
system step (a folder made, a file write begun, a rename) and is killed
there, so every step between the journal and the end is hit whatever the
machine's speed.  After each kill every file must hold
its old or its new bytes, never anything else; then ``recover`` must leave
all files old (roll back), or all new with ``finish=True``, unless the apply
had completed (then all new, with an undo record).
"""

from __future__ import annotations

import os
import random
import select
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import git_shim, init_repo, real_git  # noqa: E402, F401

from dgcode.edits import apply as apply_module  # noqa: E402
from dgcode.edits import plan as plan_module  # noqa: E402
from dgcode.edits.apply import apply_response  # noqa: E402
from dgcode.edits.atomic import TEMP_PREFIX  # noqa: E402
from dgcode.edits.journal import load_journal, locate_state, read_last_apply, recover  # noqa: E402

OLD = {
    "a.py": b"def a():\r\n    return 1\r\n" + b"# padding\r\n" * 2000,
    "tools/b.sh": b"#!/bin/sh\necho old\n" + b"# more\n" * 2000,
    "fresh/dir/c.py": None,
}
NEW = {
    "a.py": b"def a():\r\n    return 2\r\n" + b"# padding\r\n" * 2000,
    "tools/b.sh": b"#!/bin/sh\necho new\n" + b"# more\n" * 2000,
    "fresh/dir/c.py": b"C = 3\n",
}
RESPONSE = (
    "a.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n"
    "tools/b.sh\n<<<<<<< SEARCH\necho old\n=======\necho new\n>>>>>>> REPLACE\n"
    "fresh/dir/c.py\n<<<<<<< SEARCH\n=======\nC = 3\n>>>>>>> REPLACE\n"
)


def current(root: Path) -> dict[str, bytes | None]:
    return {name: (root / name).read_bytes() if (root / name).exists() else None for name in OLD}


def reset_to_old(root: Path) -> None:
    for name, data in OLD.items():
        if data is not None:
            (root / name).write_bytes(data)
    shutil.rmtree(root / "fresh", ignore_errors=True)
    location = locate_state(root)
    location.last_apply_path.unlink(missing_ok=True)
    assert location.pending_journals() == []


def stray_temp_files(root: Path) -> list[str]:
    return [str(path) for path in root.rglob(f"{TEMP_PREFIX}*") if ".git" not in path.parts]


def announce_checkpoints(write_end: int, pause_at: int | None) -> None:
    """In the child: write a byte before every folder made, file write and rename; sleep at the ``pause_at``-th."""
    passed = 0

    def checkpoint() -> None:
        nonlocal passed
        os.write(write_end, b"c")
        if passed == pause_at:
            time.sleep(3600)
        passed += 1

    def wrap(function):
        def announced(*args, **kwargs):
            checkpoint()
            return function(*args, **kwargs)

        return announced

    os.replace = wrap(os.replace)
    os.mkdir = wrap(os.mkdir)
    plan_module.write_atomic = wrap(plan_module.write_atomic)


def run_child(root: Path, signal_at_journal: bool, checkpoints: bool = False, pause_at: int | None = None) -> tuple[int, int]:
    """Fork a child that applies RESPONSE; returns (pid, read end of its announcement pipe).

    With ``signal_at_journal`` it writes a byte just before the journal; with
    ``checkpoints`` one before each file system step (pausing at ``pause_at``).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: apply, never return into pytest
        code = 1
        try:
            os.close(read_end)
            if signal_at_journal:
                real = apply_module.write_journal

                def announce(location, journal):
                    os.write(write_end, b"j")
                    return real(location, journal)

                apply_module.write_journal = announce
            if checkpoints:
                announce_checkpoints(write_end, pause_at)
            code = 0 if apply_response(root, RESPONSE).ok else 3
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def timed_apply(root: Path) -> tuple[float, float]:
    """(seconds to the journal, seconds in all) for one unkilled apply, to aim the kills."""
    start = time.perf_counter()
    pid, read_end = run_child(root, signal_at_journal=True)
    select.select([read_end], [], [], 30)
    at_journal = time.perf_counter() - start
    _, status = os.waitpid(pid, 0)
    total = time.perf_counter() - start
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert current(root) == NEW
    reset_to_old(root)
    return at_journal, total


def read_announcements(read_end: int, wanted: int | None) -> int:
    """Read the child's checkpoint bytes until ``wanted`` have come (or, with None, until it exits)."""
    count = 0
    while wanted is None or count < wanted:
        ready, _, _ = select.select([read_end], [], [], 30)
        assert ready, "the child stopped announcing without exiting"
        chunk = os.read(read_end, 64)
        if not chunk:
            break
        count += len(chunk)
    return count


def count_checkpoints(root: Path) -> int:
    """How many file system steps one unkilled apply takes (the checkpoint runs pause at each in turn)."""
    pid, read_end = run_child(root, signal_at_journal=False, checkpoints=True)
    count = read_announcements(read_end, None)
    _, status = os.waitpid(pid, 0)
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert current(root) == NEW
    reset_to_old(root)
    return count


def kill_and_recover(root: Path, runs: int, finish: bool, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    timings = [timed_apply(root) for _ in range(3)]
    to_journal = max(t[0] for t in timings)
    total = max(t[1] for t in timings)
    checkpoints = count_checkpoints(root)
    seen = {"before journal": 0, "mid write": 0, "completed": 0, "part old, part new": 0, "checkpoints hit": 0}
    for run in range(runs):
        kind = run % 3
        pause_at = (run // 3) % checkpoints if kind == 2 else None
        pid, read_end = run_child(root, signal_at_journal=kind == 1, checkpoints=kind == 2, pause_at=pause_at)
        if kind == 2:
            read_announcements(read_end, pause_at + 1)
            seen["checkpoints hit"] += 1
        elif kind == 1:
            select.select([read_end], [], [], 30)
            time.sleep(rng.uniform(0, (total - to_journal) * 1.1))
        else:
            time.sleep(rng.uniform(0, total * 1.1))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(read_end)
        assert os.waitstatus_to_exitcode(status) in (0, -signal.SIGKILL), f"run {run}: child failed"
        found = current(root)
        for name in OLD:
            assert found[name] in (OLD[name], NEW[name]), f"run {run}: {name} is neither old nor new"
        location = locate_state(root)
        pending = location.pending_journals()
        prepared = any(load_journal(path).state == "prepared" for path in pending)
        completed = read_last_apply(location) is not None or (pending and not prepared)
        seen["completed" if completed else "mid write" if prepared else "before journal"] += 1
        sides = {found[name] == NEW[name] for name in OLD}
        seen["part old, part new"] += sides == {True, False}
        if not pending and not completed:
            assert found == OLD, f"run {run}: files changed without a journal"
        report = recover(root, finish=finish)
        assert report.ok, (run, report.problems)
        assert location.pending_journals() == []
        assert stray_temp_files(root) == []
        if read_last_apply(location) is not None:
            assert current(root) == NEW, f"run {run}: recorded as applied but not all new"
        else:
            assert current(root) == OLD, f"run {run}: not rolled back to all old"
            assert not (root / "fresh").exists(), f"run {run}: created folder left behind"
        if prepared:
            assert current(root) == (NEW if finish else OLD), f"run {run}: recover did not {finish=}"
        assert os.stat(root / "tools" / "b.sh").st_mode & 0o777 == 0o755
        reset_to_old(root)
    seen["checkpoints"] = checkpoints
    return seen


def make_tree(root: Path, with_git: bool) -> Path:
    if with_git:
        init_repo(root)
    else:
        root.mkdir()
    (root / "tools").mkdir()
    reset_to_old(root)
    (root / "tools" / "b.sh").chmod(0o755)
    (root / "untracked.txt").write_bytes(b"keep me\n")
    if with_git:
        real_git(root, "add", "a.py", "tools/b.sh")
        real_git(root, "commit", "-q", "-m", "base")
    return root


@pytest.mark.parametrize(
    ("with_git", "finish", "runs"),
    [(False, False, 90), (False, True, 60), (True, False, 60)],
    ids=["plain-rollback", "plain-finish", "git-rollback"],
)
def test_sigkill_at_random_points_then_recover(tmp_path: Path, with_git: bool, finish: bool, runs: int) -> None:
    root = make_tree(tmp_path / "tree", with_git)
    seen = kill_and_recover(root, runs, finish, seed=runs + 7 * finish + 13 * with_git)
    assert seen["before journal"] + seen["mid write"] + seen["completed"] == runs
    print(seen)
    assert seen["checkpoints hit"] >= seen["checkpoints"], f"not every file system step was killed at: {seen}"
    assert seen["mid write"] >= 3, f"too few kills landed mid-write to prove anything: {seen}"
    assert seen["part old, part new"] >= 1, f"no kill landed between two file writes: {seen}"
    assert (root / "untracked.txt").read_bytes() == b"keep me\n"
