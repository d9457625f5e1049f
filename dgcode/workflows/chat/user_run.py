"""The TUI's /run: the person's own command, bounded as dgcode.workflows.user_command runs it, and stoppable.

Same rules as ``run_user_command``: through the shell, in its own session
(process group), no stdin, output to a temporary file with its head and tail
kept, the whole group killed at the time limit. In addition ``stop()``, safe
from any thread (escape, quitting the app), kills the group at once; the
blocked ``run()`` then returns with ``stopped`` set. A stop that comes before
the command has started keeps it from starting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from dgcode.workflows.user_command import OUTPUT_HEAD_CHARS, OUTPUT_TAIL_CHARS, CommandResult, _head_and_tail


class StoppableCommand:
    """One run of the person's command; ``run()`` blocks (a worker thread), ``stop()`` ends it from elsewhere."""

    def __init__(self, command: str, root: Path, timeout_s: float):
        self.command = command
        self.root = Path(root)
        self.timeout_s = timeout_s
        self.stopped = False
        """``stop()`` ended it (or kept it from starting)."""
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._done = False

    @property
    def running(self) -> bool:
        with self._lock:
            return not self._done and not self.stopped

    def run(self) -> CommandResult:
        began = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="dgcode-cmd-") as folder:
                log = Path(folder) / "output"
                with open(log, "wb") as sink:
                    with self._lock:
                        if self.stopped:
                            return CommandResult(self.command, None, "", 0.0)
                        self._process = subprocess.Popen(
                            self.command, shell=True, cwd=self.root, stdin=subprocess.DEVNULL, stdout=sink,
                            stderr=subprocess.STDOUT, start_new_session=True)
                    process = self._process
                    timed_out = False
                    try:
                        code: int | None = process.wait(timeout=max(self.timeout_s, 0.05))
                    except subprocess.TimeoutExpired:
                        timed_out, code = True, None
                        _kill_group(process)
                    except BaseException:
                        _kill_group(process)
                        raise
                    if self.stopped:
                        code = None
                output, truncated = _head_and_tail(log, OUTPUT_HEAD_CHARS, OUTPUT_TAIL_CHARS)
        finally:
            with self._lock:
                self._done = True
        return CommandResult(self.command, code, output, time.monotonic() - began, timed_out, truncated)

    def stop(self) -> bool:
        """Kill the command's whole process group now; True if it was still running."""
        with self._lock:
            if self._done or self.stopped:
                return False
            self.stopped = True
            process = self._process
        if process is not None:
            _kill_group(process, wait=False)
        return True


def _kill_group(process: subprocess.Popen, wait: bool = True) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError, PermissionError):
        try:
            process.kill()
        except OSError:
            pass
    if wait:
        process.wait()
