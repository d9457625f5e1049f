"""One engine, many clients: generations queue (FIFO) and run one at a time in a worker thread.

``ModelService.chat`` / ``complete`` enqueue a generation and return a
``Run`` at once; the run's ``items`` (an asyncio queue) get ``STARTED`` after the
first denoising step, the answer's newly final text as it grows (with the ``dgcode_canvas`` extension, a
``CanvasState`` per step before it) and, last, the finished ``concurrent.futures``
future (its result an ``Outcome``, or the engine's error).  ``Run.cancel``
takes a waiting run out of the queue, or stops a running one at its next
denoising step (the step callback answers False), so a client that goes
away frees the engine within one step.  An engine crash fails that run only:
``ModelEngine`` starts a fresh engine process for the next one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dgcode.engine.errors import InvalidSettingsError
from dgcode.engine.settings import SamplerSettings
from dgcode.serve.answer_text import FinalText
from dgcode.serve.protocol import BodyError, Sampling, request_settings
from dgcode.workflows.model import ModelChoice
from dgcode.workflows.model_engine import ModelEngine, RenderChat

STARTED = object()
"""The first item of a run that got past its prompt (the first step ran): a stream may begin."""


@dataclass(frozen=True)
class CanvasState:
    """One denoising step as the ``dgcode_canvas`` extension streams it: what changed on which canvas."""

    step: int
    canvas_index: int
    canvas_length: int
    """Positions on this canvas (the canvas size, or fewer for the last canvas of a shorter answer)."""
    active: tuple[int, int]
    committed: tuple[int, ...]
    tokens: tuple[int, ...]
    texts: tuple[str, ...]
    confidences: tuple[float, ...]
    masked: int
    """Positions of this canvas still masked after the step."""
    answer_final: int

    @classmethod
    def of(cls, event) -> CanvasState:
        committed = tuple(event.committed)
        return cls(event.step, event.canvas_index, len(event.tokens), tuple(event.active), committed,
                   tuple(int(event.tokens[i]) for i in committed), tuple(event.texts[i] for i in committed),
                   tuple(round(float(event.confidence[i]), 4) for i in committed), sum(event.masked),
                   event.answer_final)

    def to_json(self) -> dict[str, object]:
        return {"step": self.step, "canvas": self.canvas_index, "length": self.canvas_length,
                "active": list(self.active), "committed": list(self.committed), "tokens": list(self.tokens),
                "texts": list(self.texts), "confidences": list(self.confidences), "masked": self.masked,
                "answer_final": self.answer_final}


class Cancelled(Exception):
    """The run was cancelled before it started."""


@dataclass(frozen=True)
class Outcome:
    """A finished answer: its text (stop sequence cut off), what is left to stream, and its counts."""

    text: str
    rest: str
    finish_reason: str
    """"stop" (end of text or a stop sequence), "length" (max_tokens) or "cancelled"."""
    prompt_tokens: int
    completion_tokens: int
    steps: int
    wall_s: float
    cached_tokens: int = 0
    """Prompt tokens whose KV cells were kept from the previous request (the prefix cache's hit)."""


class Run:
    """One queued or running generation, as the request handler sees it."""

    def __init__(self, service: ModelService, loop: asyncio.AbstractEventLoop):
        self.service, self.loop = service, loop
        self.items: asyncio.Queue = asyncio.Queue()
        self.cancelled = threading.Event()
        self.future: concurrent.futures.Future | None = None

    def push(self, item: object) -> None:
        """From the worker thread: hand ``item`` to the request handler's loop."""
        try:
            self.loop.call_soon_threadsafe(self.items.put_nowait, item)
        except RuntimeError:  # the server's loop has closed: nobody is listening
            pass

    def cancel(self) -> None:
        self.cancelled.set()
        if self.future is not None and not self.future.done() and self.future.cancel():  # out of the queue
            self.service._left_queue()


class ModelService:
    """The model being served: its engine, its queue, its default settings and what it has done."""

    def __init__(self, config: Mapping[str, object], choice: ModelChoice, engine: ModelEngine):
        self.config, self.choice, self.engine = config, choice, engine
        self.model_id = choice.name
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dgcode-serve")
        self._lock = threading.Lock()
        self.waiting = 0
        self.busy = False
        self.counts: Counter[str] = Counter()
        """Finished runs by finish reason, plus "error"."""
        self.prompt_tokens = self.cached_tokens = 0
        """Over all finished runs: prompt tokens, and those the prefix cache held already."""

    def settings(self, asked: Sampling) -> SamplerSettings:
        return request_settings(self.config, self.choice, asked)

    def health(self) -> dict[str, object]:
        with self._lock:
            described = self.engine.describe()
            cache = {"prompt_tokens": self.prompt_tokens, "cached_tokens": self.cached_tokens,
                     "hit_rate": round(self.cached_tokens / self.prompt_tokens, 4) if self.prompt_tokens else 0.0,
                     "reuses_prefix": bool(described and described.get("reuse_prefix"))}
            return {"status": "ok", "server": "dgcode", "model": self.model_id, "loaded": described is not None,
                    "busy": self.busy, "queue": self.waiting, "finished": dict(self.counts), "prefix_cache": cache}

    def chat(self, messages: list[dict[str, object]], settings: SamplerSettings, stop: tuple[str, ...],
             canvas: bool = False, prefix: str = "", suffix: str = "",
             tools: list[dict[str, object]] | None = None) -> Run:
        """The answer to ``messages``; with ``prefix``/``suffix``, only the slot between them (infill).

        With ``tools``, the model's template must render them: one that cannot fails the run with a
        ``BodyError`` naming ``tools`` (a 400), before any step.
        """
        def prompt() -> str:
            try:  # the model's own template
                return self.engine.client.call(RenderChat(messages, tools)) + prefix
            except InvalidSettingsError as exc:
                if tools:  # rendering raises it for tools only
                    raise BodyError("tools", str(exc)) from None
                raise

        return self._submit(prompt, suffix, settings, stop, canvas)

    def complete(self, prompt: str, suffix: str, settings: SamplerSettings, stop: tuple[str, ...],
                 canvas: bool = False) -> Run:
        return self._submit(lambda: prompt, suffix, settings, stop, canvas)

    def _left_queue(self) -> None:
        with self._lock:
            self.waiting -= 1

    def _submit(self, prompt: Callable[[], str], suffix: str, settings: SamplerSettings,
                stop: tuple[str, ...], canvas: bool = False) -> Run:
        run = Run(self, asyncio.get_running_loop())
        with self._lock:
            self.waiting += 1
        run.future = self._pool.submit(self._work, run, prompt, suffix, settings, stop, canvas)
        run.future.add_done_callback(run.push)
        return run

    def _work(self, run: Run, prompt: Callable[[], str], suffix: str, settings: SamplerSettings,
              stop: tuple[str, ...], canvas: bool = False) -> Outcome:
        with self._lock:
            self.waiting -= 1
            self.busy = True
        try:
            if run.cancelled.is_set():
                raise Cancelled()
            final = FinalText(settings.canvas_size, stop)
            started = False

            def on_step(event) -> bool:
                nonlocal started
                if run.cancelled.is_set():
                    return False
                if not started:
                    started = True
                    run.push(STARTED)
                if canvas:
                    run.push(CanvasState.of(event))
                delta = final.step(event)
                if delta:
                    run.push(delta)
                return not final.stopped

            began = time.monotonic()
            self.engine.start()
            result = self.engine.client.generate(prompt(), settings, on_step, suffix=suffix or None)
            text, rest = final.finish(result.text)
            if final.stopped:
                reason = "stop"
            else:
                reason = {"eos": "stop", "length": "length"}.get(result.stop_reason, result.stop_reason)
            outcome = Outcome(text, rest, reason, result.prompt_tokens, len(result.tokens), result.steps,
                              time.monotonic() - began, int(getattr(result, "reused_prompt_tokens", 0) or 0))
            with self._lock:
                self.prompt_tokens += outcome.prompt_tokens
                self.cached_tokens += outcome.cached_tokens
            self._count(outcome.finish_reason)
            return outcome
        except Cancelled:
            self._count("cancelled")
            raise
        except BaseException:
            self._count("error")
            raise
        finally:
            with self._lock:
                self.busy = False

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.engine.close()
