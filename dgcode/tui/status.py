"""The status line's words: how fast the last (or current) answer came, as one line of text.

Pure Python (no textual), so it is tested without the app: ``AnswerStats``
holds what the main screen measured (tokens, steps, seconds, the time from
submitting to the first canvas drawn, prompt tokens reused from the engine's
cache) and ``format_status`` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = " · "


@dataclass(frozen=True)
class AnswerStats:
    """What one answer took; None where it is not known (yet)."""

    tokens: int | None = None
    steps: int | None = None
    wall_s: float | None = None
    first_canvas_s: float | None = None
    """Seconds from submitting the message to the first denoising step drawn (None: none drawn yet, or
    a text-only backend)."""
    reused_tokens: int | None = None
    """Prompt tokens whose cache cells were kept from the previous request."""
    prompt_tokens: int | None = None
    done: bool = False
    """False while the answer is still coming."""

    @property
    def tok_per_s(self) -> float | None:
        if self.tokens is None or not self.wall_s:
            return None
        return self.tokens / self.wall_s

    @property
    def tok_per_step(self) -> float | None:
        if self.tokens is None or not self.steps:
            return None
        return self.tokens / self.steps


def format_status(stats: AnswerStats | None) -> str:
    """``38.2 tokens/s · 2.5 tokens/step · first canvas 0.42 s · prompt 120/300 cached`` (prompt tokens reused
    from the engine's cache) ("" for no answer)."""
    if stats is None:
        return ""
    parts = []
    speed = stats.tok_per_s
    if speed is not None:
        parts.append(f"{speed:.1f} tokens/s")
    per_step = stats.tok_per_step
    if per_step is not None:
        parts.append(f"{per_step:.1f} tokens/step")
    if stats.first_canvas_s is not None:
        parts.append(f"first canvas {stats.first_canvas_s:.2f} s")
    elif stats.done:
        parts.append("no canvas (text only)" if not stats.steps else "first canvas ?")
    if stats.reused_tokens is not None:
        of = f"/{stats.prompt_tokens:,}" if stats.prompt_tokens else ""
        parts.append(f"prompt {stats.reused_tokens:,}{of} cached")
    if not stats.done:
        parts.insert(0, "answering")
    return SEPARATOR.join(parts)
