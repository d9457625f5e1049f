"""The status line: the last answer's tok/s, tok/step, time to the first canvas and prompt tokens reused from the
cache; the pure formatter, then the app after an answer from the scripted engine."""

from __future__ import annotations

from dataclasses import replace

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from tui_fakes import Script, ScriptedEngine, two_file_repo
from tui_pilot import run, submit, until

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.status import AnswerStats, format_status

SETTINGS = SamplerSettings(max_tokens=64, sub_block_size=8, canvas_size=32)


def test_format_status_writes_every_measure():
    stats = AnswerStats(tokens=120, steps=40, wall_s=3.0, first_canvas_s=0.4213, reused_tokens=1204,
                        prompt_tokens=1500, done=True)
    assert format_status(stats) == "40.0 tokens/s · 3.0 tokens/step · first canvas 0.42 s · prompt 1,204/1,500 cached"


def test_format_status_while_answering_and_without_a_canvas():
    assert format_status(None) == ""
    assert format_status(AnswerStats(first_canvas_s=1.5, steps=3)) == "answering · first canvas 1.50 s"
    text_only = AnswerStats(tokens=10, steps=0, wall_s=2.0, reused_tokens=0, done=True)
    assert format_status(text_only) == "5.0 tokens/s · no canvas (text only) · prompt 0 cached"
    assert "tokens/s" not in format_status(AnswerStats(tokens=10, wall_s=0.0, done=True))


class ReusingEngine(ScriptedEngine):
    """A scripted engine whose answers say how many prompt tokens came from its cache."""

    def generate(self, *args, **kwargs):
        return replace(super().generate(*args, **kwargs), reused_tokens=12)


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


def test_the_status_line_shows_the_last_answers_speed_and_reuse(repo):
    from dgcode.tui.app import DgcodeApp

    engine = ReusingEngine(Script("Use a constant: `LIMIT = 10`, then compare against it."), delay=0.003)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            line = app.main.status_line
            assert not line.display, "hidden before any answer"
            await submit(pilot, "add a limit")
            await until(pilot, lambda: not app.main.answering and line.stats is not None and line.stats.done,
                        what="the answer")
            await pilot.pause()
            stats = line.stats
            assert line.display
            assert stats.tokens > 0 and stats.steps > 0 and stats.first_canvas_s is not None
            assert 0 < stats.first_canvas_s < 10
            text = line.line
            assert f"{stats.tokens / stats.wall_s:.1f} tokens/s" in text
            assert f"{stats.tokens / stats.steps:.1f} tokens/step" in text
            assert f"first canvas {stats.first_canvas_s:.2f} s" in text
            assert f"prompt 12/{stats.prompt_tokens:,} cached" in text
            assert stats.prompt_tokens and stats.prompt_tokens > 0

    run(scenario)


class Streamed:
    """An HTTP response standing in for an OpenAI-compatible stream."""

    def __init__(self, chunks):
        self.chunks = chunks

    def iter_lines(self):
        import json

        yield from (f"data: {json.dumps(chunk)}" for chunk in self.chunks)
        yield "data: [DONE]"

    def close(self):
        pass


@pytest.mark.parametrize("usage, reused", [
    ({"completion_tokens": 2, "prompt_tokens": 50, "prompt_tokens_details": {"cached_tokens": 32}}, 32),
    ({"completion_tokens": 2, "prompt_tokens": 50}, 0),
    ({"completion_tokens": 2, "prompt_tokens_details": None}, 0),
])
def test_a_remote_answer_carries_the_endpoints_cached_prompt_tokens(usage, reused):
    from dgcode.workflows.remote_engine import Endpoint, RemoteEngine

    engine = RemoteEngine(Endpoint("http://127.0.0.1:9/v1", model="m"))
    engine.start = lambda say=None: None
    engine.dgcode_server = False
    chunks = [{"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]},
              {"choices": [], "usage": usage}]
    engine._request = lambda *args, **kwargs: Streamed(chunks)
    answer = engine.generate([{"role": "user", "content": "hi"}], SETTINGS)
    assert answer.text == "hi" and answer.tokens == 2 and answer.reused_tokens == reused
    engine.close()
