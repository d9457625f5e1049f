"""A model behind an OpenAI-compatible endpoint, with ModelEngine's methods: remote engines and warm dgcode servers.

``RemoteEngine`` answers a chat by streaming ``POST {url}/chat/completions``
(vLLM, SGLang, LMDeploy, Mercury, or a ``dgcode serve``), so the front ends
can use it where they use a local ``ModelEngine``: ``start`` (the endpoint
answers ``GET {url}/models``; the model named, else the first listed),
``generate``, ``cancel`` (from any thread: the stream is closed at its next
chunk), ``describe``/``summary``, ``count_tokens`` (an estimate: generic
endpoints have no tokenizer route), ``close``.

A dgcode server (its ``/health`` says ``"server": "dgcode"``) gets dgcode's
diffusion fields (threshold, steps, sub-block, algorithm, schedule) and two
extensions: ``dgcode_canvas`` streams each step's changes, rebuilt here into
``StepEvent`` objects so a live canvas draws as with a local engine; and
``dgcode_prefix``/``dgcode_suffix`` make it infill inside the answer. From
any other endpoint the text streams in with no per-step states
(``per_step_states`` is False, so a canvas can say so) and an infill is
refused with a message saying why.

Connection errors, 429 and 503 are retried with exponential backoff (and the
server's Retry-After, capped) before the answer begins; 401, 403, 404 and
400 get a sentence saying what to do. Every request has a timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dgcode.engine.errors import EngineError
from dgcode.engine.settings import SamplerSettings
from dgcode.workflows.model_engine import Answer, Say, StepObserver

if TYPE_CHECKING:  # the sampler imports numpy, which `fix` does not need before its engine is spawned
    from dgcode.engine.sampler import StepEvent

RETRIED_STATUS = (429, 502, 503, 504)
CHARS_PER_TOKEN = 3.5
"""count_tokens' estimate: code averages about this many characters per token."""
MAX_RETRY_AFTER_S = 10.0


def _quiet(_message: str) -> None:
    pass


class RemoteError(EngineError):
    """The endpoint could not be used; str() says what happened and what to do."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    """The API's base, e.g. http://gpu-box:8000/v1."""
    api_key: str | None = None
    model: str | None = None
    """The remote model's name; None: the first one the endpoint lists."""
    timeout_s: float = 120.0
    retries: int = 3
    backoff_s: float = 0.5

    @property
    def base(self) -> str:
        return self.url.rstrip("/")

    @property
    def root(self) -> str:
        """The server's root (the base without a trailing /v1), where a dgcode server has /health."""
        return self.base[:-3] if self.base.endswith("/v1") else self.base


class _Canvases:
    """Per-step canvas deltas from a dgcode server, rebuilt into whole-canvas StepEvents."""

    def __init__(self):
        self.index, self.tokens, self.texts, self.confidence, self.masked = -1, [], [], [], []

    def event(self, state: dict, began: float) -> StepEvent:
        from dgcode.engine.sampler import StepEvent

        if state["canvas"] != self.index:
            length = int(state["length"])
            self.index = state["canvas"]
            self.tokens, self.texts = [-1] * length, [""] * length
            self.confidence, self.masked = [0.0] * length, [True] * length
        for position, token, text, confidence in zip(state["committed"], state["tokens"], state["texts"],
                                                     state["confidences"]):
            self.tokens[position], self.texts[position] = int(token), str(text)
            self.confidence[position], self.masked[position] = float(confidence), False
        return StepEvent(step=int(state["step"]), canvas_index=self.index, active=tuple(state["active"]),
                         tokens=list(self.tokens), texts=list(self.texts), confidence=list(self.confidence),
                         masked=list(self.masked), committed=list(state["committed"]),
                         answer_final=int(state["answer_final"]), elapsed_s=time.monotonic() - began)


class RemoteEngine:
    """ModelEngine's methods over an OpenAI-compatible endpoint (see the module docstring)."""

    def __init__(self, endpoint: Endpoint, say: Say = _quiet, sleep: Callable[[float], None] = time.sleep):
        import httpx

        self.endpoint, self.say, self.sleep = endpoint, say, sleep
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        self.http = httpx.Client(timeout=endpoint.timeout_s, headers=headers)
        self.model: str | None = endpoint.model
        self.dgcode_server = False
        self.started = False
        self.warm = False
        """A warm server of the configured model (workflows/warm_server.py), not a configured endpoint."""
        self._cancel = threading.Event()

    @property
    def name(self) -> str:
        """Shown in the TUI's panel: the remote model and where it runs."""
        return f"{self.model or 'remote model'} @ {self.endpoint.base}"

    @property
    def per_step_states(self) -> bool:
        """Whether ``generate`` reports denoising steps (only a dgcode server sends them)."""
        return self.dgcode_server

    # --- requests ---------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, base: str | None = None, **kwargs):
        """A response with a usable status, after retrying what may pass; RemoteError otherwise."""
        import httpx

        url = (base or self.endpoint.base) + path
        for attempt in range(self.endpoint.retries + 1):
            wait = self.endpoint.backoff_s * 2 ** attempt
            try:
                response = self.http.send(self.http.build_request(method, url, **kwargs), stream=True)
            except httpx.TimeoutException:
                raise RemoteError(f"{url} did not answer within {self.endpoint.timeout_s:g} s") from None
            except httpx.TransportError as exc:
                if attempt == self.endpoint.retries:
                    raise RemoteError(f"cannot reach {url} ({type(exc).__name__}: {exc}) after "
                                      f"{attempt + 1} tries; is the server running?") from None
                self.sleep(wait)
                continue
            if response.status_code in RETRIED_STATUS and attempt < self.endpoint.retries:
                retry_after = response.headers.get("Retry-After", "")
                response.close()
                self.sleep(min(float(retry_after), MAX_RETRY_AFTER_S) if retry_after.isdigit() else wait)
                continue
            if response.status_code >= 400:
                response.read()
                response.close()
                raise RemoteError(self._describe_failure(url, response, attempt + 1))
            return response
        raise AssertionError("unreachable")

    def _describe_failure(self, url: str, response, tries: int) -> str:
        status = response.status_code
        try:
            detail = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = response.text.strip()[:200]
        said = f": {detail}" if detail else ""
        if status in (401, 403):
            return (f"{url} refused the request (HTTP {status}){said}; check the API key "
                    "(endpoint_api_key_env names the variable that holds it)")
        if status == 404:
            return f"{url} was not found (HTTP 404){said}; check the endpoint URL (it usually ends in /v1)"
        if status in RETRIED_STATUS:
            return f"{url} is overloaded (HTTP {status}) after {tries} tries{said}; try again later"
        if status == 400:
            return f"the endpoint refused the request (HTTP 400){said}"
        return f"{url} answered HTTP {status}{said}"

    # --- ModelEngine's methods --------------------------------------------------------------------

    def start(self, say: Say | None = None) -> None:
        if self.started:
            return
        response = self._request("GET", "/models")
        try:
            listed = [m["id"] for m in json.loads(response.read())["data"]]
        except (ValueError, KeyError, TypeError):
            raise RemoteError(f"{self.endpoint.base}/models did not answer with a model list") from None
        finally:
            response.close()
        if self.model is None:
            if not listed:
                raise RemoteError(f"{self.endpoint.base} serves no model")
            self.model = listed[0]
        elif self.model not in listed:
            raise RemoteError(f"{self.endpoint.base} does not serve {self.model!r}; it serves: "
                              f"{', '.join(listed) or 'nothing'}")
        self.dgcode_server = self._is_dgcode()
        self.started = True
        (say or self.say)(f"using {self.model} at {self.endpoint.base}"
                          + (" (a dgcode server)" if self.dgcode_server else ""))

    def _is_dgcode(self) -> bool:
        try:
            response = self.http.get(self.endpoint.root + "/health", timeout=min(5.0, self.endpoint.timeout_s))
            return response.status_code == 200 and response.json().get("server") == "dgcode"
        except Exception:  # noqa: BLE001 - any endpoint without dgcode's /health is a generic one
            return False

    def count_tokens(self, text: str) -> int:
        return max(1, round(len(text) / CHARS_PER_TOKEN)) if text else 0

    def _body(self, messages: list[dict[str, str]], settings: SamplerSettings, canvas: bool, prefix: str,
              suffix: str) -> dict[str, object]:
        body: dict[str, object] = {"model": self.model, "messages": messages, "max_tokens": settings.max_tokens,
                                   "stream": True, "stream_options": {"include_usage": True},
                                   "temperature": settings.temperature, "top_p": settings.top_p}
        if settings.seed is not None:
            body["seed"] = settings.seed
        if self.dgcode_server:
            body.update({"threshold": settings.threshold, "steps": settings.steps,
                         "sub_block": settings.sub_block_size, "algorithm": settings.algorithm,
                         "schedule": settings.schedule, "ignore_eos": not settings.stop_at_eos,
                         "dgcode_canvas": canvas, "dgcode_prefix": prefix, "dgcode_suffix": suffix})
        elif prefix or suffix:
            raise RemoteError(f"{self.endpoint.base} is not a dgcode server, so it cannot fill a span between "
                              "kept text (infill); use a local model or a dgcode server for this")
        return body

    def generate(self, messages: list[dict[str, str]], settings: SamplerSettings,
                 on_step: StepObserver | None = None, say: Say | None = None, *, prefix: str = "",
                 suffix: str = "") -> Answer:
        self.start(say)
        self._cancel.clear()
        body = self._body(messages, settings, on_step is not None, prefix, suffix)
        began = time.monotonic()
        pieces, tokens, steps, reason, first, cached = [], 0, 0, "stop", None, 0
        canvases = _Canvases()
        response = self._request("POST", "/chat/completions", json=body)
        try:
            for line in response.iter_lines():
                if self._cancel.is_set():
                    reason = "cancelled"
                    break
                if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                    continue
                chunk = json.loads(line[5:])
                if "error" in chunk:
                    raise RemoteError(f"the endpoint failed mid-answer: {chunk['error'].get('message', chunk)}")
                if chunk.get("dgcode_canvas") and on_step is not None:
                    steps += 1
                    if on_step(canvases.event(chunk["dgcode_canvas"], began)) is False:
                        reason = "cancelled"
                        break
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        first = first if first is not None else time.monotonic() - began
                        pieces.append(piece)
                    if choice.get("finish_reason"):
                        reason = {"length": "length"}.get(choice["finish_reason"], "eos")
                if chunk.get("usage"):
                    tokens = int(chunk["usage"].get("completion_tokens") or 0)
                    cached = int((chunk["usage"].get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        finally:
            response.close()
        text = "".join(pieces)
        return Answer(text, tokens or self.count_tokens(text), steps, reason,
                      1000.0 * (first if first is not None else 0.0), time.monotonic() - began, cached)

    def cancel(self) -> None:
        self._cancel.set()

    def describe(self) -> dict | None:
        if not self.started:
            return None
        return {"model": self.model, "endpoint": self.endpoint.base, "dgcode_server": self.dgcode_server,
                "warm_server": self.warm,
                "per_step_states": self.per_step_states,
                "backend": "remote, live canvas" if self.per_step_states else "remote, text only (no canvas)"}

    def summary(self) -> dict:
        described = self.describe()
        if described:
            return {"path": self.endpoint.base, "loaded": True, **described}
        return {"path": self.endpoint.base, "loaded": False, "model": self.model, "endpoint": self.endpoint.base}

    def close(self) -> None:
        self._cancel.set()
        self.http.close()
