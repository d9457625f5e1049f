"""Saved sessions on the main screen: save after each turn, resume (--continue), /history, /clear.

A mixin of MainScreen. The files themselves are dgcode/workflows/chat/session_store.py's
business (one JSON file per session in dgcode's data folder); this module turns the
transcript's entries into a SavedSession and back. Notes shown at start (the welcome
line, warnings) are marked ``-unsaved`` so a resumed session does not collect them.
A file that cannot be read is set aside by the store; here it is one note, and a
fresh session.
"""

from __future__ import annotations

from textual.widgets import Markdown

from dgcode.tui.screens.commands import diff_text
from dgcode.tui.widgets.transcript import AnswerView, Note, UserMessage
from dgcode.workflows.chat.session import Attachment
from dgcode.workflows.chat.session_store import (
    Entry,
    SavedSession,
    SessionFileError,
    SessionStore,
    shown_time,
)

UNSAVED = "-unsaved"
"""The class of transcript entries that are not saved (notes shown at start)."""
DIFF = "-diff"
"""The class of /diff's coloured note (saved as its plain text, coloured again when shown)."""


class SessionsMixin:
    """Saves and restores the conversation; mixed into MainScreen."""

    store: SessionStore | None = None
    """Where this repository's sessions are saved (None: sessions are not saved)."""
    saved: SavedSession | None = None
    """The session being shown and saved now."""

    resume: bool = False
    """Show this repository's latest session at start (``dgcode --continue``)."""
    initial_paths: tuple[str, ...] = ()
    """What ``dgcode PATHS...`` put in the context at start."""

    def start_session(self) -> None:
        """At mount: the session (fresh or resumed), then the files named on the command line."""
        self.open_session(self.resume)
        if self.initial_paths:
            self.add_paths(list(self.initial_paths))
        self.refresh_panel()

    def open_session(self, resume: bool) -> None:
        """At start: a fresh session, or (``resume``) this repository's latest one shown again."""
        for child in self.transcript.children:
            child.add_class(UNSAVED)
        if self.store is None:
            return
        self.saved = self.store.new()
        if not resume:
            return
        try:
            latest = self.store.latest()
        except SessionFileError as error:
            self.transcript.add_note(str(error), "warning").add_class(UNSAVED)
            return
        if latest is None:
            self.transcript.add_note("no saved session for this repository yet: starting a new one",
                                     "warning").add_class(UNSAVED)
            return
        self.show_session(latest)

    def show_session(self, saved: SavedSession) -> None:
        """Make ``saved`` the current session: its transcript, history and context."""
        self.saved = saved
        self.last_answer = None
        for entry in saved.entries:
            self._show_entry(entry)
        attachments = [Attachment(a["label"], a["text"]) for a in saved.attachments]
        for note in self.session.restore(saved.context, saved.history, attachments):
            self.transcript.add_note(note, "warning")
        self.transcript.add_note(f"resumed the session of {shown_time(saved.updated)} ({saved.turns} turns; "
                                 "/history lists the others)", "ok").add_class(UNSAVED)
        self.refresh_panel()

    def _show_entry(self, entry: Entry) -> None:
        transcript = self.transcript
        if entry.kind == "user":
            transcript.add_user(entry.text)
        elif entry.kind == "answer":
            transcript.add_answer(entry.text, entry.style == "cancelled")
        elif entry.kind == "markdown":
            transcript.add_markdown(entry.text)
        elif entry.style == DIFF:
            transcript.add_note(diff_text(entry.text)).add_class(DIFF)
        else:
            transcript.add_note(entry.text, entry.style if entry.style in ("info", "ok", "warning", "error")
                                else "info")

    def transcript_entries(self) -> list[Entry]:
        """What the transcript shows now, as saved entries (answers still being generated are left out)."""
        entries = []
        for child in self.transcript.children:
            if child.has_class(UNSAVED):
                continue
            if isinstance(child, UserMessage):
                entries.append(Entry("user", child.text))
            elif isinstance(child, AnswerView):
                if child.final_text is not None:
                    entries.append(Entry("answer", child.final_text,
                                         "cancelled" if child.has_class("-cancelled") else ""))
            elif isinstance(child, Note):
                entries.append(Entry("note", child.text, DIFF if child.has_class(DIFF) else child.kind))
            elif isinstance(child, Markdown):
                entries.append(Entry("markdown", child.source))
        return entries

    def save_session(self) -> None:
        """Write the current session (after a turn, a command, and on quitting); a failure is one note."""
        saved, store = self.saved, self.store
        if saved is None or store is None:
            return
        saved.entries = self.transcript_entries()
        saved.history = [dict(m) for m in self.session.history]
        saved.context = list(self.session.labels)
        saved.attachments = [{"label": a.label, "text": a.text} for a in self.session.attachments]
        if not (saved.turns or saved.context or saved.attachments) and not store.path_of(saved.id).exists():
            return  # no request, no file, no /run output yet: nothing worth a file
        try:
            store.save(saved)
        except (OSError, ValueError) as error:
            if not getattr(self, "_save_failed", False):
                self._save_failed = True
                self.transcript.add_note(f"could not save the session in {store.folder}: {error}", "warning")

    # --- commands ---------------------------------------------------------------------------------

    def command_clear(self, _arg: str) -> None:
        if self.answering:
            self.transcript.add_note("the model is answering: wait, or esc to cancel, then /clear", "warning")
            return
        self.save_session()
        self.transcript.clear()
        self.session.clear_history()
        self.last_answer = None
        if self.store is not None:
            self.saved = self.store.new()
        self.transcript.add_note("new session: cleared the transcript and the conversation history (files stay in "
                                 "context; /history lists saved sessions)")

    def command_history(self, arg: str) -> None:
        if self.store is None:
            self.transcript.add_note("sessions are not saved in this run", "warning")
            return
        self.save_session()
        sessions, notes = self.store.sessions()
        for note in notes:
            self.transcript.add_note(note, "warning")
        if arg:
            self._switch_to(arg, sessions)
            return
        if not sessions:
            self.transcript.add_note("no saved sessions for this repository yet")
            return
        current = self.saved.id if self.saved else None
        lines = [f"{n:>2}. {shown_time(s.updated)}  {s.first_request or '(no request)'}  ({s.turns} turns)"
                 + ("  ← this one" if s.id == current else "") for n, s in enumerate(sessions, 1)]
        self.transcript.add_note("\n".join(lines) + "\n/history N (or an id) switches to one")

    def _switch_to(self, arg: str, sessions: list[SavedSession]) -> None:
        if self.answering:
            self.transcript.add_note("the model is answering: wait, or esc to cancel, then /history", "warning")
            return
        if arg.isdigit():
            chosen = sessions[int(arg) - 1] if 1 <= int(arg) <= len(sessions) else None
        else:
            matches = [s for s in sessions if s.id == arg] or [s for s in sessions if s.id.startswith(arg)]
            chosen = matches[0] if len(matches) == 1 else None
        if chosen is None:
            self.transcript.add_note(f"/history {arg}: no such session; /history lists them", "error")
            return
        if self.saved is not None and chosen.id == self.saved.id:
            self.transcript.add_note("that is the session shown now")
            return
        self.transcript.clear()
        self.show_session(chosen)
