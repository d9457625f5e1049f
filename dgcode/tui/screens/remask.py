"""Confidence re-mask on the main screen: /remask (f4) re-denoises the last answer's least confident span.

A mixin of MainScreen. The span comes from the committed confidences the
screen recorded from the answer's step events (dgcode.workflows.chat.remask). The
engine infills it: its prompt is the turn's chat followed by the answer's
text before the span, its suffix the answer's text after the span, and the
slot is as many tokens as the span, so the canvas shows the span
crystallizing like a block. The new text is spliced into the answer in the
transcript and in the conversation history, and its edits (if any) are
offered again. A cancelled or failed re-mask leaves the answer as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual import work
from textual.message import Message

from dgcode.tui.widgets.transcript import AnswerView
from dgcode.workflows.chat.remask import (
    DEFAULT_THRESHOLD,
    MAX_SPAN_TOKENS,
    AnswerTokens,
    Span,
    low_confidence_span,
    on_boundaries,
    token_offsets,
)
from dgcode.workflows.chat.session import PreparedTurn
from dgcode.workflows.fix.report import Answer

SHOWN_CHARS = 60
"""A span's text is quoted in notes up to this many characters."""


def quoted(text: str) -> str:
    shown = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"
    return repr(shown)


@dataclass
class LastAnswer:
    """The newest complete answer: where it is shown, the turn that asked for it, its text and tokens."""

    view: AnswerView
    turn: PreparedTurn
    text: str
    tokens: AnswerTokens


@dataclass(frozen=True)
class RemaskJob:
    """One re-mask: the answer, the span of its tokens re-denoised, its text, and the answer's text either side."""

    answer: LastAnswer
    span: Span
    before: str
    old: str
    after: str


def parse_threshold(arg: str) -> float:
    """``/remask``'s argument: a confidence in (0, 1]; ValueError otherwise."""
    if not arg:
        return DEFAULT_THRESHOLD
    value = float(arg)
    if not 0.0 < value <= 1.0:
        raise ValueError(arg)
    return value


class RemaskMixin:
    """Runs /remask; mixed into MainScreen."""

    @dataclass
    class RemaskFinished(Message):
        """The engine infilled the span (possibly cancelled)."""

        answer: Answer
        job: RemaskJob

    def command_remask(self, arg: str) -> None:
        if self.answering or self.switching:
            self.transcript.add_note("the model is busy: wait, or esc to cancel, then /remask", "warning")
            return
        try:
            threshold = parse_threshold(arg)
        except ValueError:
            self.transcript.add_note(f"/remask {arg}: the threshold is a confidence above 0 and at most 1, "
                                     "e.g. /remask 0.8", "error")
            return
        last = self.last_answer
        if last is None or self.engine is None:
            self.transcript.add_note("no answer to re-mask: /remask works on the last complete answer", "warning")
            return
        span = low_confidence_span(last.tokens.confidence, threshold,
                                   min(MAX_SPAN_TOKENS, self.settings.canvas_size))
        if span is None:
            self.transcript.add_note(f"every token of the last answer was committed with confidence of at least "
                                     f"{threshold:g}: nothing to re-mask", "ok")
            return
        offsets = token_offsets(last.tokens.pieces, last.text)
        span = on_boundaries(span, offsets, last.tokens)
        if span is None:
            self.transcript.add_note("the last answer's tokens could not be placed in its text, so that span "
                                     "cannot be re-masked", "warning")
            return
        start, end = offsets[span.start], offsets[span.end]
        job = RemaskJob(last, span, last.text[:start], last.text[start:end], last.text[end:])
        self.transcript.add_note(f"re-masking tokens {span.start + 1}–{span.end} of {len(last.tokens)} "
                                 f"(mean confidence {span.mean_confidence:.2f}): {quoted(job.old)}")
        self.status_begin()  # the status line then measures the re-mask, not the answer it changes
        self._begin_generation(f"re-mask {span.length} token{'s' if span.length != 1 else ''}", remasking=True)
        self.regenerate_span(job)

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def regenerate_span(self, job: RemaskJob) -> None:
        """The infill, off the UI thread; it ends by posting RemaskFinished or EngineFailed."""
        engine = self.engine
        say = lambda text: self.post_message(self.StatusChanged(text))  # noqa: E731
        settings = replace(self.settings, max_tokens=job.span.length)
        try:
            engine.start(say)
            say(f"re-masking {job.span.length} tokens")
            answer = engine.generate(job.answer.turn.messages, settings, self._on_step, say,
                                     prefix=job.before, suffix=job.after)
        except Exception as error:  # noqa: BLE001 - the app must outlive any engine bug
            self.post_failure(error)  # screens/turn.py
        else:
            self.post_message(self.RemaskFinished(answer, job))

    def on_remask_mixin_remask_finished(self, message: RemaskFinished) -> None:
        answer, job = message.answer, message.job
        new_tokens = self._recorder.tokens(answer.tokens)
        self.status_finish(answer)
        self._end_turn()
        if answer.stop_reason == "cancelled":
            self.transcript.add_note(f"re-mask cancelled after {answer.steps} steps; the answer is unchanged",
                                     "warning")
            return
        old_text = job.old
        if answer.text == old_text:
            self.transcript.add_note(f"re-masked {job.span.length} tokens in {answer.steps} steps: the model chose "
                                     "the same text again", "ok")
            return
        tokens = job.answer.tokens.splice(job.span, new_tokens)
        text = job.before + answer.text + job.after
        last = job.answer
        last.view.finish(text)
        self.session.revise_last_answer(text)
        self.last_answer = LastAnswer(last.view, last.turn, text, tokens)
        self.transcript.add_note(f"re-masked {job.span.length} tokens in {answer.steps} steps: {quoted(old_text)} "
                                 f"→ {quoted(answer.text)}", "ok")
        self.refresh_panel()
        self.review(text, last.turn.snapshots)
