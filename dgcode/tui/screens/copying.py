"""/copy: the last answer (or its N-th code block) to the clipboard by OSC 52, and to a file as well.

A mixin of MainScreen. Many terminals ignore OSC 52 (Textual's
``App.copy_to_clipboard``), so the same text is always written to
``clipboard.txt`` in dgcode's data folder too, and the note says where.
``code_blocks`` (pure) finds an answer's fenced code blocks.
"""

from __future__ import annotations

import re
from pathlib import Path

from dgcode.config import shown_path

CLIPBOARD_FILE = "clipboard.txt"
FENCE_RE = re.compile(r"^[ \t]*(`{3,}|~{3,})")


def code_blocks(text: str) -> list[str]:
    """The contents of ``text``'s fenced code blocks (``` or ~~~, three or more), in order; an unclosed
    last block runs to the end."""
    blocks: list[str] = []
    fence: str | None = None
    lines: list[str] = []
    for line in text.split("\n"):
        match = FENCE_RE.match(line)
        if fence is None:
            if match:
                fence, lines = match.group(1), []
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                and not line.strip()[len(match.group(1)):].strip():
            blocks.append("\n".join(lines) + ("\n" if lines else ""))
            fence = None
        else:
            lines.append(line)
    if fence is not None and lines:
        blocks.append("\n".join(lines) + "\n")
    return blocks


def clipboard_file() -> Path:
    """Where /copy also writes what it copies."""
    from dgcode.models.store import data_dir

    return data_dir() / CLIPBOARD_FILE


class CopyMixin:
    """Runs /copy; mixed into MainScreen."""

    def last_answer_text(self) -> str | None:
        """The newest answer in the conversation (after a /remask, the re-masked one); None before any."""
        for message in reversed(self.session.history):
            if message["role"] == "assistant":
                return message["content"]
        return self.last_answer.text if self.last_answer is not None else None

    def command_copy(self, arg: str) -> None:
        text = self.last_answer_text()
        if text is None:
            self.transcript.add_note("/copy: no answer to copy yet", "warning")
            return
        what = "the last answer"
        if arg:
            blocks = code_blocks(text)
            if not arg.isdigit() or not 1 <= int(arg) <= len(blocks):
                count = f"it has {len(blocks)} (1 to {len(blocks)})" if blocks else "it has none"
                self.transcript.add_note(f"/copy {arg}: N numbers a code block of the last answer; {count}",
                                         "error")
                return
            text, what = blocks[int(arg) - 1], f"code block {arg} of the last answer"
        self.app.copy_to_clipboard(text)
        path = clipboard_file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            self.transcript.add_note(f"copied {what} to the clipboard (OSC 52); could not write {path}: {error}",
                                     "warning")
            return
        self.transcript.add_note(f"copied {what} ({len(text)} characters) to the clipboard by OSC 52, and to "
                                 f"{shown_path(path)} (many terminals ignore OSC 52)", "ok")
