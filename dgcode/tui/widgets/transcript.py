"""The transcript: the person's messages, the model's answers as Markdown, and notes, newest at the bottom.

Answers are Markdown (code fences syntax-highlighted). While an answer is
being generated, each block flows in as soon as it is final; when the answer
is done, its exact text replaces the blocks. The view stays scrolled to the
end until the person scrolls up (``anchor``).
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static

NOTE_KINDS = ("info", "ok", "warning", "error")
CONTROL_PICTURES = {code: 0x2400 + code for code in range(32) if chr(code) not in "\n\t"} | {127: 0x2421}
"""Control characters in an answer (random or broken models emit them) are shown as their pictures (␕)."""


def printable(text: str) -> str:
    return text.translate(CONTROL_PICTURES)


class UserMessage(Static):
    """What the person sent, shown as typed."""

    DEFAULT_CSS = """
    UserMessage {
        margin: 1 0 0 0;
        padding: 0 1;
        border-left: thick $primary;
        background: $boost;
    }
    """

    def __init__(self, text: str):
        super().__init__(Text(text), markup=False)
        self.text = text


class AnswerView(Markdown):
    """One model answer; blocks flow in while it is generated (mounted with the first, see start_answer)."""

    DEFAULT_CSS = """
    AnswerView {
        margin: 1 0 0 0;
        padding: 0 1;
        border-left: thick $accent;
    }
    AnswerView.-cancelled {
        border-left: thick $warning;
    }
    """

    def __init__(self, first_block: str):
        super().__init__(printable(first_block))
        self.blocks: list[str] = [first_block]
        self.final_text: str | None = None

    def append_block(self, text: str) -> None:
        """A block of the answer became final."""
        self.blocks.append(text)
        self.update(printable("".join(self.blocks)))

    def finish(self, text: str, cancelled: bool = False) -> None:
        """The whole answer, as the engine detokenized it."""
        self.final_text = text
        self.set_class(cancelled, "-cancelled")
        self.update(printable(text) if text.strip() else "*(empty answer)*")


class Note(Static):
    """A line from dgcode itself: command output, an error, what was applied."""

    DEFAULT_CSS = """
    Note {
        margin: 1 0 0 0;
        padding: 0 1;
        color: $text-muted;
    }
    Note.-ok { color: $text-success; }
    Note.-warning { color: $text-warning; }
    Note.-error {
        color: $text-error;
        border-left: thick $error;
    }
    """

    def __init__(self, text: str | Text, kind: str = "info"):
        super().__init__(text if isinstance(text, Text) else Text(text), markup=False, classes=f"-{kind}")
        self.kind = kind
        self.text = text.plain if isinstance(text, Text) else text


class Transcript(VerticalScroll):
    """The scrolling conversation."""

    DEFAULT_CSS = """
    Transcript {
        height: 1fr;
        padding: 0 1 1 1;
        scrollbar-size-vertical: 1;
    }
    """

    def on_mount(self) -> None:
        self.anchor()

    def add_user(self, text: str) -> UserMessage:
        return self._add(UserMessage(text))

    def add_note(self, text: str | Text, kind: str = "info") -> Note:
        assert kind in NOTE_KINDS, kind
        return self._add(Note(text, kind))

    def add_markdown(self, markdown: str) -> Markdown:
        return self._add(Markdown(markdown, classes="note-markdown"))

    async def start_answer(self, first_block: str) -> AnswerView:
        """Mount an answer showing its first final block (awaited, so later updates follow it)."""
        view = AnswerView(first_block)
        await self.mount(view)
        self.anchor()
        return view

    def add_answer(self, text: str, cancelled: bool = False) -> AnswerView:
        """A finished answer, shown at once (a saved session shown again)."""
        view = AnswerView(text if text.strip() else "*(empty answer)*")
        view.final_text = text
        view.set_class(cancelled, "-cancelled")
        return self._add(view)

    def _add(self, widget):
        self.mount(widget)
        self.anchor()
        return widget

    def clear(self) -> None:
        self.remove_children()

    def texts(self) -> list[str]:
        """Plain text of every entry (for tests and copying)."""
        found = []
        for child in self.children:
            if isinstance(child, (UserMessage, Note)):
                found.append(child.text)
            elif isinstance(child, AnswerView):
                found.append(child.final_text if child.final_text is not None else "".join(child.blocks))
            elif isinstance(child, Markdown):
                found.append(child.source)
        return found
