"""The review screen: each file the answer would change, its diff, and accept or reject per file.

Dismissed with the set of accepted paths (enter), or None (escape: discard
all). Every applicable file starts accepted; files whose edits cannot apply
are listed with the reason and cannot be accepted.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from dgcode.render.diff import diff_text
from dgcode.workflows.chat.proposal import FileProposal, Proposal

DIFF_LINES = 2000
"""Diff lines shown per file (a longer diff says how many more)."""


class ReviewScreen(Screen[set[str] | None]):
    """Accept or reject the proposed edits, file by file."""

    CSS_PATH = "review.tcss"
    BINDINGS = [
        Binding("enter", "apply", "Apply accepted", priority=True),
        Binding("space", "toggle", "Toggle"),
        Binding("a", "accept", "Accept", show=False),
        Binding("r", "reject", "Reject", show=False),
        Binding("escape", "discard", "Discard all"),
    ]

    accepted: reactive[frozenset[str]] = reactive(frozenset())
    """Paths the person accepts; applied when they press enter."""

    def __init__(self, proposal: Proposal):
        super().__init__()
        self.proposal = proposal
        self.files: tuple[FileProposal, ...] = proposal.files
        self.set_reactive(ReviewScreen.accepted, frozenset(f.path for f in proposal.applicable))

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield OptionList(*(Option(self._label(f), id=f"file-{i}") for i, f in enumerate(self.files)), id="files")
        with VerticalScroll(id="diff"):
            yield Static(id="diff-body")
        yield Footer()

    def on_mount(self) -> None:
        files = self.query_one("#files", OptionList)
        files.highlighted = 0
        files.focus()
        self._show(0)
        self._update_title()

    @property
    def current(self) -> FileProposal:
        return self.files[self.query_one("#files", OptionList).highlighted or 0]

    def _label(self, file: FileProposal) -> Text:
        if not file.applicable:
            return Text.assemble(("  ✗ ", "red"), (file.path, "dim"), ("  cannot apply", "red"))
        added, removed = file.counts()
        mark = ("  ✓ ", "bold green") if file.path in self.accepted else ("  · ", "grey50")
        return Text.assemble(mark, (file.path, "bold" if file.path in self.accepted else "dim"),
                             (f"  +{added}", "green"), (f" −{removed}", "red"),
                             ("  new" if file.created else "", "cyan"))

    def _update_title(self) -> None:
        offered = len(self.proposal.applicable)
        self.query_one("#title", Static).update(Text.assemble(
            ("Proposed edits", "bold"), f"  {len(self.accepted)} of {offered} file(s) accepted",
            ("  (a accept · r reject)", "dim")))

    def _show(self, index: int) -> None:
        file = self.files[index]
        body = self.query_one("#diff-body", Static)
        if file.applicable:
            body.update(diff_text(file.path, file.change.old_bytes, file.change.new_bytes, limit=DIFF_LINES))
        else:
            body.update(Text(f"{file.path}: these edits cannot apply:\n" + "\n".join(file.problems), "red"))
        self.query_one("#diff", VerticalScroll).scroll_home(animate=False)

    def on_option_list_option_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        self._show(message.option_index)

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        self.action_toggle()

    def watch_accepted(self) -> None:
        if not self.is_mounted:
            return
        files = self.query_one("#files", OptionList)
        for index, file in enumerate(self.files):
            files.replace_option_prompt_at_index(index, self._label(file))
        self._update_title()

    def _set(self, path: str, accept: bool) -> None:
        if accept:
            self.accepted = self.accepted | {path}
        else:
            self.accepted = self.accepted - {path}

    def action_toggle(self) -> None:
        self._set_current(self.current.path not in self.accepted)

    def action_accept(self) -> None:
        self._set_current(True)

    def action_reject(self) -> None:
        self._set_current(False)

    def _set_current(self, accept: bool) -> None:
        file = self.current
        if not file.applicable:
            self.notify(f"{file.path} cannot be applied: {file.problems[0]}", severity="warning")
            return
        self._set(file.path, accept)

    def action_apply(self) -> None:
        self.dismiss(set(self.accepted))

    def action_discard(self) -> None:
        self.dismiss(None)
