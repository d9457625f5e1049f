"""Sending failed edits back: one key (ctrl+r) asks the model again, with each failure's reason written for it.

A mixin of MainScreen. The edits mixin (screens/edits.py) records every edit
of the last answer that could not apply (SEARCH not found, ambiguous, a file
changed since it was read, a block that does not parse ...) with
``edit_failed``; ``offer_resend`` notes the key once the failures are shown,
and ``action_resend_failed`` sends them as a follow-up message (the wording
is prompts/chat/edits_failed.txt) through the normal turn.
"""

from __future__ import annotations

from dgcode.context.prompt import fill

RESEND_KEY = "ctrl+r"


def failures_message(failures: list[str] | tuple[str, ...]) -> str:
    """The follow-up message for the model: one ``- `` line per failure."""
    return fill("chat/edits_failed", problems="\n".join(f"- {failure}" for failure in failures))


class ResendMixin:
    """Remembers the last answer's failed edits and sends them back on ctrl+r; mixed into MainScreen."""

    failed_edits: tuple[str, ...] = ()
    """Why each edit of the last answer failed (file, edit number, reason), for the model."""

    def forget_failed_edits(self) -> None:
        self.failed_edits = ()

    def edit_failed(self, reason: str) -> None:
        """Record one failure (as the model should read it)."""
        if reason not in self.failed_edits:
            self.failed_edits = (*self.failed_edits, reason)

    def offer_resend(self) -> None:
        """After the failures are shown: say which key sends them back (once per batch)."""
        count = len(self.failed_edits)
        if count:
            what = "this failure" if count == 1 else f"these {count} failures"
            self.transcript.add_note(f"{RESEND_KEY} sends {what} back to the model, with the reasons, so it "
                                     "answers again", "warning")

    def action_resend_failed(self) -> None:
        if not self.failed_edits:
            self.notify("no failed edits to send back", severity="warning")
            return
        if self.answering or self.switching:
            self.notify("still answering: esc cancels" if self.answering else "switching models: wait",
                        severity="warning")
            return
        message = failures_message(self.failed_edits)
        self.forget_failed_edits()
        self.send(message)
