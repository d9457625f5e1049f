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
