"""Test doubles for the TUI: a ScriptedEngine replaying step events and a final answer behind the ChatEngine seam.

``scripted_events`` turns an answer into the StepEvents a diffusion engine
would report: the answer is split into word-sized tokens (plus an end token),
cut into canvases and sub-blocks like the real sampler's, and each step
commits a few masked positions of the active sub-block in a shuffled order,
with made-up confidences (or the script's own, one per token).
``ScriptedEngine`` replays one Script per ``generate`` call (an infill
call's prompt tail and suffix are recorded, so tests see the exact split) with a small sleep per step, honours cancellation the way
EngineClient does (the step in flight is reported, then it stops), and can
crash mid-answer like a dying engine process. A script can hold at a step
until the test releases it, so a test sees the canvas mid-denoising however
fast or slow the machine is.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dgcode.engine.errors import EngineCrashedError, EngineError
from dgcode.engine.sampler import StepEvent
from dgcode.engine.unmasking import SamplerSettings
from dgcode.workflows.fix.report import Answer

MASK_ID = 0
END_TEXT = "<|endoftext|>"
TOKEN_RE = re.compile(r"\n|[ \t]+|\w+|[^\w\s]")


def split_tokens(text: str) -> list[str]:
    """Word-sized pieces whose concatenation is ``text``."""
    pieces = TOKEN_RE.findall(text)
    assert "".join(pieces) == text
    return pieces


def scripted_events(text: str, settings: SamplerSettings, *, per_step: int = 3, seed: int = 0,
                    step_s: float = 0.01, confidence_of: Sequence[float] | None = None) -> list[StepEvent]:
    """The step events of denoising ``text`` (then an end token) on canvases like the real sampler's.

    ``confidence_of``: the confidence each token of ``text`` is committed with (else made up).
    """
    rng = random.Random(seed)
    pieces = split_tokens(text) + [END_TEXT]
    if confidence_of is not None:
        assert len(confidence_of) == len(pieces) - 1, "one confidence per token of the text"
    n_answer = max(settings.max_tokens, len(pieces))
    texts = [""] * n_answer
    confidence = [0.0] * n_answer
    events: list[StepEvent] = []
    step = 0
    sub = settings.sub_block_size
    for a in range(0, len(pieces), sub):
        b = min(a + sub, n_answer)
        order = list(range(a, min(b, len(pieces))))
        rng.shuffle(order)
        for start in range(0, len(order), per_step):
            chosen = order[start:start + per_step]
            for i in chosen:
                texts[i] = pieces[i]
                made_up = rng.choice((0.95, 0.99, 0.8, 0.55))
                confidence[i] = confidence_of[i] if confidence_of is not None and i < len(confidence_of) else made_up
            step += 1
            canvas = a // settings.canvas_size
            lo = canvas * settings.canvas_size
            hi = min(lo + settings.canvas_size, n_answer)
            masked = [texts[i] == "" for i in range(lo, hi)]
            final = next((i for i in range(n_answer) if texts[i] == ""), n_answer)
            events.append(StepEvent(
                step=step, canvas_index=canvas, active=(a - lo, b - lo),
                tokens=[MASK_ID if m else 1 + (i % 97) for i, m in zip(range(lo, hi), masked)],
                texts=texts[lo:hi], confidence=confidence[lo:hi], masked=masked,
                committed=[i - lo for i in chosen], answer_final=min(final, len(pieces) - 1),
                elapsed_s=step * step_s))
    return events


@dataclass
class Script:
    """One scripted answer: its text, how it is denoised, or a crash after ``crash_after`` steps."""

    text: str = ""
    per_step: int = 3
    crash_after: int | None = None
    hold_at: int | None = None
    """After reporting this step, wait until the test calls ``ScriptedEngine.release()``."""
    confidence: tuple[float, ...] | None = None
    """The confidence each token of ``text`` is committed with (None: made up)."""


def render_chat(messages: list[dict[str, str]]) -> str:
    """The scripted engine's chat template: one ``<role>content`` line per message, then the answer's turn."""
    return "".join(f"<{m['role']}>{m['content']}\n" for m in messages) + "<assistant>"


class ScriptedEngine:
    """A ChatEngine that replays Scripts; records prompts, infill splits, steps run and cancels for assertions."""

    def __init__(self, *scripts: Script, delay: float = 0.005, n_ctx: int = 4096, name: str = "scripted.gguf",
                 start_error: EngineError | None = None):
        self.scripts = list(scripts)
        self.delay = delay
        self.n_ctx = n_ctx
        self.name = name
        self.start_error = start_error
        """Raised by ``start`` (a model that fails to load)."""
        self.prompts: list[list[dict[str, str]]] = []
        self.raw_prompts: list[str] = []
        """What the model was asked to continue: the rendered chat, then the infill's prefix."""
        self.suffixes: list[str] = []
        """Each call's infill suffix ("" for a plain answer)."""
        self.settings_seen: list[SamplerSettings] = []
        self.start_calls = 0
        self.steps_run: list[int] = []
        self.total_steps: list[int] = []
        self.cancel_calls = 0
        self.saw_cancel = False
        self.started = False
        self.closed = False
        self._cancel = threading.Event()
        self.holding = threading.Event()
        self._release = threading.Event()

    def start(self, say) -> None:
        self.start_calls += 1
        if not self.started:
            say(f"loading {self.name}")
        if self.start_error is not None:
            raise self.start_error
        self.started = True

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def generate(self, messages, settings: SamplerSettings, on_step=None, say=None, *, prefix: str = "",
                 suffix: str = "") -> Answer:
        script = self.scripts.pop(0)
        self.prompts.append(messages)
        self.raw_prompts.append(render_chat(messages) + prefix)
        self.suffixes.append(suffix)
        self.settings_seen.append(settings)
        self._cancel.clear()
        events = scripted_events(script.text, settings, per_step=script.per_step, step_s=self.delay,
                                 confidence_of=script.confidence)
        self.total_steps.append(len(events))
        began = time.monotonic()
        steps, stop_reason = 0, "eos"
        for event in events:
            time.sleep(self.delay)
            if script.crash_after is not None and steps >= script.crash_after:
                self.started = False
                self.steps_run.append(steps)
                raise EngineCrashedError("the engine process killed by SIGABRT while generating; llama.cpp said: "
                                         "GGML_ASSERT failed. A fresh engine starts on the next request.")
            steps += 1
            go_on = on_step(event) if on_step is not None else True
            if steps == script.hold_at:
                self.holding.set()
                self._release.wait(10)
            if go_on is False or self._cancel.is_set():
                self.saw_cancel = True
                stop_reason = "cancelled"
                break
        self.steps_run.append(steps)
        text = script.text
        if stop_reason == "cancelled":
            final = events[steps - 1].answer_final if steps else 0
            text = "".join(split_tokens(script.text)[:final])
        tokens = len(split_tokens(text))
        return Answer(text, tokens, steps, stop_reason, prefill_ms=1.0, wall_s=time.monotonic() - began)

    def release(self) -> None:
        """Let a held generation go on."""
        self.holding.clear()
        self._release.set()

    def cancel(self) -> None:
        self.cancel_calls += 1
        self._cancel.set()

    def describe(self) -> dict | None:
        return {"n_ctx": self.n_ctx, "architecture": "dream", "backend": "CPU, 2 threads"} if self.started else None

    def summary(self) -> dict:
        return {"path": f"/models/{self.name}", "loaded": self.started, "architecture": "dream",
                "cached_path": True, **(self.describe() or {})}

    def close(self) -> None:
        self.closed = True
        self.started = False


# --- a small repository and an answer that edits two of its files ------------------------------------

TWO_FILE_EDITS = """I changed both files.

a.py
```python
<<<<<<< SEARCH
x = 1
=======
x = 10
>>>>>>> REPLACE
```

b.py
```python
<<<<<<< SEARCH
y = 2
=======
y = 20
>>>>>>> REPLACE
```
"""
"""A model answer with one SEARCH/REPLACE block for a.py and one for b.py."""


def two_file_repo(root, *, commit: bool = True):
    """A git repository holding a.py (x = 1), b.py (y = 2) and notes.txt; committed unless told otherwise."""
    from repo_helpers import git

    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    (root / "a.py").write_text("x = 1\n")
    (root / "b.py").write_text("y = 2\n")
    (root / "notes.txt").write_text("one\ntwo\nthree\n")
    if commit:
        git(root, "add", ".")
        git(root, "commit", "-qm", "init")
    return root
