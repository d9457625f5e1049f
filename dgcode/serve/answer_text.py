"""The answer's text as it becomes final, step by step: what a stream may send, and where a stop sequence ends it.

A diffusion model commits tokens anywhere in its sub-block; only the prefix
that is final (``StepEvent.answer_final``) can be streamed, since nothing in
it changes again.  ``FinalText.step(event)`` records each step's committed
texts and returns the new final text; with stop sequences it holds back the
last ``len(longest stop) - 1`` characters (they may be the start of one) and
reports ``stopped`` once one appears, so the caller can end the generation.
``finish(text)`` reconciles with the engine's own detokenized answer.

Each position's text is its token's own text, so a character split across
byte tokens shows as U+FFFD there; the stream holds back from the first one
and the rest comes from the detokenized answer at the end (correct, if
later).
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"


class FinalText:
    def __init__(self, canvas_size: int, stop: tuple[str, ...] = ()):
        self.canvas_size = canvas_size
        self.stop = tuple(s for s in stop if s)
        self._hold = max((len(s) for s in self.stop), default=1) - 1
        self._texts: dict[int, str] = {}
        self._final = 0
        self.text = ""
        """The final text so far (a stop sequence and what follows cut off)."""
        self.sent = 0
        """How many characters of ``text`` ``step`` has handed out."""
        self.stopped = False

    def _cut(self, text: str) -> tuple[str, bool]:
        cuts = [i for i in (text.find(s) for s in self.stop) if i >= 0]
        return (text[:min(cuts)], True) if cuts else (text, False)

    def step(self, event) -> str:
        """The text that became safe to send with this step ('' when none)."""
        if self.stopped:
            return ""
        base = event.canvas_index * self.canvas_size  # the event's positions are relative to its canvas
        for i, (text, masked) in enumerate(zip(event.texts, event.masked)):
            if not masked:
                self._texts[base + i] = text
        final = max(self._final, int(event.answer_final))
        if final > self._final:
            self.text += "".join(self._texts.get(k, "") for k in range(self._final, final))
            self._final = final
        self.text, self.stopped = self._cut(self.text)
        safe = len(self.text) if self.stopped else max(self.sent, len(self.text) - self._hold)
        split = self.text.find(REPLACEMENT, self.sent, safe)
        if split >= 0:  # a character split across byte tokens: only the engine's detokenized answer has it
            safe = split
        delta = self.text[self.sent:safe]
        self.sent = safe
        return delta

    def finish(self, answer: str) -> tuple[str, str]:
        """(the engine's whole answer, a stop sequence cut off; what a stream still has to send).

        When the token-by-token text a stream sent differs from the detokenized answer (a character split
        across byte tokens), nothing more is sent: what was sent cannot be taken back.
        """
        whole, stopped = self._cut(answer)
        self.stopped = self.stopped or stopped
        sent = self.text[:self.sent]
        rest = whole[len(sent):] if whole.startswith(sent) else ""
        self.text, self.sent = whole, len(whole)
        return whole, rest
