"""Tool calls: what a request offers (``ToolOffer``) and the calls found in the model's answer (``ToolAnswer``).

The Dream / Qwen2.5 family writes a call as a Hermes-style block::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

Every block becomes an OpenAI tool call, ``{"id": "call_<hex>", "type":
"function", "function": {"name": ..., "arguments": "<JSON text>"}}``; the text
outside the blocks is the content (None when only whitespace is left).  With
at least one call the finish reason is ``tool_calls``.

Nothing the model wrote is dropped.  A block that is not a valid call (its JSON
is malformed, it has no name, it names a function the request did not offer,
or one other than the function ``tool_choice`` names) stays in the content,
verbatim, and ``errors`` says what was wrong with it; an answer with no valid
call to a ``tool_choice: "required"`` (or named-function) request is also an
error.  The routes return such an answer as text (finish reason ``stop``, or
``length``) with the errors in the ``dgcode.tool_call_errors`` extension field,
so a client sees what the model wrote and why it is not a call.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

OPEN, CLOSE = "<tool_call>", "</tool_call>"


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    """The arguments as JSON text (an object), as OpenAI sends them."""

    def to_chat(self) -> dict[str, object]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class ToolAnswer:
    """An answer to a tool request: its text content (None: none) and its calls; ``errors``: why not a call."""

    content: str | None
    calls: tuple[ToolCall, ...] = ()
    errors: tuple[str, ...] = ()

    def finish_reason(self, reason: str) -> str:
        """``tool_calls`` when there are calls, else the generation's own reason (``stop``, ``length``)."""
        return "tool_calls" if self.calls else reason


@dataclass(frozen=True)
class ToolOffer:
    """The tools a request offers, in the chat shape the template gets, and its ``tool_choice``."""

    tools: list[dict[str, object]] = field(default_factory=list)
    choice: str = "auto"
    """``auto``, ``required`` or ``function`` (then ``name`` is the one function the model may call)."""
    name: str | None = None

    @property
    def names(self) -> list[str]:
        return [str(tool["function"]["name"]) for tool in self.tools]  # type: ignore[index]

    def parse(self, text: str) -> ToolAnswer:
        return parse_answer(text, self)


def _blocks(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is a tool-call block); a block keeps its tags (an unclosed one runs to the end)."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    while True:
        start = text.find(OPEN, at)
        if start < 0:
            pieces.append((text[at:], False))
            return pieces
        pieces.append((text[at:start], False))
        end = text.find(CLOSE, start + len(OPEN))
        stop = len(text) if end < 0 else end + len(CLOSE)
        pieces.append((text[start:stop], True))
        at = stop


def _arguments(value: object) -> str | None:
    """The arguments as JSON object text (None: not an object)."""
    if value is None:
        return "{}"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else None


def _call(block: str, offer: ToolOffer, number: int) -> ToolCall | str:
    """The call in one block, or what is wrong with it."""
    closed = block.endswith(CLOSE)
    inner = block[len(OPEN):len(block) - len(CLOSE) if closed else len(block)].strip()
    where = f"tool call {number}"
    try:
        spec = json.loads(inner)
    except ValueError as exc:
        reason = "is not closed with </tool_call> (the answer may have run out of tokens)" if not closed \
            else f"is not valid JSON ({exc})"
        return f"{where} {reason}: {inner[:200]!r}"
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        return f"{where} has no function name: {inner[:200]!r}"
    name = spec["name"]
    if name not in offer.names:
        return f"{where} calls {name!r}, which the request did not offer (offered: {', '.join(offer.names)})"
    if offer.name is not None and name != offer.name:
        return f"{where} calls {name!r}, but tool_choice allows only {offer.name!r}"
    arguments = _arguments(spec.get("arguments", spec.get("parameters")))
    if arguments is None:
        return f"{where} ({name}) has arguments that are not a JSON object: {inner[:200]!r}"
    return ToolCall(new_call_id(), name, arguments)


def parse_answer(text: str, offer: ToolOffer) -> ToolAnswer:
    """The content and tool calls of the model's answer ``text`` to a request offering ``offer``."""
    content: list[str] = []
    calls: list[ToolCall] = []
    errors: list[str] = []
    for piece, is_block in _blocks(text):
        if not is_block:
            content.append(piece)
            continue
        found = _call(piece, offer, len(calls) + len(errors) + 1)
        if isinstance(found, ToolCall):
            calls.append(found)
        else:
            errors.append(found)
            content.append(piece)  # kept verbatim: never silently dropped
    if not calls:
        if offer.choice != "auto":
            wanted = "a tool call" if offer.name is None else f"a call to {offer.name!r}"
            errors.append(f"tool_choice asks for {wanted}, but the model answered without one")
        return ToolAnswer(text, (), tuple(errors))
    rest = "".join(content).strip()
    return ToolAnswer(rest or None, tuple(calls), tuple(errors))
