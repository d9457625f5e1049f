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
from dataclasses import dataclass
from pathlib import Path

OUTPUT_HEAD_CHARS, OUTPUT_TAIL_CHARS = 1500, 4500


@dataclass(frozen=True)
class CommandResult:
    """One run of the user's check command."""

    command: str
    exit_code: int | None
    """None when it was stopped at the time limit."""
    output: str
    """stdout and stderr together; for long output its start and end, with a note of what was cut."""
    seconds: float
    timed_out: bool = False
    truncated: bool = False
    """The output was too long: ``output`` holds its start and end only."""

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def to_json(self, tail_chars: int = 2000) -> dict[str, object]:
        return {"command": self.command, "exit_code": self.exit_code, "passed": self.passed,
                "timed_out": self.timed_out, "truncated": self.truncated, "seconds": round(self.seconds, 3),
                "output_tail": self.output[-tail_chars:]}


def _head_and_tail(path: Path, head: int, tail: int) -> tuple[str, bool]:
    """The file's text, or its first ``head`` and last ``tail`` characters with a note of the cut; whether cut."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if size <= head + tail:
            return handle.read().decode("utf-8", "replace"), False
        first = handle.read(head).decode("utf-8", "replace")
        handle.seek(size - tail)
        last = handle.read().decode("utf-8", "replace")
    first = first[: first.rfind("\n") + 1] or first
    last = last[last.find("\n") + 1:] or last
    return f"{first}[... {size - len(first) - len(last):,} characters of output cut ...]\n{last}", True


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
        output, truncated = _head_and_tail(log, OUTPUT_HEAD_CHARS, OUTPUT_TAIL_CHARS)
    return CommandResult(command, code, output, time.monotonic() - began, timed_out, truncated)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError, PermissionError):
        process.kill()
    process.wait()
