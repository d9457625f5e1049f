"""`dgcode serve`: a real server on 127.0.0.1 (uvicorn in a thread, a free port) over the tiny dream model.

The model's weights are random, so answers are random tokens: the tests check
shapes, event order, usage counts and status codes, never the text.  Every
call is bounded by a client timeout; clients never retry.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest
import typer
import uvicorn
from typer.testing import CliRunner

from dgcode.config import load_config
from dgcode.serve import create_app, open_service
from dgcode.serve.launch import bind

TIMEOUT = 30.0
LONG = {"max_tokens": 3000, "ignore_eos": True}  # thousands of steps: long enough to interrupt


class Served:
    """A uvicorn server in a thread, serving one ModelService on a free loopback port."""

    def __init__(self, service, api_key: str | None = None):
        self.service = service
        self.sock = bind("127.0.0.1", 0)
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(service, api_key), log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.02)

    def client(self, key: str = "none") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base + "/v1", api_key=key, timeout=TIMEOUT, max_retries=0)

    def health(self) -> dict:
        return httpx.get(self.base + "/health", timeout=TIMEOUT).json()

    def wait(self, predicate, what: str, limit: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + limit
        while True:
            health = self.health()
            if predicate(health):
                return health
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {health}"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(TIMEOUT)
        self.sock.close()


def _config(tmp_path, model, **flags):
    return load_config(tmp_path, flags={"model": str(model), "threads": 1, **flags}, env={},
                       user_file=tmp_path / "no-user-config.toml")


@pytest.fixture(scope="module")
def served(models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    service = open_service(_config(folder, models["dream"]))
    served = Served(service)
    try:
        yield served
    finally:
        served.stop()
        service.close()


def _finished(served) -> dict:
    return served.health()["finished"]


def test_models_lists_the_served_model_and_health_says_idle(served) -> None:
    listed = served.client().models.list()
    assert [m.id for m in listed.data] == ["dream.gguf"]
    health = served.health()
    assert health["model"] == "dream.gguf" and health["loaded"] is True
    assert health["busy"] is False and health["queue"] == 0


def test_chat_whole_answer_with_usage(served) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    answer = served.client().chat.completions.create(model="anything", messages=messages, max_tokens=16,
                                                     extra_body={"threshold": 0.5, "sub_block": 8})
    assert answer.object == "chat.completion" and answer.model == "dream.gguf"
    (choice,) = answer.choices
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert answer.usage.prompt_tokens > len("be brief") + len("hello")  # the chat template's tokens too
    assert 1 <= answer.usage.completion_tokens <= 16
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert choice.finish_reason == "stop" or answer.usage.completion_tokens == 16


def test_chat_stream_event_by_event(served) -> None:
    stream = served.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=48, stream=True,
        stream_options={"include_usage": True}, extra_body={"ignore_eos": True, "sub_block": 16})
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.model == "dream.gguf" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    first, *middle, finish, usage = chunks
    assert first.choices[0].delta.role == "assistant" and not first.choices[0].delta.content
    assert middle and all(c.choices[0].delta.content and c.choices[0].finish_reason is None for c in middle)
    assert finish.choices[0].finish_reason == "length" and not finish.choices[0].delta.content
    assert usage.choices == [] and usage.usage.completion_tokens == 48 and usage.usage.prompt_tokens > 2
    assert finish.usage.completion_tokens == 48


def test_chat_stream_raw_events_end_with_done(served) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 24, "stream": True,
            "ignore_eos": True, "seed": 3, "temperature": 0.7, "top_p": 0.9}
    with httpx.stream("POST", served.base + "/v1/chat/completions", json=body, timeout=TIMEOUT) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        data = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    events = [json.loads(d) for d in data[:-1]]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[-1]["choices"][0]["finish_reason"] == "length" and events[-1]["usage"]["completion_tokens"] == 24
    assert all(e["choices"][0]["finish_reason"] is None for e in events[:-1])


def test_completions_whole_and_streamed(served) -> None:
    client = served.client()
    whole = client.completions.create(model="m", prompt="def add(a, b):", max_tokens=12,
                                      extra_body={"ignore_eos": True})
    assert whole.object == "text_completion" and whole.choices[0].finish_reason == "length"
    assert whole.usage.completion_tokens == 12 and whole.usage.prompt_tokens >= 5
    chunks = list(client.completions.create(model="m", prompt="def add(a, b):", max_tokens=12, stream=True,
                                            extra_body={"ignore_eos": True}))
    assert chunks[-1].choices[0].finish_reason == "length" and chunks[-1].usage.completion_tokens == 12
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text  # seed 0, greedy: the same
    infill = client.completions.create(model="m", prompt="x = ", suffix="\nprint(x)\n", max_tokens=8)
    assert 1 <= infill.usage.completion_tokens <= 8


def test_stop_sequence_ends_the_answer(served) -> None:
    client = served.client()
    first = client.completions.create(model="m", prompt="abc", max_tokens=40, extra_body={"ignore_eos": True})
    text = first.choices[0].text
    if len(text) < 8:
        pytest.skip("the random model's answer is too short to pick a stop sequence from")
    stop = text[5:7]
    cut = client.completions.create(model="m", prompt="abc", max_tokens=40, stop=[stop],
                                    extra_body={"ignore_eos": True})
    assert cut.choices[0].finish_reason == "stop" and cut.choices[0].text == text[:text.find(stop)]


def test_a_prompt_larger_than_the_context_is_a_400_with_the_engines_message(served) -> None:
    huge = " ".join(str(i) for i in range(6000))
    with pytest.raises(openai.BadRequestError) as caught:
        served.client().chat.completions.create(model="m", messages=[{"role": "user", "content": huge}])
    assert caught.value.status_code == 400
    assert "the context holds 4096" in caught.value.message and "prompt of" in caught.value.message
    assert caught.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):  # streaming too: the error comes before the stream begins
        served.client().completions.create(model="m", prompt=huge, stream=True)


@pytest.mark.parametrize(("body", "field"), [
    ({"messages": "hi"}, "messages"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "hi"}], "threshold": 2}, "threshold"),
    ({"messages": [{"role": "user", "content": "hi"}], "algorithm": "guess"}, "algorithm"),
    ({"messages": [{"role": "user", "content": "hi"}], "n": 3}, "n"),
])
def test_a_malformed_body_is_a_400_naming_the_field(served, body, field) -> None:
    response = httpx.post(served.base + "/v1/chat/completions", json=body, timeout=TIMEOUT)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == field and field.split("[")[0] in error["message"]


def test_not_json_and_settings_that_do_not_fit_are_400s(served) -> None:
    response = httpx.post(served.base + "/v1/completions", content=b"{nope", timeout=TIMEOUT)
    assert response.status_code == 400 and "JSON" in response.json()["error"]["message"]
    response = httpx.post(served.base + "/v1/completions", json={"prompt": "x", "schedule": "block"},
                          timeout=TIMEOUT)
    assert response.status_code == 400 and "steps" in response.json()["error"]["message"]
    assert httpx.post(served.base + "/v1/completions", json={"max_tokens": 3}, timeout=TIMEOUT).json()[
        "error"]["param"] == "prompt"


def test_a_client_that_disconnects_mid_stream_cancels_its_generation(served) -> None:
    before = _finished(served).get("cancelled", 0)
    stream = served.client().chat.completions.create(model="m", messages=[{"role": "user", "content": "go"}],
                                                     stream=True, extra_body=LONG)
    first = next(iter(stream))  # sent once the first denoising step ran
    assert first.choices[0].delta.role == "assistant"
    assert served.health()["busy"] is True
    stream.close()
    closed = time.monotonic()
    served.wait(lambda h: not h["busy"], "the engine to stop", limit=5)
    assert time.monotonic() - closed < 5
    assert _finished(served).get("cancelled", 0) == before + 1
    began = time.monotonic()
    answer = served.client().completions.create(model="m", prompt="next", max_tokens=8)
    assert answer.usage.completion_tokens <= 8 and time.monotonic() - began < 10


def test_requests_queue_one_at_a_time_and_a_waiting_client_can_leave(served) -> None:
    results: dict[str, object] = {}

    def long_request() -> None:
        try:
            results["long"] = served.client().completions.create(model="m", prompt="a", **{"max_tokens": 600},
                                                                 extra_body={"ignore_eos": True})
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            results["long"] = exc

    first = threading.Thread(target=long_request)
    first.start()
    served.wait(lambda h: h["busy"], "the first request to start")
    body = json.dumps({"prompt": "b", "max_tokens": 8, "stream": True}).encode()
    host, port = served.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as waiting:  # no answer before its turn
        waiting.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        served.wait(lambda h: h["queue"] == 1, "the second request to wait")
    served.wait(lambda h: h["queue"] == 0, "the waiting client to leave the queue")
    first.join(TIMEOUT)
    assert not first.is_alive() and results["long"].usage.completion_tokens == 600


def test_killing_the_engine_mid_request_is_a_500_and_the_next_request_gets_a_fresh_engine(served) -> None:
    outcome: dict[str, object] = {}

    def request() -> None:
        try:
            outcome["answer"] = served.client().chat.completions.create(
                model="m", messages=[{"role": "user", "content": "long"}], extra_body=LONG)
        except Exception as exc:  # noqa: BLE001 (checked below)
            outcome["error"] = exc

    thread = threading.Thread(target=request)
    thread.start()
    served.wait(lambda h: h["busy"], "the request to start")
    client = served.service.engine.client
    deadline = time.monotonic() + TIMEOUT
    while client._process is None or not client._process.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    old_pid = client._process.pid
    os.kill(old_pid, signal.SIGKILL)
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    error = outcome.get("error")
    assert isinstance(error, openai.InternalServerError) and error.status_code == 500, outcome
    assert "killed by SIGKILL" in error.message
    answer = served.client().chat.completions.create(model="m", messages=[{"role": "user", "content": "again"}],
                                                     max_tokens=8)
    assert answer.usage.completion_tokens <= 8
    assert client._process.pid != old_pid


def test_with_an_api_key_every_v1_request_needs_it(models, tmp_path) -> None:
    service = open_service(_config(tmp_path, models["dream"]))
    served = Served(service, api_key="s3cret")
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            served.client("wrong").models.list()
        assert caught.value.status_code == 401 and "Bearer" in caught.value.message
        assert httpx.post(served.base + "/v1/completions", json={"prompt": "x"}, timeout=TIMEOUT).status_code == 401
        assert [m.id for m in served.client("s3cret").models.list().data] == ["dream.gguf"]
        answer = served.client("s3cret").completions.create(model="m", prompt="x", max_tokens=4)
        assert answer.usage.completion_tokens <= 4
        assert served.health()["model"] == "dream.gguf"  # /health is outside /v1
    finally:
        served.stop()
        service.close()


def _cli() -> typer.Typer:
    from dgcode.cli.serve import register

    app = typer.Typer(add_completion=False)

    @app.callback()
    def main() -> None:
        """dgcode (test app)."""

    register(app)
    return app


def test_cli_refuses_a_non_loopback_address_without_a_key(models, monkeypatch) -> None:
    monkeypatch.delenv("DGCODE_SERVE_API_KEY", raising=False)
    result = CliRunner().invoke(_cli(), ["serve", "--model", str(models["dream"]), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without an API key" in result.output


def test_cli_refuses_the_embedded_repair_model(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("DGCODE_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(_cli(), ["serve"])
    assert result.exit_code == 2 and "not a chat model" in result.output
    from dgcode.repair.embedded import embedded_model

    if embedded_model() is not None:
        result = CliRunner().invoke(_cli(), ["serve", "--model", str(embedded_model())])
        assert result.exit_code == 2 and "is a repair model" in result.output


def test_cli_help_shows_how_to_point_coding_tools_at_it() -> None:
    result = CliRunner().invoke(_cli(), ["serve", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for needle in ("OPENAI_API_BASE", "baseURL", "apiBase", "[model_providers.dgcode]", "Aider", "OpenCode",
                   "Continue", "Codex"):
        assert needle in result.output


def test_the_command_serves_until_interrupted(models, tmp_path) -> None:
    script = ("import typer, sys; from dgcode.cli.serve import register; app = typer.Typer(); "
              "app.callback()(lambda: None); register(app); app()")
    env = {**os.environ, "DGCODE_THREADS": "1"}
    env.pop("DGCODE_SERVE_API_KEY", None)
    proc = subprocess.Popen([sys.executable, "-c", script, "serve", "--model", str(models["dream"]), "--port", "0"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "the server exited"
            found = re.search(r"serving dream\.gguf at (http://127\.0\.0\.1:\d+/v1)", line)
            url = found.group(1) if found else None
        assert url, "the server did not say where it listens"
        client = openai.OpenAI(base_url=url, api_key="x", timeout=TIMEOUT, max_retries=0)
        assert client.completions.create(model="m", prompt="x", max_tokens=4).usage.completion_tokens <= 4
        proc.send_signal(signal.SIGINT)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
        proc.stderr.close()


from test_model_api import REGISTRY  # noqa: E402  (the same fake pulled model as the model API tests)


def test_a_pulled_registry_name_is_served_with_the_registrys_sampler(models, test_ids, tmp_path, monkeypatch) -> None:
    import shutil

    from dgcode.models.registry import load_registry
    from dgcode.models.store import local_path
    from dgcode.serve.protocol import sampling

    (tmp_path / "registry.toml").write_text(REGISTRY.format(mask=test_ids["eos"] - 1))
    monkeypatch.setenv("DGCODE_REGISTRY", str(tmp_path / "registry.toml"))
    monkeypatch.setenv("DGCODE_DATA_DIR", str(tmp_path / "data"))
    target = local_path(load_registry().find("tiny-block"))
    target.parent.mkdir(parents=True)
    shutil.copy(models["qwen2-no-mask"], target)  # only the registry knows its mask token
    service = open_service(_config(tmp_path, "tiny-block"))
    served = Served(service)
    try:
        defaults = service.settings(sampling({}))
        assert (defaults.algorithm, defaults.threshold, defaults.sub_block_size) == ("margin", 0.55, 16)
        asked = service.settings(sampling({"threshold": 0.7, "sub_block": 8, "max_tokens": 20, "seed": 4}))
        assert (asked.algorithm, asked.threshold, asked.sub_block_size, asked.max_tokens, asked.seed) == \
            ("margin", 0.7, 8, 20, 4)
        client = served.client()
        assert [m.id for m in client.models.list().data] == ["tiny-block"]
        answer = client.chat.completions.create(model="tiny-block", messages=[{"role": "user", "content": "hi"}],
                                                max_tokens=8)
        assert answer.model == "tiny-block" and answer.usage.completion_tokens <= 8
    finally:
        served.stop()
        service.close()
