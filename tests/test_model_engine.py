"""The shared engine adapter: loads on first use, and says once what the cached copy of a dream model costs."""

from __future__ import annotations

from dgcode.engine.engine import EngineOptions
from dgcode.engine.unmasking import SamplerSettings
from dgcode.engine.worker import EngineClient
from dgcode.workflows.model_engine import ModelEngine


def test_the_cached_copy_is_reported_once_with_its_size_and_place(models, tmp_path) -> None:
    said: list[str] = []
    options = EngineOptions(n_ctx=128, cache_dir=tmp_path / "cache")
    first = ModelEngine(EngineClient(models["dream"], options), said.append)
    try:
        answer = first.generate([{"role": "user", "content": "hi"}], SamplerSettings(max_tokens=8))
        assert answer.tokens <= 8
    finally:
        first.close()
    notices = [line for line in said if line.startswith("made a cached copy of dream.gguf")]
    assert len(notices) == 1 and str(tmp_path / "cache" / "aliased") in notices[0] and "MB" in notices[0]
    again: list[str] = []
    second = ModelEngine(EngineClient(models["dream"], options), again.append)
    try:
        second.count_tokens("hello")
    finally:
        second.close()
    assert again and not any(line.startswith("made a cached copy") for line in again)


def test_start_soon_loads_in_the_background_and_start_waits_for_it(models, tmp_path) -> None:
    import threading

    said = []
    engine = ModelEngine(EngineClient(models["dream"], EngineOptions(n_ctx=256, cache_dir=tmp_path)), said.append)
    try:
        engine.start_soon()
        engine.start()  # waits for the load begun above; never a second engine process
        assert engine.describe() is not None and said.count("loading model dream.gguf") == 1
        assert not [t for t in threading.enumerate() if t.name == "dgcode-engine-load" and t.is_alive()]
        assert engine.count_tokens("hello") > 0
    finally:
        engine.close()


def test_a_background_load_that_fails_fails_the_callers_start_with_its_error(tmp_path) -> None:
    import pytest

    from dgcode.engine.errors import EngineError

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    engine = ModelEngine(EngineClient(broken, EngineOptions(n_ctx=256, cache_dir=tmp_path)))
    try:
        engine.start_soon()
        with pytest.raises(EngineError):
            engine.start()
    finally:
        engine.close()
