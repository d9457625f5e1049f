"""The Responses API (``POST /v1/responses``, what Codex CLI speaks): its request, its response object, its events.

A request's ``instructions`` become the system message and its ``input`` (a
string, or a list of message items whose content is text parts) the chat;
``max_output_tokens`` is the answer budget and the diffusion fields
(``threshold``, ``steps``, ``sub_block``, ``algorithm``...) are read as on
the other routes. What dgcode serve cannot do is refused with a 400 naming
the field, never answered as if it had been understood: ``tools`` (unless
``tool_choice`` is ``"none"``), ``previous_response_id`` (nothing is stored between requests), tool-call
items in ``input``, images and files.

The answer is a ``response`` object with one ``message`` output item holding
one ``output_text`` part; ``status`` is ``completed``, or ``incomplete`` with
``incomplete_details.reason = "max_output_tokens"`` when the budget ran out.
A stream sends the API's typed events, each with its ``sequence_number``:
``response.created``, ``response.in_progress``,
``response.output_item.added``, ``response.content_part.added``, one
``response.output_text.delta`` per piece of final text,
``response.output_text.done``, ``response.content_part.done``,
``response.output_item.done`` and ``response.completed`` (or
``response.incomplete``); a failure after the stream began is
``response.failed``. The Responses API has no ``[DONE]``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

from dgcode.serve.protocol import ROLES, BodyError, ChatRequest, message_content, refuse_tools, sampling
from dgcode.serve.service import CanvasState, Outcome

PREVIOUS_UNSUPPORTED = ("previous_response_id is not supported: dgcode serve stores no responses; send the "
                        "whole conversation in input")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def responses_request(body: Mapping) -> ChatRequest:
    """The chat a Responses API body asks for; BodyError naming the field for anything else."""
    refuse_tools(body)
    if body.get("previous_response_id"):
        raise BodyError("previous_response_id", PREVIOUS_UNSUPPORTED)
    messages: list[dict[str, str]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise BodyError("instructions", "instructions must be a string")
        if instructions:
            messages.append({"role": "system", "content": instructions})
    given = body.get("input")
    if isinstance(given, str):
        if not given:
            raise BodyError("input", "input must not be empty")
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list) and given:
        for i, item in enumerate(given):
            messages.append(_message(item, f"input[{i}]"))
    else:
        raise BodyError("input", "input must be a non-empty string or a list of message items")
    translated = {k: v for k, v in body.items() if k not in ("max_tokens", "max_completion_tokens", "stop",
                                                             "stream_options", "n")}
    translated["max_tokens"] = body.get("max_output_tokens")
    try:
        asked = sampling(translated)
    except BodyError as exc:
        if exc.param == "max_tokens":
            raise BodyError("max_output_tokens", str(exc).replace("max_tokens", "max_output_tokens")) from None
        raise
    return ChatRequest(messages, asked)


def _message(item: object, where: str) -> dict[str, str]:
    if not isinstance(item, Mapping):
        raise BodyError(where, f"{where} must be a message item: {{\"role\": ..., \"content\": ...}}")
    kind = item.get("type", "message")
    if kind != "message":
        raise BodyError(f"{where}.type", f"{where}.type {kind!r} is not supported: dgcode serve takes message "
                        "items only (no tool calls or tool outputs yet)")
    role = item.get("role")
    if role not in ROLES or role == "tool":
        raise BodyError(f"{where}.role", f"{where}.role must be one of user, assistant, system, developer; "
                        f"got {role!r}")
    return {"role": ROLES[role], "content": message_content(item.get("content"), f"{where}.content")}


def _usage(outcome: Outcome) -> dict[str, object]:
    return {"input_tokens": outcome.prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": outcome.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": outcome.prompt_tokens + outcome.completion_tokens}


class ResponseShapes:
    """The response object and the stream events of one answer, numbered in order."""

    def __init__(self, model_id: str, body: Mapping):
        self.model = model_id
        self.id, self.item_id = _new_id("resp"), _new_id("msg")
        self.created_at = int(time.time())
        self.echo = {"instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
                     "temperature": body.get("temperature"), "top_p": body.get("top_p"),
                     "metadata": body.get("metadata") or {}}
        self.sequence = 0
        self.text = ""

    @staticmethod
    def status_of(outcome: Outcome) -> str:
        return "incomplete" if outcome.finish_reason == "length" else "completed"

    def _part(self, text: str) -> dict[str, object]:
        return {"type": "output_text", "text": text, "annotations": []}

    def _item(self, status: str, text: str | None) -> dict[str, object]:
        content = [] if text is None else [self._part(text)]
        return {"type": "message", "id": self.item_id, "status": status, "role": "assistant", "content": content}

    def response(self, status: str, outcome: Outcome | None = None, error: dict | None = None) -> dict[str, object]:
        done = outcome is not None
        return {
            "id": self.id, "object": "response", "created_at": self.created_at, "status": status,
            "model": self.model, "error": error,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "output": [self._item("completed" if status == "completed" else "incomplete", outcome.text)]
            if done else [],
            "usage": _usage(outcome) if done else None,
            "parallel_tool_calls": False, "tool_choice": "none", "tools": [], "text": {"format": {"type": "text"}},
            **self.echo,
        }

    def whole(self, outcome: Outcome) -> dict[str, object]:
        body = self.response(self.status_of(outcome), outcome)
        body["output_text"] = outcome.text
        body["dgcode"] = {"steps": outcome.steps, "wall_s": round(outcome.wall_s, 4)}
        return body

    def event(self, kind: str, **fields: object) -> dict[str, object]:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def opening(self) -> list[dict[str, object]]:
        where = {"output_index": 0}
        return [
            self.event("response.created", response=self.response("in_progress")),
            self.event("response.in_progress", response=self.response("in_progress")),
            self.event("response.output_item.added", **where, item=self._item("in_progress", None)),
            self.event("response.content_part.added", item_id=self.item_id, **where, content_index=0,
                       part=self._part("")),
        ]

    def delta(self, text: str) -> dict[str, object]:
        self.text += text
        return self.event("response.output_text.delta", item_id=self.item_id, output_index=0, content_index=0,
                          delta=text, logprobs=[])

    def closing(self, outcome: Outcome) -> list[dict[str, object]]:
        status = self.status_of(outcome)
        text = outcome.text
        where = {"item_id": self.item_id, "output_index": 0}
        return [
            self.event("response.output_text.done", **where, content_index=0, text=text, logprobs=[]),
            self.event("response.content_part.done", **where, content_index=0, part=self._part(text)),
            self.event("response.output_item.done", output_index=0,
                       item=self._item("completed" if status == "completed" else "incomplete", text)),
            self.event(f"response.{status}", response=self.response(status, outcome)),
        ]

    def canvas(self, state: CanvasState) -> dict[str, object]:
        """The ``dgcode_canvas`` extension's event: one denoising step's changes."""
        return self.event("dgcode.canvas", item_id=self.item_id, output_index=0, canvas=state.to_json())

    def failed(self, message: str, code: str) -> dict[str, object]:
        return self.event("response.failed",
                          response=self.response("failed", error={"code": code, "message": message}))
