"""The main screen's turn loop: one message's answer from the engine, step by step, onto the canvas and transcript.

``generate`` runs the turn in ONE thread worker (exclusive): it loads the
model if needed, builds the prompt from the session, and runs the engine,
posting StepReceived (coalesced: at most one waits in the queue, and the
canvas draws the newest), BlockFinished when a block is final,
AnswerFinished, or EngineFailed / PromptFailed / TurnCancelled; the
handlers here draw each and end the turn.  The step callback records every
token's committed confidence, which /remask (screens/remask.py) uses, and
returns False once Escape asked to cancel.  The messages themselves are
MainScreen's (screens/main.py), so their handlers keep its names (and the
handlers here name their type only as Message: importing main.py would be a cycle).
"""

from __future__ import annotations

from textual import work
from textual.message import Message

from dgcode.context.errors import ContextError
from dgcode.engine.errors import EngineCrashedError, EngineError
from dgcode.engine.sampler import StepEvent
from dgcode.tui.screens.remask import LastAnswer
from dgcode.workflows.chat.remask import TokenRecorder

TEXT_ONLY = "waiting for the remote answer: this backend sends text only, no per-step canvas states"


class TurnMixin:
    """MainScreen's turn: begin, run in the engine worker, draw each step, finish or fail."""

    def _begin_generation(self, subject: str = "", remasking: bool = False, frame=None,
                          canvas_size: int | None = None) -> None:
        """Reset the step bookkeeping and show the canvas, for a new answer or a re-masked span (with a
        ``frame``, a file view of a range being rewritten)."""
        self._cancel_requested = False
        self._step_pending = False
        self._latest = self._last_step = None
        self._answer_view = None
        self._recorder = TokenRecorder()
        self._remasking = remasking
        self.canvas.begin(canvas_size or self.settings.canvas_size, subject, frame)
        self.answering = True

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def generate(self, instruction: str) -> None:
        """The turn, off the UI thread; it ends by posting one of AnswerFinished, TurnCancelled or *Failed."""
        engine = self.engine
        say = lambda text: self.post_message(self.StatusChanged(text))  # noqa: E731
        try:
            engine.start(say)
            say("building the prompt")
            turn = self.session.prepare(instruction, engine.count_tokens)
            self.post_message(self.PromptCounted(turn.prompt_tokens, turn.chars))
            if self._cancel_requested:
                self.post_message(self.TurnCancelled())
                return
            say(f"prefilling {turn.prompt_tokens} prompt tokens" if getattr(engine, "per_step_states", True)
                else TEXT_ONLY)
            answer = engine.generate(turn.messages, self.settings, self._on_step, say)
        except Exception as error:  # noqa: BLE001 - the app must outlive any engine bug
            self.post_failure(error)
        else:
            self.post_message(self.AnswerFinished(answer, turn))

    def post_failure(self, error: Exception) -> None:
        """From an engine worker: the message that ends a turn that raised (the prompt could not be built, the
        engine failed or crashed, or a bug)."""
        if isinstance(error, ContextError):
            self.post_message(self.PromptFailed(str(error)))
        elif isinstance(error, EngineError):
            self.post_message(self.EngineFailed(str(error), isinstance(error, EngineCrashedError)))
        else:
            self.post_message(self.EngineFailed(f"{type(error).__name__}: {error}", crashed=False))

    def _on_step(self, event: StepEvent) -> bool:
        """Runs in the worker thread for every step; returning False cancels before the next one."""
        self._recorder.observe(event)
        previous = self._last_step
        if previous is not None and event.canvas_index != previous.canvas_index and not self._remasking:
            self.post_message(self.BlockFinished(previous.canvas_index, "".join(previous.texts)))
        self._last_step = self._latest = event
        if not self._step_pending:
            self._step_pending = True
            self.post_message(self.StepReceived(event))
        return not self._cancel_requested

    def on_main_screen_step_received(self, _message: Message) -> None:
        self._step_pending = False  # before reading: a newer event posts a new message
        if self._latest is not None and self.answering:
            self.canvas.show(self._latest)
            self.status_step(self._latest.step)

    def on_main_screen_status_changed(self, message: Message) -> None:
        if self.answering:
            self.canvas.phase = message.text
            self.candidate_canvases.set_phase(message.text)
            self.refresh_panel()

    def on_main_screen_prompt_counted(self, message: Message) -> None:
        self._counted = message.tokens
        if message.tokens > 0:  # later estimates use this model's measured characters per token
            self._chars_per_token = max(message.chars / message.tokens, 0.5)
        self.refresh_panel()

    async def on_main_screen_block_finished(self, message: Message) -> None:
        if self._answer_view is None:
            self._answer_view = await self.transcript.start_answer(message.text)
        else:
            self._answer_view.append_block(message.text)

    def _end_turn(self) -> None:
        self.canvas.finish()
        self.end_candidates()
        self.answering = False
        self._remasking = False
        self.refresh_panel()

    def on_main_screen_engine_failed(self, message: Message) -> None:
        self._end_turn()
        hint = "" if message.crashed else " The app is still usable; try again or check the model."
        self.transcript.add_note(f"engine error: {message.error}{hint}", "error")

    def on_main_screen_turn_cancelled(self, _message: Message) -> None:
        self._end_turn()
        self.transcript.add_note("cancelled before the model started answering", "warning")

    def on_main_screen_prompt_failed(self, message: Message) -> None:
        self._end_turn()
        self.transcript.add_note(f"could not build the prompt: {message.error}", "error")

    async def on_main_screen_answer_finished(self, message: Message) -> None:
        answer, turn = message.answer, message.turn
        view = self._answer_view or await self.transcript.start_answer(answer.text)
        self._answer_view = None
        cancelled = answer.stop_reason == "cancelled"
        view.finish(answer.text, cancelled)
        self.status_finish(answer, turn.prompt_tokens)
        per_step = answer.tokens / answer.steps if answer.steps else 0.0
        self.transcript.add_note(
            f"{answer.tokens} tokens in {answer.steps} steps ({per_step:.1f}/step), {answer.tok_per_s:.1f} tok/s, "
            f"prefill {answer.prefill_ms:.0f} ms, stopped: {answer.stop_reason}")
        for note in turn.notes:
            self.transcript.add_note(note, "warning")
        if cancelled:
            self.transcript.add_note(f"cancelled after {answer.steps} steps; edits in a cancelled answer are "
                                     "not offered", "warning")
        self._end_turn()  # only now: the answer and its notes are all in the transcript
        if cancelled:
            self.save_session()
            return
        self.session.remember(turn.instruction, answer.text)
        self.last_answer = LastAnswer(view, turn, answer.text, self._recorder.tokens(answer.tokens))
        self.refresh_panel()
        self.save_session()
        self.review(answer.text, turn.snapshots)
