"""The engine in a child process: whatever llama.cpp does, the program that asked stays up.

A GGML_ASSERT inside llama.cpp aborts its whole process, so front ends talk to
an EngineClient, which starts the Engine in a spawned child and exchanges small
messages over a pipe: step events stream back as they happen; a shared flag
cancels a generation after the current step (each step waits for the
caller's verdict, so a callback that returns False stops the very next step); if the child dies (abort, kill,
out of memory) the caller gets an EngineCrashedError naming the cause and the
last lines llama.cpp printed, and the next request starts a fresh child.

Tracing start-up: with ``DGCODE_TRACE_FILE=PATH`` set, the client and the
child append one JSON line per milestone to PATH, ``{"event": ..., "t":
time.time(), "pid": ...}``: ``engine_spawn`` (the client starts the child),
``engine_child_start`` (the child runs ``_child_main``), ``engine_imported`` (it
has imported the engine: numpy and its own modules), ``engine_loaded`` (the
model and context are ready), ``generate`` (a generation request arrived) and
``first_step`` (a generation's first denoising step is done; ``elapsed_s``:
since its prefill began). docs/bench_first_step.py reads them; unset, nothing
is written.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import TYPE_CHECKING

from dgcode.engine import errors
from dgcode.engine.errors import EngineCrashedError, EngineError
from dgcode.engine.settings import SamplerSettings

if TYPE_CHECKING:  # the sampler imports numpy: the parent spawns the child before it needs any
    from dgcode.engine.sampler import Generation, StepCallback

_CTX = mp.get_context("spawn")
TRACE_ENV = "DGCODE_TRACE_FILE"


def trace(event: str, **fields) -> None:
    """Append a start-up milestone to $DGCODE_TRACE_FILE when it is set (see the module docstring)."""
    path = os.environ.get(TRACE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event, "t": time.time(), "pid": os.getpid(), **fields}) + "\n")


def _ensure_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real stderr.

    The tracker hands ``sys.stderr.fileno()`` to its child; under a stderr
    capture (Textual's, a test runner's) that is -1 and the first engine
    fails with "bad value(s) in fds_to_keep".  Started once, it stays.
    """
    from multiprocessing import resource_tracker

    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable or sys.__stderr__ is None:
        resource_tracker.ensure_running()
        return
    captured, sys.stderr = sys.stderr, sys.__stderr__
    try:
        resource_tracker.ensure_running()
    finally:
        sys.stderr = captured
POLL_S = 0.05
_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_script_not_rerun():
    """While a child is spawned: keep it from re-running a main script that defines nothing it could need.

    A spawned child runs the parent's ``__main__`` file again (as ``__mp_main__``) so that functions and
    classes defined there can be unpickled. The installed ``dgcode`` command is such a file, and all it
    does is import the whole command line (about a second, in every engine child). A script that defines
    no function or class of its own has nothing to unpickle, so it is left out; any other is re-run as usual.
    """
    main = sys.modules.get("__main__")
    with _MAIN_LOCK:
        path = getattr(main, "__file__", None)
        own = [value for value in vars(main).values() if getattr(value, "__module__", None) == "__main__"
               and isinstance(value, type | types.FunctionType)] if path else []
        if path is None or getattr(main, "__spec__", None) is not None or own:
            yield
            return
        del main.__file__
        try:
            yield
        finally:
            main.__file__ = path


def _child_main(conn, cancel_flag, model_path: str, options, log_path: str) -> None:
    """Entry point of the engine process."""
    trace("engine_child_start")
    os.environ["GGML_NO_BACKTRACE"] = "1"  # an abort should not spend seconds in gdb
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log_fd, 2)  # llama.cpp's abort message lands in the log the parent reads
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from dgcode.engine.engine import Engine

    trace("engine_imported")
    last_sent = [0.0]

    def on_copy_progress(done: int, total: int) -> None:  # aliased copy of a large model: report ~10x/s
        now = time.monotonic()
        if now - last_sent[0] >= 0.1 or done >= total:
            last_sent[0] = now
            conn.send(("progress", done, total))

    try:
        engine = Engine(model_path, options, progress=on_copy_progress)
    except EngineError as exc:
        conn.send(("error", type(exc).__name__, str(exc)))
        return
    trace("engine_loaded")
    conn.send(("ready", engine.describe()))
    closing = False
    while not closing:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break
        kind = request[0]
        if kind == "close":
            break
        try:
            def on_step(event) -> bool:
                nonlocal closing
                if event.step == 1:
                    trace("first_step", elapsed_s=event.elapsed_s)
                conn.send(("step", event))
                verdict = conn.recv()  # lockstep: the caller's verdict on this step
                if verdict == ("close",):  # the caller is shutting down mid-generation
                    closing = True
                return verdict is True and not cancel_flag.is_set()

            if kind == "generate":
                _, prompt, settings, suffix = request  # the parent cleared cancel_flag before sending
                trace("generate")
                conn.send(("done", engine.generate(prompt, settings, on_step, suffix)))
            elif kind == "candidates":  # K answers in one batch (engine/candidates.py); events name their candidate
                _, prompt, settings, k = request
                conn.send(("done", engine.generate_candidates(prompt, settings, k, on_step)))
            elif kind == "call":  # run a module-level function with the engine (diagnostics, tests)
                _, func = request
                conn.send(("done", func(engine)))
            else:
                conn.send(("error", "EngineError", f"unknown request {kind!r}"))
        except EngineError as exc:
            conn.send(("error", type(exc).__name__, str(exc)))
        except Exception as exc:  # a bug, not a crash: report it and keep serving
            conn.send(("error", "EngineError", f"internal error in the engine: {exc!r}"))
    engine.close()


class EngineClient:
    """Talks to one engine child process; safe to call cancel() from another thread."""

    def __init__(self, model_path: str | os.PathLike[str], options=None):
        from dgcode.engine.settings import EngineOptions

        self.model_path = str(model_path)
        self.options = options or EngineOptions()
        self._process = None
        self._conn = None
        _ensure_resource_tracker()
        self._cancel = _CTX.Event()
        self._lock = threading.Lock()
        self._log_path = None
        self._loading = False
        """Spawned, and the model not yet reported loaded."""
        self.description: dict | None = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def ready(self) -> bool:
        """The child is running and its model is loaded (``start`` has returned)."""
        return self.alive and not self._loading

    def spawn(self) -> None:
        """Start the child process and return at once; the model loads there while the caller goes on, and
        ``start`` waits for it.  Spawning from the caller's own thread, not a helper's, keeps the GIL from
        delaying it while the caller imports its modules."""
        if self.alive:
            return
        fd, self._log_path = tempfile.mkstemp(prefix="dgcode-engine-", suffix=".log")
        os.close(fd)
        parent_conn, child_conn = _CTX.Pipe()
        trace("engine_spawn")
        self._process = _CTX.Process(target=_child_main, daemon=True, name="dgcode-engine",
                                     args=(child_conn, self._cancel, self.model_path, self.options, self._log_path))
        with _main_script_not_rerun():
            self._process.start()
        child_conn.close()
        self._conn = parent_conn
        self._loading = True

    def start(self, timeout: float | None = None, on_progress=None) -> dict:
        """Start the child (unless ``spawn`` did) and wait until the model is loaded; returns the engine's
        description.

        `on_progress(done_bytes, total_bytes)` follows the one-time aliased copy of a large model.
        """
        if self.ready:
            return self.description
        if not self._loading:
            self.spawn()
        message = self._receive(timeout, "while loading the model")
        while message[0] == "progress":
            if on_progress is not None:
                on_progress(message[1], message[2])
            message = self._receive(timeout, "while loading the model")
        if message[0] == "error":
            self._reap()
            raise _rebuild(message)
        self.description = message[1]
        self._loading = False
        return self.description

    def generate(self, prompt: str | list[int], settings: SamplerSettings = SamplerSettings(),
                 on_step: StepCallback | None = None, suffix: str | list[int] | None = None) -> Generation:
        """See Engine.generate; runs in the child process."""
        return self._request(("generate", prompt, settings, suffix), on_step)

    def generate_candidates(self, prompt: str | list[int], settings: SamplerSettings, k: int,
                            on_step: StepCallback | None = None):
        """See Engine.generate_candidates (a CandidateRun); runs in the child process."""
        return self._request(("candidates", prompt, settings, k), on_step)

    def call(self, func):
        """Run a picklable module-level function `func(engine)` in the child and return its result."""
        return self._request(("call", func), None)

    def cancel(self) -> None:
        self._cancel.set()

    def _request(self, request, on_step):
        with self._lock:
            if not self.ready:
                self.start()
            self._cancel.clear()
            self._conn.send(request)
            while True:
                message = self._receive(None, "while generating")
                kind = message[0]
                if kind == "step":
                    go_on = on_step is None or on_step(message[1]) is not False
                    self._conn.send(go_on and not self._cancel.is_set())
                elif kind == "done":
                    return message[1]
                else:
                    raise _rebuild(message)

    def _receive(self, timeout: float | None, doing: str):
        waited = 0.0
        while True:
            try:
                if self._conn.poll(POLL_S):
                    return self._conn.recv()
            except (EOFError, OSError):
                pass
            if not self._process.is_alive():
                try:  # the child may have sent its last message just before exiting
                    if self._conn.poll(0):
                        return self._conn.recv()
                except (EOFError, OSError):
                    pass
                raise self._crashed(doing)
            waited += POLL_S
            if timeout is not None and waited >= timeout:
                self.close()
                raise EngineCrashedError(f"the engine did not answer within {timeout:.0f} s {doing}; it was stopped")

    def _crashed(self, doing: str) -> EngineCrashedError:
        self._process.join(1)
        code = self._process.exitcode
        if code is not None and code < 0:
            try:
                cause = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                cause = f"killed by signal {-code}"
        else:
            cause = f"exited with code {code}"
        tail = self._log_tail()
        self._reap()
        hint = f"; llama.cpp said: {tail}" if tail else ""
        return EngineCrashedError(f"the engine process {cause} {doing}{hint}. A fresh engine starts on the next request.")

    def _log_tail(self, lines: int = 3) -> str:
        try:
            text = Path(self._log_path).read_text(errors="replace")
        except (OSError, TypeError):
            return ""
        keep = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return " | ".join(keep[-lines:])

    def _reap(self) -> None:
        self._loading = False
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        if self._process is not None:
            self._process.join(0.5)
        self._process = None
        if self._log_path:
            Path(self._log_path).unlink(missing_ok=True)
            self._log_path = None

    def close(self) -> None:
        if self._process is None:
            return
        if self._process.is_alive() and self._loading:  # still loading (spawn, then a usage error): nothing to
            self._process.kill()                         # finish, and it reads no request until it has loaded
            self._process.join(5)
        if self._process.is_alive():
            self._cancel.set()  # a generation in progress stops at its next step
            try:
                self._conn.send(("close",))
            except (OSError, ValueError):
                pass
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        self._reap()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _rebuild(message) -> EngineError:
    _, name, text = message
    cls = getattr(errors, name, EngineError)
    if not (isinstance(cls, type) and issubclass(cls, EngineError)):
        cls = EngineError
    return cls(text)
