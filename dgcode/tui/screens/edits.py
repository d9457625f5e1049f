"""Offering an answer's edits on the main screen: the review screen, then applying exactly what was accepted.

A mixin of MainScreen (it uses the screen's session, transcript and panel).
``review`` plans the answer's edits in a dry run (dgcode.workflows.chat.proposal); the
files whose edits apply are offered on the ReviewScreen, hunk by hunk.  When
only whole files were accepted, their blocks go through ``apply_response``;
when some hunks were rejected, the accepted bytes go through
``apply_accepted`` (dgcode/edits/hunks.py).  Either runs in a thread worker
(snapshot, journal, undo), checked against the read snapshots taken when the
prompt was built. Every edit that cannot apply is also recorded for ctrl+r
(screens/resend.py), which sends the reasons back to the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.message import Message

from dgcode.edits.apply import ApplyReport, apply_response
from dgcode.edits.atomic import FileSnapshot
from dgcode.edits.diff import FileChange
from dgcode.edits.hunks import apply_accepted
from dgcode.tui.screens.review import ReviewScreen
from dgcode.workflows.chat.proposal import Proposal, propose, response_for


class EditsMixin:
    """Reviews and applies proposed edits; mixed into MainScreen."""

    @dataclass
    class EditsApplied(Message):
        """The accepted files were applied; ``rejected`` were left alone, ``partial`` got only some hunks."""

        report: ApplyReport
        accepted: tuple[str, ...]
        rejected: tuple[str, ...]
        partial: tuple[str, ...] = ()

    @property
    def edit_root(self):
        return self.session.repo or self.session.root

    def review(self, text: str, snapshots: dict[str, FileSnapshot]) -> None:
        """Offer the answer's edits (if any) for review."""
        self.forget_failed_edits()
        proposal = propose(self.edit_root, text, snapshots)
        if proposal is None:
            return
        for problem in proposal.problems:
            self.transcript.add_note(f"edit block problem: {problem}", "warning")
            self.edit_failed(f"an edit block could not be read: {problem}")
        for file in proposal.files:
            if not file.applicable:
                self.transcript.add_note(f"{file.path}: cannot apply: {'; '.join(file.problems)}", "error")
                for problem in file.problems:
                    self.edit_failed(f"{file.path}: {problem}")
        self.offer_resend()  # screens/resend.py: ctrl+r sends these back
        if proposal.applicable:
            self.app.push_screen(ReviewScreen(proposal), lambda accepted: self._reviewed(proposal, accepted,
                                                                                          snapshots))

    def _reviewed(self, proposal: Proposal, accepted: tuple[FileChange, ...] | None,
                  snapshots: dict[str, FileSnapshot]) -> None:
        if not accepted:
            self.transcript.add_note("edits discarded; nothing was written", "warning")
            return
        self.apply_edits(proposal, accepted, snapshots)

    @work(thread=True, group="edits", exit_on_error=False)
    def apply_edits(self, proposal: Proposal, accepted: tuple[FileChange, ...],
                    snapshots: dict[str, FileSnapshot]) -> None:
        offered = {f.path: f.change for f in proposal.applicable}
        paths = tuple(change.path for change in accepted)
        rejected = tuple(path for path in offered if path not in paths)
        try:
            if all(offered.get(c.path) == c for c in accepted):  # whole files: their blocks, as the model wrote them
                report = apply_response(self.edit_root, response_for(proposal, paths), read_snapshots=snapshots)
            else:  # some hunks rejected: exactly the accepted bytes
                report = apply_accepted(self.edit_root, accepted, read_snapshots=snapshots)
        except Exception as error:  # noqa: BLE001 - reported, never lost in the worker
            report = ApplyReport(self.edit_root, error=f"nothing was written: {type(error).__name__}: {error}")
        partial = tuple(c.path for c in accepted if offered.get(c.path) != c and c.path in report.written)
        self.post_message(self.EditsApplied(report, paths, rejected, partial))

    def on_edits_mixin_edits_applied(self, message: EditsApplied) -> None:
        report = message.report
        for path in report.written:
            self.transcript.add_note(f"applied: {path}", "ok")
        for path in message.rejected:
            self.transcript.add_note(f"rejected: {path} (left as it was)", "warning")
        for path in message.partial:
            self.transcript.add_note(f"{path}: only the accepted hunks were applied", "warning")
        failed_before = len(self.failed_edits)
        for result in report.edit_results():
            if result["status"] != "applied":
                self.transcript.add_note(f"refused: {result['file']}: {result['reason']}", "error")
                self.edit_failed(f"{result['file']}: edit {result['index']} {result['status']}: {result['reason']}")
        if report.error:
            self.transcript.add_note(report.error, "error")
        if len(self.failed_edits) > failed_before:
            self.offer_resend()
        if report.written:
            self.transcript.add_note("/undo reverts these edits")
        self.refresh_panel()
