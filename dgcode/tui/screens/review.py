"""The review screen: each file the answer would change, its diff hunk by hunk, and accept or reject per hunk or file.

Dismissed with the accepted changes (enter): a tuple of FileChange, each
holding only its accepted hunks (dgcode/edits/hunks.py), so what is applied
is exactly what was accepted; or None (escape, after a yes to "discard?").
Every hunk of an applicable file starts accepted; j/k move between the
highlighted file's hunks, y/n accept or reject the current one; space, a and
r toggle, accept or reject every hunk of the file.  Files whose edits cannot
apply are listed with the reason and cannot be accepted.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from dgcode.edits.diff import FileChange
from dgcode.edits.hunks import Hunk, reduced, split_hunks
from dgcode.workflows.chat.proposal import FileProposal, Proposal

DIFF_LINES = 2000
"""Diff lines shown per file (a longer diff says how many more)."""


class DiscardScreen(ModalScreen[bool]):
    """Asks before the review throws the proposed edits away: True discards."""

    DEFAULT_CSS = """
    DiscardScreen { align: center middle; }
    DiscardScreen #discard { width: 44; height: auto; padding: 1 2; border: thick $warning; background: $panel; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Discard"),
        Binding("n", "answer(False)", "Keep reviewing"),
        Binding("escape", "answer(False)", "Keep reviewing", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="discard"):
            yield Static(Text.assemble(("Discard the proposed edits?", "bold"), "\nNothing will be written.\n\n",
                                       ("y", "bold"), " discard · ", ("n", "bold"), " keep reviewing"))

    def action_answer(self, discard: bool) -> None:
        self.dismiss(discard)


class ReviewScreen(Screen[tuple[FileChange, ...] | None]):
    """Accept or reject the proposed edits, hunk by hunk or file by file."""

    CSS_PATH = "review.tcss"
    BINDINGS = [
        Binding("enter", "apply", "Apply", priority=True),
        Binding("j", "hunk(1)", "Next hunk", show=False),
        Binding("k", "hunk(-1)", "Prev hunk", show=False),
        Binding("y", "hunk_accept(True)", "Hunk yes"),
        Binding("n", "hunk_accept(False)", "Hunk no"),
        Binding("space", "toggle", "File"),
        Binding("a", "accept", "Accept", show=False),
        Binding("r", "reject", "Reject", show=False),
        Binding("escape", "discard", "Discard"),
    ]

    chosen: reactive[frozenset[tuple[str, int]]] = reactive(frozenset())
    """The accepted hunks, as (path, hunk index); applied when the person presses enter."""
    hunk: reactive[int] = reactive(0)
    """The current hunk of the highlighted file."""

    def __init__(self, proposal: Proposal):
        super().__init__()
        self.proposal = proposal
        self.files: tuple[FileProposal, ...] = proposal.files
        self.hunks: dict[str, tuple[Hunk, ...]] = {f.path: split_hunks(f.change) for f in proposal.applicable}
        self.set_reactive(ReviewScreen.chosen, frozenset((path, h.index) for path, hunks in self.hunks.items()
                                                         for h in hunks))
        self._offsets: list[int] = []

    @property
    def accepted(self) -> frozenset[str]:
        """The files with at least one accepted hunk."""
        return frozenset(path for path, _index in self.chosen)

    def accepted_changes(self) -> tuple[FileChange, ...]:
        """Each file's change with only its accepted hunks, in the proposal's order."""
        result = []
        for file in self.proposal.applicable:
            change = reduced(file.change, {i for path, i in self.chosen if path == file.path})
            if change is not None:
                result.append(change)
        return tuple(result)

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

    def _count(self, path: str) -> tuple[int, int]:
        """(accepted, all) hunks of ``path``."""
        hunks = self.hunks.get(path, ())
        return sum((path, h.index) in self.chosen for h in hunks), len(hunks)

    def _label(self, file: FileProposal) -> Text:
        if not file.applicable:
            return Text.assemble(("  ✗ ", "red"), (file.path, "dim"), ("  cannot apply", "red"))
        added, removed = file.counts()
        taken, total = self._count(file.path)
        mark = (("  ✓ ", "bold green") if taken == total else ("  ◐ ", "yellow") if taken else ("  · ", "grey50"))
        part = f"  {taken}/{total} hunks" if 0 < taken < total else ""
        return Text.assemble(mark, (file.path, "bold" if taken else "dim"), (f"  +{added}", "green"),
                             (f" −{removed}", "red"), ("  new" if file.created else "", "cyan"), (part, "yellow"))

    def _update_title(self) -> None:
        offered = len(self.proposal.applicable)
        hunks = sum(len(h) for h in self.hunks.values())
        self.query_one("#title", Static).update(Text.assemble(
            ("Proposed edits", "bold"), f"  {len(self.accepted)}/{offered} files · {len(self.chosen)}/{hunks} hunks "
            "accepted", ("  (j/k y/n hunk · a/r file)", "dim")))

    def _show(self, index: int) -> None:
        file = self.files[index]
        body = self.query_one("#diff-body", Static)
        self._offsets = []
        if not file.applicable:
            body.update(Text(f"{file.path}: these edits cannot apply:\n" + "\n".join(file.problems), "red"))
            return
        change = file.change
        text = Text(f"--- {'/dev/null' if change.created else 'a/' + change.path}\n+++ b/{change.path}\n",
                    style="bold")
        lines = 2
        hunks = self.hunks[file.path]
        for hunk in hunks:
            self._offsets.append(lines)
            taken = (file.path, hunk.index) in self.chosen
            here = hunk.index == self.hunk
            state = ("✓ accepted", "bold green") if taken else ("✗ rejected", "bold red")
            text.append_text(Text.assemble(("▶ " if here else "  ", "bold"), state,
                                           f"  hunk {hunk.index + 1} of {len(hunks)}\n",
                                           style="reverse" if here else ""))
            shown = hunk.diff_lines()
            for line in shown[:max(0, DIFF_LINES - lines)]:
                style = ("cyan" if line.startswith("@@") else "green" if line.startswith("+")
                         else "red" if line.startswith("-") else "dim" if line.startswith("\\") else "")
                text.append(line, style=style if taken or line.startswith("@@") else "dim")
            lines += 1 + len(shown)
        if lines > DIFF_LINES:
            text.append(f"... {lines - DIFF_LINES} more diff lines\n", style="dim")
        body.update(text)

    def _refresh(self, scroll: bool = False) -> None:
        if not self.is_mounted:
            return
        files = self.query_one("#files", OptionList)
        for index, file in enumerate(self.files):
            files.replace_option_prompt_at_index(index, self._label(file))
        self._update_title()
        self._show(files.highlighted or 0)
        if scroll and self._offsets:
            self.query_one("#diff", VerticalScroll).scroll_to(y=self._offsets[min(self.hunk, len(self._offsets) - 1)],
                                                              animate=False)

    def on_option_list_option_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        self.set_reactive(ReviewScreen.hunk, 0)
        self._show(message.option_index)
        self.query_one("#diff", VerticalScroll).scroll_home(animate=False)

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        self.action_toggle()

    def watch_chosen(self) -> None:
        self._refresh()

    def watch_hunk(self) -> None:
        self._refresh(scroll=True)

    def _applicable_current(self) -> FileProposal | None:
        file = self.current
        if not file.applicable:
            self.notify(f"{file.path} cannot be applied: {file.problems[0]}", severity="warning")
            return None
        return file

    def action_hunk(self, step: int) -> None:
        file = self._applicable_current()
        if file is not None:
            self.hunk = max(0, min(len(self.hunks[file.path]) - 1, self.hunk + step))

    def action_hunk_accept(self, accept: bool) -> None:
        file = self._applicable_current()
        if file is None:
            return
        key = (file.path, min(self.hunk, len(self.hunks[file.path]) - 1))
        self.chosen = self.chosen | {key} if accept else self.chosen - {key}
        if self.hunk < len(self.hunks[file.path]) - 1:
            self.hunk += 1  # on to the next hunk, as `git add -p` does

    def _set_file(self, accept: bool) -> None:
        file = self._applicable_current()
        if file is None:
            return
        keys = {(file.path, h.index) for h in self.hunks[file.path]}
        self.chosen = self.chosen | keys if accept else self.chosen - keys

    def action_toggle(self) -> None:
        taken, total = self._count(self.current.path)
        self._set_file(taken < total)

    def action_accept(self) -> None:
        self._set_file(True)

    def action_reject(self) -> None:
        self._set_file(False)

    def action_apply(self) -> None:
        self.dismiss(self.accepted_changes())

    def action_discard(self) -> None:
        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(DiscardScreen(), answered)
