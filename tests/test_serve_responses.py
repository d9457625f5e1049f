"""`POST /v1/responses` (the Responses API Codex CLI speaks) on a real server over the tiny dream model.

The server, the client and the model come from test_serve.py. Answers are
random tokens: the tests check the response object, the event order and
numbering, usage and status codes, and that streamed and whole answers agree.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest
import test_serve as shared

TIMEOUT = shared.TIMEOUT
served = shared.served


def test_a_whole_response_with_usage_and_output_text(served) -> None:
    answer = served.client().responses.create(model="m", instructions="be brief", input="hello",
                                              max_output_tokens=16, extra_body={"threshold": 0.5})
    assert answer.object == "response" and answer.model == "dream.gguf" and answer.id.startswith("resp_")
    assert answer.status in ("completed", "incomplete")
    (item,) = answer.output
    assert item.type == "message" and item.role == "assistant"
    (part,) = item.content
    assert part.type == "output_text" and answer.output_text == part.text
    assert answer.usage.input_tokens > len("be brief") + len("hello")  # the chat template's tokens too
    assert 1 <= answer.usage.output_tokens <= 16
    assert answer.usage.total_tokens == answer.usage.input_tokens + answer.usage.output_tokens
    if answer.status == "incomplete":
        assert answer.incomplete_details.reason == "max_output_tokens" and answer.usage.output_tokens == 16


def test_message_items_and_the_budget_running_out(served) -> None:
    items = [{"role": "developer", "content": "answer in code"},
             {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "add two numbers"}]},
             {"role": "assistant", "content": [{"type": "output_text", "text": "def add(a, b):"}]},
             {"role": "user", "content": "and subtract"}]
    answer = served.client().responses.create(model="m", input=items, max_output_tokens=12,
                                              extra_body={"ignore_eos": True})
    assert answer.status == "incomplete" and answer.incomplete_details.reason == "max_output_tokens"
    assert answer.usage.output_tokens == 12


def test_the_stream_event_by_event_matches_the_whole_answer(served) -> None:
    client = served.client()
    asked = {"model": "m", "input": "def add(a, b):", "max_output_tokens": 32, "extra_body": {"ignore_eos": True}}
    whole = client.responses.create(**asked)
    events = list(client.responses.create(stream=True, **asked))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.incomplete"]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert deltas and set(kinds[4:-4]) == {"response.output_text.delta"}
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(d.delta for d in deltas)
    assert text == events[-4].text == whole.output_text  # greedy, seed 0: the same answer
    final = events[-1].response
    assert final.status == "incomplete" and final.usage.output_tokens == 32 and final.output_text == text
    assert len({e.response.id for e in events if hasattr(e, "response")}) == 1


def test_raw_stream_names_each_event_and_has_no_done(served) -> None:
    body = {"model": "m", "input": "hi", "max_output_tokens": 8, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", served.base + "/v1/responses", json=body, timeout=TIMEOUT) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    names = [line[len("event: "):] for line in lines if line.startswith("event: ")]
    data = [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: ")]
    assert names == [d["type"] for d in data] and "[DONE]" not in "".join(lines)
    assert data[-1]["type"] == "response.incomplete"


@pytest.mark.parametrize("body, field", [
    ({"model": "m"}, "input"),
    ({"model": "m", "input": ""}, "input"),
    ({"model": "m", "input": [{"role": "wizard", "content": "x"}]}, "input[0].role"),
    ({"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": "1"}]},
     "input[0].type"),  # a tool output needs tools offered
    ({"model": "m", "input": [{"type": "reasoning", "summary": []}]}, "input[0].type"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
     "input[0].content[0]"),
    ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "m", "input": "x", "instructions": 3}, "instructions"),
    # the tiny model's (fallback) chat template has no tools section: it cannot take tools
    ({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f", "parameters": {}}]}, "tools"),
    ({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}],
      "tool_choice": {"type": "function", "name": "g"}}, "tool_choice"),
    ({"model": "m", "input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
])
def test_what_serve_cannot_do_is_a_400_naming_the_field(served, body, field) -> None:
    response = httpx.post(served.base + "/v1/responses", json=body, timeout=TIMEOUT)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


def test_a_prompt_larger_than_the_context_is_a_400(served) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        served.client().responses.create(model="m", input="word " * 5000, max_output_tokens=8)
    assert caught.value.body["code"] == "context_length_exceeded"


def test_chat_with_tools_is_a_400_for_a_template_without_tools_unless_tool_choice_is_none(served) -> None:
    """The tiny model has no chat template of its own; the ChatML fallback ignores tools (test_serve_tools.py
    has a model whose template renders them)."""
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    messages = [{"role": "user", "content": "hi"}]
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as caught:
            served.client().chat.completions.create(model="m", messages=messages, tools=tools, max_tokens=4,
                                                    stream=stream)
        assert caught.value.body["param"] == "tools"
        assert "chat template cannot take tools" in caught.value.body["message"]
    answer = served.client().chat.completions.create(model="m", messages=messages, tools=tools, tool_choice="none",
                                                     max_tokens=4)
    assert answer.choices[0].message.tool_calls is None


def _canvas_positions(states: list[dict]) -> list[tuple[int, int]]:
    return [(state["canvas"], position) for state in states for position in state["committed"]]


def test_the_canvas_extension_streams_every_step_on_opt_in_only(served) -> None:
    client = served.client()
    asked = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 32, "stream": True}
    plain = list(client.chat.completions.create(**asked, extra_body={"ignore_eos": True, "sub_block": 16}))
    assert not any(getattr(c, "dgcode_canvas", None) for c in plain)
    chunks = list(client.chat.completions.create(**asked, extra_body={"ignore_eos": True, "sub_block": 16,
                                                                      "dgcode_canvas": True}))
    states = [c.dgcode_canvas for c in chunks if getattr(c, "dgcode_canvas", None)]
    assert states and all(c.choices == [] for c in chunks if getattr(c, "dgcode_canvas", None))
    assert [s["step"] for s in states] == list(range(1, len(states) + 1))  # every step, in order
    committed = _canvas_positions(states)
    assert sorted(committed) == [(0, p) for p in range(32)]  # each answer position committed exactly once
    assert all(0.0 <= c <= 1.0 for s in states for c in s["confidences"])
    assert all(len(s["tokens"]) == len(s["texts"]) == len(s["confidences"]) == len(s["committed"]) for s in states)
    assert states[0]["length"] == 32 and states[0]["masked"] == 32 - len(states[0]["committed"])
    assert states[-1]["masked"] == 0 and states[-1]["answer_final"] == 32
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(c.choices[0].delta.content or "" for c in plain if c.choices)  # same answer


def test_the_canvas_extension_on_the_responses_stream(served) -> None:
    body = {"model": "m", "input": "hi", "max_output_tokens": 16, "stream": True, "ignore_eos": True,
            "sub_block": 8, "dgcode_canvas": True}
    with httpx.stream("POST", served.base + "/v1/responses", json=body, timeout=TIMEOUT) as response:
        data = [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]
    states = [d["canvas"] for d in data if d["type"] == "dgcode.canvas"]
    assert sorted(_canvas_positions(states)) == [(0, p) for p in range(16)]
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    assert data[-1]["type"] == "response.incomplete"
