"""Confidence re-mask: an answer's tokens with the confidence each was committed with, and its weakest span.

Pure Python (no textual). ``TokenRecorder`` watches a generation's step
events (StepEvent) and keeps, per canvas, the newest texts and confidences,
so when the answer is in, ``tokens(n)`` gives its ``n`` tokens as
``AnswerTokens``. ``low_confidence_span`` picks what to re-denoise: the
longest run of tokens committed below a threshold (ties: the least
confident), cut to at most ``max_tokens`` by keeping its least confident
window. A token's text is not always whole characters (a character split
over two tokens shows as U+FFFD in each), so ``token_offsets`` finds where
each token starts in the answer's real text, and ``on_boundaries`` widens a
span that would split a character; the text before and after it is the
infill's prompt tail and suffix, and ``AnswerTokens.splice`` puts the
re-denoised tokens in its place.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_THRESHOLD = 0.9
"""Tokens committed with less confidence than this are candidates (the threshold sampler's own default)."""
MAX_SPAN_TOKENS = 32
"""At most this many tokens are re-masked at once (a little more when a split character widens the span)."""
REPLACEMENT = "\ufffd"
"""What a token's text shows for the bytes of a character split over tokens."""


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

    def mean_confidence(self, start: int, end: int) -> float:
        return sum(self.confidence[start:end]) / (end - start) if end > start else 0.0

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


def token_offsets(pieces: tuple[str, ...] | list[str], text: str) -> list[int | None]:
    """Where each token starts in ``text``, then where the last one ends; None where it is not known.

    Tokens whose text matches ``text`` in place are placed exactly. A run of
    tokens that do not (split characters) covers the text up to where the
    next whole token is found; the offsets inside such a run are None.
    """
    offsets: list[int | None] = [None] * (len(pieces) + 1)
    offsets[0] = pos = i = 0
    while i < len(pieces):
        if REPLACEMENT not in pieces[i] and text.startswith(pieces[i], pos):
            pos += len(pieces[i])
            i += 1
            offsets[i] = pos
            continue
        j = i + 1
        while j < len(pieces) and (REPLACEMENT in pieces[j] or not pieces[j]):  # an empty token places nothing
            j += 1
        end = len(text) if j == len(pieces) else text.find(pieces[j], pos)
        if end < 0:
            return offsets  # lost: nothing after this is placed
        pos, i = end, j
        offsets[i] = pos
    return offsets


def on_boundaries(span: Span, offsets: list[int | None], tokens: AnswerTokens) -> Span | None:
    """``span`` widened until both of its ends are placed in the text; None when its end cannot be."""
    start, end = span.start, span.end
    while offsets[start] is None:
        start -= 1  # offsets[0] is always 0
    while end < len(offsets) - 1 and offsets[end] is None:
        end += 1
    if offsets[end] is None:
        return None
    return span if (start, end) == (span.start, span.end) else Span(start, end, tokens.mean_confidence(start, end))
