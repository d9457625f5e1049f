"""The prompt: a multi-line input with history, and completion of slash commands, paths and @mentions.

Enter sends; shift+enter or ctrl+j starts a new line. Up and down on the
first or last line walk the history (the draft is kept). While completions
are listed above the input, tab takes the highlighted one, up and down move
through them and escape hides them. What to offer comes from the
``completer(text, cursor)`` the screen passes in (dgcode.workflows.chat.commands.complete
for a slash command, dgcode.workflows.chat.mentions.complete_mention for an ``@``
mention); taking a completion that names a file to add posts MentionTaken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option

from dgcode.workflows.chat.commands import Completion

NEWLINE_KEYS = ("shift+enter", "ctrl+j")


class PromptInput(TextArea):
    """The text area itself; keys it does not own go to its PromptBar."""

    DEFAULT_CSS = """
    PromptInput {
        height: auto;
        min-height: 3;
        max-height: 10;
        border: tall $primary 40%;
    }
    PromptInput:focus {
        border: tall $primary;
    }
    """

    async def _on_key(self, event: events.Key) -> None:
        bar = self.parent
        if isinstance(bar, PromptBar) and bar.own_key(event.key):
            event.stop()
            event.prevent_default()
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)


class CompletionList(OptionList):
    """Candidates for what is typed, shown above the input."""

    DEFAULT_CSS = """
    CompletionList {
        height: auto;
        max-height: 8;
        border: none;
        padding: 0 1;
        background: $panel;
        display: none;
    }
    CompletionList.-shown {
        display: block;
    }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.can_focus = False
        self.completions: list[Completion] = []

    def show(self, completions: list[Completion]) -> None:
        self.completions = completions
        self.clear_options()
        self.add_options(Option(Text.assemble((c.label, "bold"), ("  " + c.help if c.help else "", "dim")))
                         for c in completions)
        if completions:
            self.highlighted = 0
        self.set_class(bool(completions), "-shown")

    @property
    def shown(self) -> bool:
        return bool(self.completions)

    def chosen(self) -> Completion | None:
        if not self.completions:
            return None
        return self.completions[self.highlighted or 0]


class PromptBar(Vertical):
    """Completion list over a prompt input; posts Submitted when the person sends a message."""

    DEFAULT_CSS = """
    PromptBar {
        height: auto;
    }
    """

    @dataclass
    class Submitted(Message):
        """The person pressed enter on non-empty text."""

        text: str

    busy: reactive[bool] = reactive(False)
    """True while the model answers; the input stays editable (commands still run) and shows it."""

    @dataclass
    class MentionTaken(Message):
        """The person took an @mention completion: ``path`` goes in the context."""

        path: str

    def __init__(self, completer: Callable[[str, int], list[Completion]] = lambda _t, _c: [], *,
                 id: str | None = None):
        super().__init__(id=id)
        self.completer = completer
        self.history: list[str] = []
        self._history_at: int | None = None
        self._draft = ""
        self._text_set: str | None = None

    def compose(self) -> ComposeResult:
        yield CompletionList()
        yield PromptInput(placeholder="Ask dgcode · / for commands · @ for files · shift+enter: new line",
                          soft_wrap=True, show_line_numbers=False, highlight_cursor_line=False)

    @property
    def input(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def completions(self) -> CompletionList:
        return self.query_one(CompletionList)

    def focus_input(self) -> None:
        self.input.focus()

    def watch_busy(self, busy: bool) -> None:
        self.input.border_subtitle = "answering…" if busy else ""

    def set_text(self, text: str, cursor: int | None = None) -> None:
        """Replace the input's text; the cursor goes to index ``cursor`` of it (None: the end)."""
        self._text_set = text
        self.input.text = text
        document = self.input.document
        self.input.move_cursor(document.end if cursor is None else document.get_location_from_index(cursor))
        self._refresh_completions()

    @property
    def cursor_index(self) -> int:
        """The cursor's position as an index into the text."""
        return self.input.document.get_index_from_location(self.input.cursor_location)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        if self.input.text != self._text_set:  # typed, not recalled from the history
            self._history_at = None
            self._text_set = None
        self._refresh_completions()

    def _refresh_completions(self) -> None:
        text = self.input.text
        offer = self._history_at is None
        self.completions.show([c for c in self.completer(text, self.cursor_index) if c.value != text]
                              if offer else [])

    def own_key(self, key: str) -> bool:
        """Keys the bar owns; True when handled."""
        shown = self.completions.shown
        if key == "enter":
            self._submit()
            return True
        if shown and key == "tab":
            chosen = self.completions.chosen()
            if chosen is not None:
                self.set_text(chosen.value, chosen.cursor)
                if chosen.add:
                    self.post_message(self.MentionTaken(chosen.add))
            return True
        if shown and key in ("up", "down"):
            count = len(self.completions.completions)
            at = self.completions.highlighted or 0
            self.completions.highlighted = (at + (1 if key == "down" else -1)) % count
            return True
        if shown and key == "escape":
            self.completions.show([])
            return True
        row = self.input.cursor_location[0]
        if key == "up" and row == 0 and self.history:
            return self._walk(-1)
        if key == "down" and row == self.input.document.line_count - 1 and self._history_at is not None:
            return self._walk(1)
        return False

    def _walk(self, delta: int) -> bool:
        if self._history_at is None:
            self._draft = self.input.text
            at = len(self.history)
        else:
            at = self._history_at
        at = max(0, min(len(self.history), at + delta))
        self._history_at = None if at == len(self.history) else at
        self.set_text(self.history[at] if at < len(self.history) else self._draft)
        return True

    def _submit(self) -> None:
        text = self.input.text
        if not text.strip():
            return
        if not self.history or self.history[-1] != text:
            self.history.append(text)
        self._history_at = None
        self._draft = ""
        self.set_text("")
        self.post_message(self.Submitted(text))
