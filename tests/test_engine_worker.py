"""The engine runs in a child process: events stream, cancel is prompt, crashes are reported and survived."""

from __future__ import annotations

import os
import signal
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import engine_probes  # noqa: E402

from dgcode.engine.engine import EngineOptions  # noqa: E402
from dgcode.engine.errors import EngineCrashedError, InvalidSettingsError, ModelFileError  # noqa: E402
from dgcode.engine.unmasking import SamplerSettings  # noqa: E402
from dgcode.engine.worker import EngineClient  # noqa: E402

SETTINGS = SamplerSettings(schedule="block", steps=16, max_tokens=64, sub_block_size=16, canvas_size=64,
                           stop_at_eos=False)


@pytest.fixture
def client(models):
    with EngineClient(models["dream"], EngineOptions(n_ctx=256)) as c:
        c.start(timeout=60)
        yield c


def test_events_stream_every_step(client, test_ids):
    events = []
    result = client.generate("hello world", SETTINGS, events.append)
    assert [e.step for e in events] == list(range(1, 17))
    assert sum(len(e.committed) for e in events) == 64 == len(result.tokens)
    first, last = events[0], events[-1]
    assert len(first.tokens) == 64 and first.masked.count(True) == 64 - 4
    assert all(t == test_ids["mask"] for t, m in zip(first.tokens, first.masked) if m)
    assert all(text == "" for text, m in zip(first.texts, first.masked) if m)
    assert all(0.0 < c <= 1.0 for c, m in zip(last.confidence, last.masked) if not m)
    assert last.masked == [False] * 64 and last.tokens == result.tokens


def test_callback_returning_false_stops_at_that_step(client):
    events = []

    def on_step(event):
        events.append(event)
        return event.step < 5

    result = client.generate("hello", SETTINGS, on_step)
    assert result.stop_reason == "cancelled" and result.steps == 5 and len(events) == 5


def test_cancel_from_another_thread(client):
    def on_step(event):
        if event.step == 2:
            canceller = threading.Thread(target=client.cancel)
            canceller.start()
            canceller.join()
        return True  # the callback itself never asks to stop

    result = client.generate("hello", SETTINGS, on_step)
    assert result.stop_reason == "cancelled"
    assert result.steps == 2
    assert client.generate("hello", SETTINGS).steps == 16  # usable afterwards


def test_llama_abort_is_reported_and_a_fresh_engine_starts(client):
    first_pid = client.call(engine_probes.engine_pid)
    with pytest.raises(EngineCrashedError) as caught:
        client.call(engine_probes.abort_inside_llama)
    message = str(caught.value)
    assert "SIGABRT" in message and "GGML_ASSERT" in message and "n_ubatch" in message
    assert not client.alive
    result = client.generate("still here", SETTINGS)
    assert len(result.tokens) == 64
    assert client.call(engine_probes.engine_pid) != first_pid


def test_killed_engine_mid_generation(client):
    def on_step(event):
        if event.step == 3:
            os.kill(client._process.pid, signal.SIGKILL)
        return True

    with pytest.raises(EngineCrashedError, match="SIGKILL"):
        client.generate("hello", SETTINGS, on_step)
    assert client.generate("hello", SETTINGS).steps == 16


def test_bad_model_reported_from_the_child(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 4)
    with EngineClient(bad) as c, pytest.raises(ModelFileError, match="truncated or corrupt"):
        c.start(timeout=60)


def test_bad_settings_reported_not_crashed(client):
    with pytest.raises(InvalidSettingsError, match="needs steps"):
        client.generate("hi", SamplerSettings(schedule="block", steps=1, max_tokens=64))
    assert client.alive


def test_first_start_reports_the_aliased_copy_progress(tmp_path, models, monkeypatch):
    monkeypatch.setenv("DGCODE_CACHE_DIR", str(tmp_path / "fresh-cache"))
    seen = []
    with EngineClient(models["llada"], EngineOptions(n_ctx=128)) as c:
        description = c.start(timeout=60, on_progress=lambda done, total: seen.append((done, total)))
    assert description["cached_path"] is True
    size = models["llada"].stat().st_size
    assert seen and seen[-1] == (size, size)
    assert list((tmp_path / "fresh-cache" / "aliased").glob("*.llama.gguf"))


def test_a_bug_in_the_engine_is_reported_and_the_engine_stays_up(client):
    from dgcode.engine.errors import EngineError

    pid = client.call(engine_probes.engine_pid)
    with pytest.raises(EngineError, match="internal error in the engine: ZeroDivisionError"):
        client.call(engine_probes.raise_a_bug)
    assert client.call(engine_probes.engine_pid) == pid


def test_close_during_a_generation_ends_the_child_by_itself(models):
    import time

    client = EngineClient(models["dream"], EngineOptions(n_ctx=256))
    client.start(timeout=60)
    process = client._process
    closer = threading.Timer(0.05, client.close)

    def slow_step(event):
        time.sleep(0.05)
        return True

    closer.start()
    try:
        client.generate("hello", SETTINGS, slow_step)
    except (EngineCrashedError, OSError, EOFError, AttributeError, TypeError):
        pass  # the connection went away under the generation: that is the point
    closer.join()
    process.join(60)  # generous: a loaded machine is slow, and how fast is for benchmarks, not unit tests
    assert process.exitcode == 0  # it left by itself after the close request, not by a kill


def test_closing_an_engine_still_loading_stops_its_child_then_a_start_loads_afresh(models):
    """`dgcode fix` spawns the engine early; a usage error right after closes it without waiting for the load."""
    client = EngineClient(models["dream"])
    client.spawn()
    assert client.alive and not client.ready
    process = client._process
    client.close()
    assert not process.is_alive() and process.exitcode == -signal.SIGKILL
    assert not client.alive and not client.ready
    try:
        assert client.start()["architecture"] == "dream" and client.ready
    finally:
        client.close()
