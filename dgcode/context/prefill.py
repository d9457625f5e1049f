"""The prompt as the engine prefills it: the chat rendered by the model's own template, counted by its tokenizer.

A prompt's sections (prompt.py) count only their own text; the engine
prefills more: the chat template's role headers and separators around every
message and the fixed acknowledgement.  ``count_prefill`` renders the
messages the way the engine will and counts that text with the engine's
``count_tokens`` (which tokenizes with special tokens parsed, as the engine
does before prefilling), so the figure shown is the figure prefilled.

The renderer comes from the engine behind a workflow's seam
(``renderer_for``): its own ``render_chat`` when it has one (``ModelEngine``:
the model's template, applied in the engine process); otherwise dgcode's
ChatML fallback (a remote endpoint renders with its own template, which
dgcode cannot see).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Messages = Sequence[dict[str, str]]
Renderer = Callable[[list[dict[str, str]]], str]


def fallback_render(messages: list[dict[str, str]]) -> str:
    """dgcode's ChatML fallback template (what a model without a template of its own gets)."""
    from dgcode.engine.chat import render_chat

    return render_chat(list(messages), template=None, architecture="")


def renderer_for(engine: object) -> Renderer:
    """How ``engine`` renders a chat into the text it prefills (see the module docstring)."""
    own = getattr(engine, "render_chat", None)
    return own if callable(own) else fallback_render


def engine_of(count_tokens: Callable[[str], int]) -> object | None:
    """The engine a bound ``count_tokens`` method belongs to (None for a plain function)."""
    return getattr(count_tokens, "__self__", None)


def context_size_of(engine: object) -> int | None:
    """The engine's context size once it is known (``describe()["n_ctx"]``), else None."""
    describe = getattr(engine, "describe", None)
    try:
        described = describe() if callable(describe) else None
    except Exception:  # noqa: BLE001 - a size we cannot learn only means the default budget
        return None
    size = described.get("n_ctx") if isinstance(described, dict) else None
    return int(size) if isinstance(size, int) and size > 0 else None


@dataclass(frozen=True)
class Prefill:
    """The rendered prompt text and its token count."""

    text: str
    tokens: int


def count_prefill(messages: Messages, count_tokens: Callable[[str], int],
                  render_chat: Renderer | None = None) -> Prefill:
    """Render ``messages`` (``render_chat``, else ChatML) and count the result with ``count_tokens``."""
    text = (render_chat or fallback_render)([dict(m) for m in messages])
    return Prefill(text, count_tokens(text))
