"""The person's own command (a check such as `pytest -x`), run bounded: shell, no stdin, time limit, output cut.

Used by `dgcode fix --cmd` and the pre-commit hook. Its output goes to a
temporary file, so memory stays bounded however much it prints; the head and
(mostly) the tail are kept. On a timeout or an interruption the command's whole
process group is killed. Imports nothing heavy, so the hook can use it before
it knows it needs the model.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from dgcode.workflows.fix.report import CommandResult

OUTPUT_HEAD_CHARS, OUTPUT_TAIL_CHARS = 1500, 4500


def _head_and_tail(path: Path, head: int, tail: int) -> str:
    """The file's text, or its first ``head`` and last ``tail`` characters with a note of the cut."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if size <= head + tail:
            return handle.read().decode("utf-8", "replace")
        first = handle.read(head).decode("utf-8", "replace")
        handle.seek(size - tail)
        last = handle.read().decode("utf-8", "replace")
    first = first[: first.rfind("\n") + 1] or first
    last = last[last.find("\n") + 1:] or last
    return f"{first}[... {size - len(first) - len(last):,} characters of output cut ...]\n{last}"


def run_user_command(command: str, root: Path, timeout_s: float) -> CommandResult:
    """Run the person's own command in ``root`` through the shell with a time limit."""
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dgcode-cmd-") as folder:
        log = Path(folder) / "output"
        with open(log, "wb") as sink:
            process = subprocess.Popen(command, shell=True, cwd=root, stdin=subprocess.DEVNULL, stdout=sink,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            timed_out = False
            try:
                code: int | None = process.wait(timeout=max(timeout_s, 0.05))
            except subprocess.TimeoutExpired:
                timed_out, code = True, None
                _kill_group(process)
            except BaseException:  # Ctrl-C, a budget signal: never leave the command running
                _kill_group(process)
                raise
        output = _head_and_tail(log, OUTPUT_HEAD_CHARS, OUTPUT_TAIL_CHARS)
    return CommandResult(command, code, output, time.monotonic() - began, timed_out)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError, PermissionError):
        process.kill()
    process.wait()
