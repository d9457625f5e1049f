"""RemoteEngine: a dgcode server as a remote engine (per-step canvas, infill), and a generic endpoint's failures.

The dgcode server is test_serve.py's real server over the tiny dream model. The
generic endpoint is a small Starlette app in this file, on a real uvicorn
server on 127.0.0.1, that answers with chosen failures (429, 503, 401, 404)
before its answer, so retries and messages are checked against real HTTP.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import test_serve as shared
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from dgcode.engine.unmasking import SamplerSettings
from dgcode.serve.launch import bind
from dgcode.workflows.remote_engine import Endpoint, RemoteEngine, RemoteError

served = shared.served
TIMEOUT = shared.TIMEOUT
SETTINGS = SamplerSettings(max_tokens=24, sub_block_size=8, stop_at_eos=False)


def test_a_dgcode_server_as_remote_engine_streams_its_canvas_and_the_same_answer(served) -> None:
    engine = RemoteEngine(Endpoint(served.base + "/v1", timeout_s=TIMEOUT))
    messages = [{"role": "user", "content": "write add"}]
    events = []
    answer = engine.generate(messages, SETTINGS, on_step=events.append)
    assert engine.dgcode_server and engine.per_step_states and engine.model == "dream.gguf"
    assert answer.tokens == 24 and answer.stop_reason == "length" and answer.steps == len(events) > 0
    assert [e.step for e in events] == list(range(1, len(events) + 1))
    last = events[-1]
    assert len(last.tokens) == 24 and not any(last.masked) and last.answer_final == 24
    assert all(0.0 <= c <= 1.0 for c in last.confidence)
    whole = httpx.post(served.base + "/v1/chat/completions", timeout=TIMEOUT, json={
        "model": "m", "messages": messages, "max_tokens": 24, "sub_block": 8, "ignore_eos": True}).json()
    assert answer.text == whole["choices"][0]["message"]["content"]  # greedy: the same answer
    assert engine.describe()["dgcode_server"] is True
    engine.close()


def test_a_step_callback_that_says_stop_cancels_the_remote_generation(served) -> None:
    engine = RemoteEngine(Endpoint(served.base + "/v1", timeout_s=TIMEOUT))
    before = shared._finished(served).get("cancelled", 0)
    seen = []
    answer = engine.generate([{"role": "user", "content": "hi"}], SamplerSettings(max_tokens=3000, stop_at_eos=False),
                             on_step=lambda event: seen.append(event) or len(seen) < 2)
    assert answer.stop_reason == "cancelled" and len(seen) == 2
    served.wait(lambda h: not h["busy"] and h["finished"].get("cancelled", 0) == before + 1, "the cancel")
    engine.close()


def test_infill_inside_the_answer_through_a_dgcode_server(served) -> None:
    engine = RemoteEngine(Endpoint(served.base + "/v1", timeout_s=TIMEOUT))
    answer = engine.generate([{"role": "user", "content": "complete f"}], SamplerSettings(max_tokens=8),
                             prefix="def f(", suffix="):\n    pass\n")
    assert 1 <= answer.tokens <= 8
    engine.close()


class Flaky:
    """A generic OpenAI-compatible endpoint that fails with ``failures`` (status codes) before answering."""

    def __init__(self, failures: list[int]):
        self.failures, self.requests = list(failures), []

    async def models(self, request: Request) -> Response:
        self.requests.append("models")
        if self.failures:
            status = self.failures.pop(0)
            headers = {"Retry-After": "0"} if status == 429 else {}
            return JSONResponse({"error": {"message": f"failure {status}"}}, status, headers=headers)
        return JSONResponse({"object": "list", "data": [{"id": "remote-llada", "object": "model"}]})

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(("chat", body))

        async def events():
            for piece in ("hello", " world"):
                yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': piece}}]})}\n\n"
            done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(done)}\n\n"
            yield f"data: {json.dumps({'choices': [], 'usage': {'completion_tokens': 2}})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


@pytest.fixture
def flaky():
    servers = []

    def start(failures: list[int]) -> tuple[Flaky, str]:
        endpoint = Flaky(failures)
        app = Starlette(routes=[Route("/v1/models", endpoint.models), Route("/v1/chat/completions", endpoint.chat,
                                                                            methods=["POST"])])
        sock = bind("127.0.0.1", 0)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        servers.append((server, thread, sock))
        return endpoint, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    yield start
    for server, thread, sock in servers:
        server.should_exit = True
        thread.join(TIMEOUT)
        sock.close()


def test_429_and_503_are_retried_with_backoff_then_the_answer_streams(flaky) -> None:
    endpoint, url = flaky([429, 503])
    waits = []
    engine = RemoteEngine(Endpoint(url, retries=3, backoff_s=0.01), sleep=waits.append)
    answer = engine.generate([{"role": "user", "content": "hi"}], SETTINGS)
    assert answer.text == "hello world" and answer.tokens == 2 and answer.stop_reason == "eos"
    assert waits == [0.0, 0.02]  # Retry-After: 0 for the 429, then the backoff's second step
    assert not engine.per_step_states and engine.model == "remote-llada"
    (_, body), = [r for r in endpoint.requests if r != "models"]
    assert "dgcode_canvas" not in body and "threshold" not in body  # a generic endpoint gets standard fields
    engine.close()


@pytest.mark.parametrize("failures, message", [
    ([401], "refused the request (HTTP 401): failure 401; check the API key"),
    ([404], "was not found (HTTP 404): failure 404; check the endpoint URL"),
    ([429, 429, 429], "is overloaded (HTTP 429) after 3 tries"),
])
def test_failures_get_a_sentence_saying_what_to_do(flaky, failures, message) -> None:
    _, url = flaky(failures)
    engine = RemoteEngine(Endpoint(url, retries=2, backoff_s=0.001), sleep=lambda _s: None)
    with pytest.raises(RemoteError, match=message.replace("(", r"\(").replace(")", r"\)")):
        engine.start()
    engine.close()


def test_a_generic_endpoint_cannot_infill_and_says_so(flaky) -> None:
    _, url = flaky([])
    engine = RemoteEngine(Endpoint(url))
    with pytest.raises(RemoteError, match="is not a dgcode server, so it cannot fill a span"):
        engine.generate([{"role": "user", "content": "x"}], SETTINGS, prefix="a", suffix="b")
    engine.close()


def test_an_unknown_model_and_an_unreachable_endpoint(flaky) -> None:
    _, url = flaky([])
    with pytest.raises(RemoteError, match="does not serve 'nope'; it serves: remote-llada"):
        RemoteEngine(Endpoint(url, model="nope")).start()
    waits = []
    with pytest.raises(RemoteError, match="cannot reach http://127.0.0.1:9/v1/models .* after 3 tries"):
        RemoteEngine(Endpoint("http://127.0.0.1:9/v1", retries=2, backoff_s=0.01), sleep=waits.append).start()
    assert waits == [0.01, 0.02]


def test_the_tui_and_config_use_a_configured_endpoint(served, tmp_path, monkeypatch) -> None:
    from dgcode.config import load_config
    from dgcode.tui.engine import engine_for
    from dgcode.workflows.model import remote_endpoint

    flags = {"endpoint": served.base + "/v1", "endpoint_api_key_env": "DGCODE_TEST_KEY", "remote_model": "dream.gguf"}
    config = load_config(tmp_path, flags=flags, env={}, user_file=tmp_path / "none.toml")
    with pytest.raises(RemoteError, match="endpoint_api_key_env names DGCODE_TEST_KEY, which is not set"):
        remote_endpoint(config)
    monkeypatch.setenv("DGCODE_TEST_KEY", "k")
    engine = engine_for(config)
    assert isinstance(engine, RemoteEngine) and engine.endpoint.api_key == "k"
    engine.start(lambda _m: None)
    assert engine.name == f"dream.gguf @ {served.base}/v1" and engine.describe()["backend"] == "remote, live canvas"
    engine.close()


def test_a_repository_endpoint_needs_trust(tmp_path) -> None:
    from dgcode.config import load_config

    (tmp_path / ".dgcode.toml").write_text('endpoint = "http://attacker.example/v1"\n')
    config = load_config(tmp_path, env={}, user_file=tmp_path / "none.toml")
    assert config.get("endpoint") is None  # code is never sent to a server a cloned repository names
    assert "endpoint" in config.untrusted.values


def test_fix_runs_on_a_configured_endpoint(served, tmp_path) -> None:
    import os
    import subprocess
    import sys

    from repo_helpers import git

    git(tmp_path, "init", "-q")
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "init")
    before = sum(shared._finished(served).values())
    env = {**os.environ, "DGCODE_ENDPOINT": served.base + "/v1", "DGCODE_MAX_TOKENS": "16"}
    done = subprocess.run([sys.executable, "-m", "dgcode", "fix", "m.py", "-m", "return 2", "--yes", "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout)
    assert report["rounds"] and report["rounds"][0]["generation"]["tokens"] >= 1, report
    assert sum(shared._finished(served).values()) == before + len(report["rounds"])  # every answer: the server's
    assert (tmp_path / "m.py").read_text() == "def f():\n    return 1\n" or report["status"] == "fixed"


def test_fix_takes_the_endpoint_as_flags(served, tmp_path) -> None:
    import os
    import subprocess
    import sys

    from repo_helpers import git

    git(tmp_path, "init", "-q")
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "init")
    before = sum(shared._finished(served).values())
    env = {**os.environ, "DGCODE_MAX_TOKENS": "8", "DGCODE_FIX_ROUNDS": "1", "TEAM_KEY": "unused"}
    done = subprocess.run([sys.executable, "-m", "dgcode", "fix", "m.py", "-m", "return 2", "--yes", "--json",
                           "--endpoint", served.base + "/v1", "--api-key-env", "TEAM_KEY", "--remote-model",
                           "dream.gguf"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(done.stdout)["rounds"], done.stderr
    assert sum(shared._finished(served).values()) == before + 1
    wrong = subprocess.run([sys.executable, "-m", "dgcode", "fix", "m.py", "-m", "x", "--yes", "--endpoint",
                            served.base + "/v1", "--remote-model", "nope"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode != 0 and "does not serve 'nope'; it serves: dream.gguf" in wrong.stdout + wrong.stderr
