"""The Responses API (``POST /v1/responses``, what Codex CLI speaks): its request, its response object, its events.

A request's ``instructions`` become the system message and its ``input`` (a
string, or a list of message items whose content is text parts) the chat;
``max_output_tokens`` is the answer budget and the diffusion fields
(``threshold``, ``steps``, ``sub_block``, ``algorithm``...) are read as on
the other routes. What dgcode serve cannot do is refused with a 400 naming
the field, never answered as if it had been understood: ``tools`` other
than function tools, ``tools`` for a model whose chat template cannot
render them, ``previous_response_id`` (nothing is stored between requests),
images and files.

Function tools come in the API's flat shape (``{"type": "function", "name",
"description", "parameters"}``); ``function_call`` input items become the
assistant's ``tool_calls`` and ``function_call_output`` items ``tool``
messages (both need ``tools`` offered: without, they are a 400).  The
model's calls (tool_calls.py) are ``function_call`` output items (``call_id``,
``name``, ``arguments``) after the ``message`` item, which is left out when
the answer is only calls.

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
``response.failed``. The Responses API has no ``[DONE]``.  When tools are
offered the text is held back (it may be a call): after ``response.created``
and ``response.in_progress`` come, at the end, the message item's events (if
any text) and, per call, ``response.output_item.added``,
``response.function_call_arguments.delta`` (the whole arguments),
``response.function_call_arguments.done`` and ``response.output_item.done``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

from dgcode.serve.protocol import (
    ROLES,
    BodyError,
    ChatRequest,
    message_content,
    sampling,
    template_arguments,
    tool_offer,
)
from dgcode.serve.responses import extension
from dgcode.serve.service import CanvasState, Outcome
from dgcode.serve.tool_calls import ToolAnswer, ToolCall, ToolOffer

PREVIOUS_UNSUPPORTED = ("previous_response_id is not supported: dgcode serve stores no responses; send the "
                        "whole conversation in input")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def responses_request(body: Mapping) -> ChatRequest:
    """The chat a Responses API body asks for; BodyError naming the field for anything else."""
    offer = tool_offer(body, flat=True)
    if body.get("previous_response_id"):
        raise BodyError("previous_response_id", PREVIOUS_UNSUPPORTED)
    messages: list[dict[str, object]] = []
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
            _add_item(messages, item, f"input[{i}]", offer is not None)
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
    return ChatRequest(messages, asked, tools=offer)


def _add_item(messages: list[dict[str, object]], item: object, where: str, tools: bool) -> None:
    """One input item onto the chat: a message, a function call (onto the assistant's turn) or its output."""
    if not isinstance(item, Mapping):
        raise BodyError(where, f"{where} must be a message item: {{\"role\": ..., \"content\": ...}}")
    kind = item.get("type", "message")
    if kind in ("function_call", "function_call_output") and not tools:
        raise BodyError(f"{where}.type", f"{where}.type {kind!r} needs the function tools offered in tools "
                        "(with a tool_choice other than \"none\")")
    if kind == "function_call":
        name, call_id = item.get("name"), item.get("call_id")
        if not isinstance(name, str) or not name:
            raise BodyError(f"{where}.name", f"{where}.name must be the function's name")
        call = {"id": call_id if isinstance(call_id, str) else "", "type": "function",
                "function": {"name": name, "arguments": template_arguments(item.get("arguments"),
                                                                           f"{where}.arguments")}}
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)  # type: ignore[union-attr]
        else:
            messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        return
    if kind == "function_call_output":
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            raise BodyError(f"{where}.call_id", f"{where}.call_id must be the call's call_id")
        messages.append({"role": "tool", "tool_call_id": call_id,
                         "content": message_content(item.get("output"), f"{where}.output")})
        return
    messages.append(_message(item, where, kind))


def _message(item: Mapping, where: str, kind: object) -> dict[str, object]:
    if kind != "message":
        raise BodyError(f"{where}.type", f"{where}.type {kind!r} is not supported: dgcode serve takes message, "
                        "function_call and function_call_output items")
    role = item.get("role")
    if role not in ROLES or role == "tool":
        raise BodyError(f"{where}.role", f"{where}.role must be one of user, assistant, system, developer; "
                        f"got {role!r}")
    return {"role": ROLES[role], "content": message_content(item.get("content"), f"{where}.content")}


def _usage(outcome: Outcome) -> dict[str, object]:
    return {"input_tokens": outcome.prompt_tokens, "input_tokens_details": {"cached_tokens": outcome.cached_tokens},
            "output_tokens": outcome.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": outcome.prompt_tokens + outcome.completion_tokens}


class ResponseShapes:
    """The response object and the stream events of one answer, numbered in order.

    ``offer``: the tools the request offers; the answer is then parsed for calls and its text held back.
    """

    def __init__(self, model_id: str, body: Mapping, offer: ToolOffer | None = None):
        self.model, self.offer = model_id, offer
        self.id, self.item_id = _new_id("resp"), _new_id("msg")
        self.created_at = int(time.time())
        self.echo = {"instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
                     "temperature": body.get("temperature"), "top_p": body.get("top_p"),
                     "metadata": body.get("metadata") or {}}
        self.sequence = 0
        self.text = ""
        self._parsed: tuple[Outcome, ToolAnswer] | None = None

    @staticmethod
    def status_of(outcome: Outcome) -> str:
        return "incomplete" if outcome.finish_reason == "length" else "completed"

    def _part(self, text: str) -> dict[str, object]:
        return {"type": "output_text", "text": text, "annotations": []}

    def _item(self, status: str, text: str | None) -> dict[str, object]:
        content = [] if text is None else [self._part(text)]
        return {"type": "message", "id": self.item_id, "status": status, "role": "assistant", "content": content}

    @staticmethod
    def _call_item(call: ToolCall, status: str = "completed") -> dict[str, object]:
        return {"type": "function_call", "id": "fc_" + call.id.removeprefix("call_"), "call_id": call.id,
                "name": call.name, "arguments": call.arguments if status == "completed" else "", "status": status}

    def answer(self, outcome: Outcome) -> ToolAnswer:
        """The answer's text and calls (a request without tools: its text only), parsed once (the calls' ids)."""
        if self._parsed is None or self._parsed[0] is not outcome:
            parsed = self.offer.parse(outcome.text) if self.offer is not None else ToolAnswer(outcome.text)
            self._parsed = (outcome, parsed)
        return self._parsed[1]

    def _output(self, status: str, answer: ToolAnswer) -> list[dict[str, object]]:
        item_status = "completed" if status == "completed" else "incomplete"
        message = [self._item(item_status, answer.content or "")] if answer.content or not answer.calls else []
        return message + [self._call_item(call) for call in answer.calls]

    def _tools(self) -> dict[str, object]:
        if self.offer is None:
            return {"tool_choice": "none", "tools": []}
        tools = [{"type": "function", "name": t["function"]["name"], "description": t["function"].get("description"),
                  "parameters": t["function"]["parameters"], "strict": None} for t in self.offer.tools]
        choice: object = {"type": "function", "name": self.offer.name} if self.offer.name else self.offer.choice
        return {"tool_choice": choice, "tools": tools}

    def response(self, status: str, outcome: Outcome | None = None, error: dict | None = None) -> dict[str, object]:
        done = outcome is not None
        answer = self.answer(outcome) if done else None
        body = {
            "id": self.id, "object": "response", "created_at": self.created_at, "status": status,
            "model": self.model, "error": error,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "output": self._output(status, answer) if answer is not None else [],
            "usage": _usage(outcome) if done else None,
            "parallel_tool_calls": self.offer is not None, **self._tools(), "text": {"format": {"type": "text"}},
            **self.echo,
        }
        if answer is not None and answer.errors:
            body["dgcode"] = {"tool_call_errors": list(answer.errors)}
        return body

    def whole(self, outcome: Outcome) -> dict[str, object]:
        body = self.response(self.status_of(outcome), outcome)
        answer = self.answer(outcome)
        body["output_text"] = answer.content or ""
        body["dgcode"] = extension(outcome, answer)
        return body

    def event(self, kind: str, **fields: object) -> dict[str, object]:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def opening(self) -> list[dict[str, object]]:
        events = [self.event("response.created", response=self.response("in_progress")),
                  self.event("response.in_progress", response=self.response("in_progress"))]
        return events if self.offer is not None else events + self._message_opening()

    def _message_opening(self) -> list[dict[str, object]]:
        where = {"output_index": 0}
        return [
            self.event("response.output_item.added", **where, item=self._item("in_progress", None)),
            self.event("response.content_part.added", item_id=self.item_id, **where, content_index=0,
                       part=self._part("")),
        ]

    def delta(self, text: str) -> dict[str, object]:
        self.text += text
        return self.event("response.output_text.delta", item_id=self.item_id, output_index=0, content_index=0,
                          delta=text, logprobs=[])

    def closing(self, outcome: Outcome, rest: str = "") -> list[dict[str, object]]:
        """The events after the last text: the rest of the text, the items' closing events, the response's."""
        status = self.status_of(outcome)
        item_status = "completed" if status == "completed" else "incomplete"
        answer = self.answer(outcome)
        events: list[dict[str, object]] = []
        if self.offer is None:
            events += [self.delta(rest)] if rest else []
        elif answer.content or not answer.calls:  # held back: the whole text now
            events += self._message_opening() + ([self.delta(answer.content)] if answer.content else [])
        index = 0
        if answer.content or not answer.calls:
            text = answer.content or ""
            where = {"item_id": self.item_id, "output_index": 0}
            events += [
                self.event("response.output_text.done", **where, content_index=0, text=text, logprobs=[]),
                self.event("response.content_part.done", **where, content_index=0, part=self._part(text)),
                self.event("response.output_item.done", output_index=0, item=self._item(item_status, text)),
            ]
            index = 1
        for at, call in enumerate(answer.calls, index):
            item = self._call_item(call)
            events += [
                self.event("response.output_item.added", output_index=at, item=self._call_item(call, "in_progress")),
                self.event("response.function_call_arguments.delta", item_id=item["id"], output_index=at,
                           delta=call.arguments),
                self.event("response.function_call_arguments.done", item_id=item["id"], output_index=at,
                           name=call.name, arguments=call.arguments),
                self.event("response.output_item.done", output_index=at, item=item),
            ]
        events.append(self.event(f"response.{status}", response=self.response(status, outcome)))
        return events

    def canvas(self, state: CanvasState) -> dict[str, object]:
        """The ``dgcode_canvas`` extension's event: one denoising step's changes."""
        return self.event("dgcode.canvas", item_id=self.item_id, output_index=0, canvas=state.to_json())

    def failed(self, message: str, code: str) -> dict[str, object]:
        return self.event("response.failed",
                          response=self.response("failed", error={"code": code, "message": message}))
