"""The OpenAI JSON shapes dgcode serve answers with: completions, stream chunks, usage, errors, the model list."""

from __future__ import annotations

import time
import uuid

from dgcode.serve.service import CanvasState, Outcome


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(outcome: Outcome) -> dict[str, int]:
    return {"prompt_tokens": outcome.prompt_tokens, "completion_tokens": outcome.completion_tokens,
            "total_tokens": outcome.prompt_tokens + outcome.completion_tokens}


def error(message: str, kind: str = "invalid_request_error", param: str | None = None,
          code: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def model_list(model_id: str, created: int) -> dict[str, object]:
    return {"object": "list", "data": [{"id": model_id, "object": "model", "created": created,
                                        "owned_by": "dgcode"}]}


class Shapes:
    """The bodies of one answer: ``chat`` or not (a text completion), with its id, creation time and model."""

    def __init__(self, model_id: str, chat: bool):
        self.model, self.chat = model_id, chat
        self.id = new_id("chatcmpl" if chat else "cmpl")
        self.created = int(time.time())
        self.object = "chat.completion" if chat else "text_completion"

    def _head(self, obj: str) -> dict[str, object]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def whole(self, outcome: Outcome) -> dict[str, object]:
        if self.chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": outcome.text},
                      "logprobs": None, "finish_reason": outcome.finish_reason}
        else:
            choice = {"index": 0, "text": outcome.text, "logprobs": None, "finish_reason": outcome.finish_reason}
        return {**self._head(self.object), "choices": [choice], "usage": usage(outcome),
                "dgcode": {"steps": outcome.steps, "wall_s": round(outcome.wall_s, 4)}}

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
        return body
