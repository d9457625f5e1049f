"""Confidence re-mask: an answer's tokens with the confidence each was committed with, and its weakest span.

Pure Python (no textual). ``TokenRecorder`` watches a generation's step
events (StepEvent) and keeps, per canvas, the newest texts and confidences,
so when the answer is in, ``tokens(n)`` gives its ``n`` tokens as
``AnswerTokens``. ``low_confidence_span`` picks what to re-denoise: the
longest run of tokens committed below a threshold (ties: the least
confident), cut to at most ``max_tokens`` by keeping its least confident
window. ``AnswerTokens.around(span)`` is the text before and after the span
(the infill's prompt tail and suffix), and ``splice`` puts the re-denoised
tokens in its place.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_THRESHOLD = 0.9
"""Tokens committed with less confidence than this are candidates (the threshold sampler's own default)."""
MAX_SPAN_TOKENS = 32
"""At most this many tokens are re-masked at once."""


@dataclass(frozen=True)
class Span:
    """Answer tokens [start, end) and their mean committed confidence."""

    start: int
    end: int
    mean_confidence: float

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class AnswerTokens:
    """An answer as its tokens' texts, each with the probability it had when it was committed."""

    pieces: tuple[str, ...]
    confidence: tuple[float, ...]

    def __post_init__(self):
        if len(self.pieces) != len(self.confidence):
            raise ValueError("one confidence per token")

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def around(self, span: Span) -> tuple[str, str]:
        """The answer's text before ``span`` and after it."""
        return "".join(self.pieces[:span.start]), "".join(self.pieces[span.end:])

    def span_text(self, span: Span) -> str:
        return "".join(self.pieces[span.start:span.end])

    def splice(self, span: Span, new: AnswerTokens) -> AnswerTokens:
        """These tokens with ``span`` replaced by ``new``."""
        return AnswerTokens(self.pieces[:span.start] + new.pieces + self.pieces[span.end:],
                            self.confidence[:span.start] + new.confidence + self.confidence[span.end:])


class TokenRecorder:
    """Keeps the newest texts and confidences of every canvas a generation reported (any thread may feed it)."""

    def __init__(self):
        self._canvases: dict[int, tuple[list[str], list[float]]] = {}

    def observe(self, event) -> None:
        """A StepEvent: its canvas's texts and confidences replace what was kept for that canvas."""
        self._canvases[event.canvas_index] = (list(event.texts), list(event.confidence))

    def tokens(self, count: int) -> AnswerTokens:
        """The first ``count`` answer tokens (canvases in order; a canvas never reported counts as empty)."""
        pieces: list[str] = []
        confidence: list[float] = []
        for index in range(max(self._canvases, default=-1) + 1):
            texts, probabilities = self._canvases.get(index, ([], []))
            pieces += texts
            confidence += probabilities
        return AnswerTokens(tuple(pieces[:count]), tuple(confidence[:count]))


def low_confidence_span(confidence: tuple[float, ...] | list[float], threshold: float = DEFAULT_THRESHOLD,
                        max_tokens: int = MAX_SPAN_TOKENS) -> Span | None:
    """The longest run of tokens below ``threshold`` (at most ``max_tokens`` of it); None when there is none."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, p in enumerate([*confidence, threshold]):  # the sentinel closes a run at the end
        if p < threshold and start is None:
            start = i
        elif p >= threshold and start is not None:
            runs.append((start, i))
            start = None
    if not runs or max_tokens < 1:
        return None

    def mean(a: int, b: int) -> float:
        return sum(confidence[a:b]) / (b - a)

    a, b = max(runs, key=lambda run: (run[1] - run[0], -mean(*run)))
    if b - a > max_tokens:  # the least confident window of the run (the first of equals)
        a = min(range(a, b - max_tokens + 1), key=lambda s: (mean(s, s + max_tokens), s))
        b = a + max_tokens
    return Span(a, b, mean(a, b))
