"""K candidates on the main screen: /candidates K INSTRUCTION drafts K answers together, judged by the check command.

A mixin of MainScreen. The K answers are denoised in one batch over one
shared prefill (``ModelEngine.generate_candidates``), drawn side by side as
they crystallize (widgets/candidate_canvases.py), then judged one by one by
the configured check command (``fix.cmd``, the one a bare /run runs) in a
scratch copy of the working tree (workflows/chat/candidates_turn.py): the
person's files are untouched until they accept an edit. Every candidate's
answer and verdict goes into the transcript, so the others stay viewable; the
first that passes becomes the turn's answer and its edits open the normal
review. Escape cancels the drafting, or the judging before the next
candidate. An engine that cannot batch sequences (a remote endpoint, the
embedded repair model) is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.message import Message

from dgcode.tui.widgets.candidate_canvases import CandidateCanvases
from dgcode.workflows.chat.candidates_turn import Judgement, first_passing, judge_answers, parse_candidates
from dgcode.workflows.chat.session import PreparedTurn
from dgcode.workflows.fix.report import Answer


class CandidatesMixin:
    """Runs /candidates; mixed into MainScreen."""

    @dataclass
    class CandidateStepsReceived(Message):
        """Candidates took denoising steps (the newest of each is in ``_candidate_latest``)."""

    @dataclass
    class CandidatesFinished(Message):
        """The K answers are in and judged (``judged`` may be shorter than ``answers`` when cancelled)."""

        turn: PreparedTurn
        answers: list[Answer]
        judged: list[Judgement]
        counters: dict

    @property
    def candidate_canvases(self) -> CandidateCanvases:
        return self.query_one(CandidateCanvases)

    def command_candidates(self, arg: str) -> None:
        if self.answering or self.switching:
            self.transcript.add_note("the model is busy: wait, or esc to cancel, then /candidates", "warning")
            return
        if self.engine is None or not hasattr(self.engine, "generate_candidates"):
            why = ("no model is configured" if self.engine is None and not self.embedded_active else
                   "the embedded repair model takes no instructions" if self.engine is None else
                   "this engine cannot denoise several answers in one batch (a remote endpoint)")
            self.transcript.add_note(f"/candidates needs a local diffusion model: {why}", "error")
            return
        try:
            k, instruction = parse_candidates(arg)
        except ValueError as error:
            self.transcript.add_note(str(error), "error")
            return
        if not self.check_command:
            self.transcript.add_note("/candidates judges each answer with the check command, and none is set: put "
                                     "`fix.cmd` in .dgcode.toml (a repository's needs /trust) or your own config",
                                     "error")
            return
        self.transcript.add_user(instruction)
        self.transcript.add_note(f"drafting {k} candidates together; each is judged by `{self.check_command}` in a "
                                 "scratch copy of the working tree (esc cancels)")
        self.turns += 1
        self.last_answer = None
        self.forget_failed_edits()
        self.status_begin()
        self._cancel_requested = False
        self._candidate_latest = {}
        self._candidate_pending = False
        self.candidate_canvases.begin(k, self.settings.canvas_size)
        self.answering = True
        self.draft_candidates(k, instruction, str(self.check_command))

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def draft_candidates(self, k: int, instruction: str, command: str) -> None:
        """Draft and judge, off the UI thread; it ends by posting CandidatesFinished or a failure."""
        engine = self.engine
        say = lambda text: self.post_message(self.StatusChanged(text))  # noqa: E731
        try:
            engine.start(say)
            turn = self.session.prepare(instruction, engine.count_tokens)
            self.post_message(self.PromptCounted(turn.prompt_tokens, turn.chars))
            say(f"prefilling {turn.prompt_tokens} prompt tokens once for {k} candidates")
            answers, counters = engine.generate_candidates(turn.messages, self.settings, k, self._on_candidate_step,
                                                           say)
            judged = judge_answers(self.session.repo or self.session.root, answers, command, self.run_timeout_s,
                                   say=say, stopped=lambda: self._cancel_requested)
        except Exception as error:  # noqa: BLE001 - the app must outlive any engine bug
            self.post_failure(error)  # screens/turn.py
        else:
            self.post_message(self.CandidatesFinished(turn, answers, judged, counters))

    def _on_candidate_step(self, event) -> bool:
        """Runs in the worker thread for every candidate's step; returning False cancels the whole batch."""
        self._candidate_latest[getattr(event, "candidate", 0)] = event
        if not self._candidate_pending:
            self._candidate_pending = True
            self.post_message(self.CandidateStepsReceived())
        return not self._cancel_requested

    def on_candidates_mixin_candidate_steps_received(self, _message: CandidateStepsReceived) -> None:
        self._candidate_pending = False
        if self.answering:
            latest = list(self._candidate_latest.values())  # one copy: the worker may add a candidate meanwhile
            for event in latest:
                self.candidate_canvases.show(event)
            if latest:
                self.status_step(max(event.step for event in latest))

    def end_candidates(self) -> None:
        """Hide the K canvases (the main screen's _end_turn calls this for every way a turn ends)."""
        self.candidate_canvases.finish()

    def on_candidates_mixin_candidates_finished(self, message: CandidatesFinished) -> None:
        answers, judged, turn = message.answers, message.judged, message.turn
        counters = message.counters
        for judgement in judged:
            self.transcript.add_note(judgement.describe(), "ok" if judgement.passed else "warning")
            self.transcript.add_answer(judgement.answer.text, judgement.answer.stop_reason == "cancelled")
        if counters:
            self.transcript.add_note(f"{len(answers)} candidates in one batch: the prompt ({counters.get('prompt_tokens')} "
                                     f"tokens) prefilled once, {counters.get('batch_steps')} batched steps, "
                                     f"{counters.get('wall_s', 0.0):.1f} s")
        chosen = first_passing(judged)
        if chosen is not None:
            self.status_finish(chosen.answer, turn.prompt_tokens)
        self._end_turn()
        if self._cancel_requested or len(judged) < len(answers) or any(a.stop_reason == "cancelled" for a in answers):
            self.transcript.add_note("cancelled: nothing is offered, nothing was written", "warning")
            return
        if chosen is None:
            self.transcript.add_note(f"no candidate passed `{self.check_command}`; nothing was written (the answers "
                                     "and verdicts are above)", "error")
            return
        self.session.remember(turn.instruction, chosen.answer.text)
        self.save_session()
        self.transcript.add_note(f"candidate {chosen.number} passes `{self.check_command}` in the scratch copy: its "
                                 "edits are offered for review", "ok")
        self.review(chosen.answer.text, turn.snapshots)
