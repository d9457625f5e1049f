"""The OpenAI JSON shapes dgcode serve answers with: completions, stream chunks, usage, errors, the model list."""

from __future__ import annotations

import time
import uuid

from dgcode.serve.service import CanvasState, Outcome
from dgcode.serve.tool_calls import ToolAnswer, ToolCall, ToolOffer


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(outcome: Outcome) -> dict[str, object]:
    return {"prompt_tokens": outcome.prompt_tokens, "completion_tokens": outcome.completion_tokens,
            "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": outcome.cached_tokens}}


def error(message: str, kind: str = "invalid_request_error", param: str | None = None,
          code: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def extension(outcome: Outcome, answer: ToolAnswer | None = None) -> dict[str, object]:
    """The ``dgcode`` field: steps and time, and why a tool request's answer holds no (or fewer) calls."""
    body: dict[str, object] = {"steps": outcome.steps, "wall_s": round(outcome.wall_s, 4)}
    if answer is not None and answer.errors:
        body["tool_call_errors"] = list(answer.errors)
    return body


def model_list(model_id: str, created: int) -> dict[str, object]:
    return {"object": "list", "data": [{"id": model_id, "object": "model", "created": created,
                                        "owned_by": "dgcode"}]}


class Shapes:
    """The bodies of one answer: ``chat`` or not (a text completion), with its id, creation time and model.

    ``offer``: the tools a chat request offers; its answer is parsed for tool calls (``answer``).
    """

    def __init__(self, model_id: str, chat: bool, offer: ToolOffer | None = None):
        self.model, self.chat, self.offer = model_id, chat, offer
        self._parsed: tuple[Outcome, ToolAnswer] | None = None
        self.id = new_id("chatcmpl" if chat else "cmpl")
        self.created = int(time.time())
        self.object = "chat.completion" if chat else "text_completion"

    def _head(self, obj: str) -> dict[str, object]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def answer(self, outcome: Outcome) -> ToolAnswer | None:
        """A tool request's answer parsed into content and calls, once (the calls' ids); None without tools."""
        if self.offer is None:
            return None
        if self._parsed is None or self._parsed[0] is not outcome:
            self._parsed = (outcome, self.offer.parse(outcome.text))
        return self._parsed[1]

    def whole(self, outcome: Outcome) -> dict[str, object]:
        answer = self.answer(outcome)
        if self.chat:
            message: dict[str, object] = {"role": "assistant", "content": outcome.text}
            reason = outcome.finish_reason
            if answer is not None:
                message["content"] = answer.content
                if answer.calls:
                    message["tool_calls"] = [call.to_chat() for call in answer.calls]
                reason = answer.finish_reason(reason)
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reason}
        else:
            choice = {"index": 0, "text": outcome.text, "logprobs": None, "finish_reason": outcome.finish_reason}
        return {**self._head(self.object), "choices": [choice], "usage": usage(outcome),
                "dgcode": extension(outcome, answer)}

    def tool_calls_chunk(self, calls: tuple[ToolCall, ...]) -> dict[str, object]:
        """The stream's tool calls, whole, in OpenAI's delta shape (each with its index)."""
        delta = {"tool_calls": [{"index": i, **call.to_chat()} for i, call in enumerate(calls)]}
        return {**self._head("chat.completion.chunk"),
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]}

    def canvas_chunk(self, state: CanvasState) -> dict[str, object]:
        """The ``dgcode_canvas`` extension's chunk: no choices (clients that ignore it see nothing), the step."""
        head = self._head("chat.completion.chunk" if self.chat else "text_completion")
        return {**head, "choices": [], "dgcode_canvas": state.to_json()}

    def chunk(self, text: str | None = None, *, role: bool = False, finish: Outcome | None = None,
              usage_only: Outcome | None = None) -> dict[str, object]:
        head = self._head("chat.completion.chunk" if self.chat else "text_completion")
        if usage_only is not None:
            return {**head, "choices": [], "usage": usage(usage_only)}
        reason = finish.finish_reason if finish is not None else None
        answer = self.answer(finish) if finish is not None else None
        if finish is not None and answer is not None:
            reason = answer.finish_reason(finish.finish_reason)
        if self.chat:
            delta: dict[str, object] = {"role": "assistant", "content": ""} if role else {}
            if text:
                delta["content"] = text
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": reason}
        body = {**head, "choices": [choice]}
        if finish is not None:
            body["usage"] = usage(finish)
            if answer is not None and answer.errors:
                body["dgcode"] = {"tool_call_errors": list(answer.errors)}
        return body
