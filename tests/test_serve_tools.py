"""Tool calls in `dgcode serve`: the template renders `tools`, the answer's `<tool_call>` blocks become `tool_calls`.

Three layers: the parser on handwritten answers; the wire format end to end
through a real server whose engine is a scripted stand-in (the random-weight
model never writes a `<tool_call>`, and this is a protocol test, not an engine
test), read back by the `openai` client; and the real tiny model, whose
template decides whether tools are accepted at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import openai
import pytest
import test_serve as shared

from dgcode.engine.chat import render_chat
from dgcode.engine.errors import InvalidSettingsError
from dgcode.engine.sampler import StepEvent
from dgcode.engine.synthetic import write_synthetic_gguf
from dgcode.serve import ModelService, open_service
from dgcode.serve.tool_calls import ToolOffer, parse_answer
from dgcode.workflows.model import ModelChoice

TIMEOUT = shared.TIMEOUT
served = shared.served  # the default tiny model: no chat template of its own

QWEN_TEMPLATE = """\
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\
\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) \
or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""
"""A small Qwen2.5-style template (what Dream's GGUFs carry): a tools section, tool calls and tool results."""

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
TOOLS = [WEATHER, TIME]
FLAT_TOOLS = [{"type": "function", "name": t["function"]["name"], "parameters": t["function"]["parameters"]}
              for t in TOOLS]
OFFER = ToolOffer(TOOLS)
PARIS = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
CLOCK = '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'


# --- the parser -------------------------------------------------------------------------------------------


def test_one_call() -> None:
    answer = parse_answer(PARIS, OFFER)
    (call,) = answer.calls
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert call.id.startswith("call_") and len(call.id) > len("call_")
    assert answer.content is None and answer.errors == () and answer.finish_reason("stop") == "tool_calls"
    assert call.to_chat() == {"id": call.id, "type": "function",
                              "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


def test_two_calls_and_text_around_them() -> None:
    answer = parse_answer(f"Let me check.\n{PARIS}\n{CLOCK}\n", OFFER)
    assert [c.name for c in answer.calls] == ["get_weather", "get_time"]
    assert len({c.id for c in answer.calls}) == 2
    assert answer.content == "Let me check." and answer.errors == ()


def test_arguments_as_json_text_and_missing_arguments() -> None:
    text = ('<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}</tool_call>'
            '<tool_call>{"name": "get_time"}</tool_call>')
    first, second = parse_answer(text, OFFER).calls
    assert json.loads(first.arguments) == {"city": "Rome"} and second.arguments == "{}"


def test_a_plain_answer_is_its_text() -> None:
    answer = parse_answer("  It is sunny.  ", OFFER)
    assert answer.content == "  It is sunny.  " and answer.calls == () and answer.errors == ()
    assert answer.finish_reason("stop") == "stop"


def test_malformed_json_is_kept_as_content_with_an_error() -> None:
    bad = '<tool_call>\n{"name": "get_weather", "arguments": {"city": }\n</tool_call>'
    answer = parse_answer(f"Sure. {bad}", OFFER)
    assert answer.calls == () and answer.content == f"Sure. {bad}"  # nothing dropped
    (error,) = answer.errors
    assert "tool call 1 is not valid JSON" in error and answer.finish_reason("stop") == "stop"


def test_an_unknown_function_is_kept_as_content_next_to_a_good_call() -> None:
    unknown = '<tool_call>\n{"name": "launch_rockets", "arguments": {}}\n</tool_call>'
    answer = parse_answer(f"{PARIS}\n{unknown}", OFFER)
    assert [c.name for c in answer.calls] == ["get_weather"] and answer.content == unknown
    (error,) = answer.errors
    assert "'launch_rockets', which the request did not offer (offered: get_weather, get_time)" in error
    assert answer.finish_reason("stop") == "tool_calls"


def test_an_unclosed_block_parses_if_its_json_is_whole_else_it_is_an_error() -> None:
    assert [c.name for c in parse_answer(PARIS.removesuffix("</tool_call>"), OFFER).calls] == ["get_weather"]
    cut = '<tool_call>\n{"name": "get_weather", "argu'
    answer = parse_answer(cut, OFFER)
    assert answer.calls == () and answer.content == cut and "is not closed" in answer.errors[0]


def test_tool_choice_required_and_named() -> None:
    required = parse_answer("No tools needed.", ToolOffer(TOOLS, "required"))
    assert required.content == "No tools needed." and "asks for a tool call" in required.errors[0]
    named = ToolOffer(TOOLS, "function", "get_time")
    other = parse_answer(PARIS, named)
    assert other.calls == () and other.content == PARIS
    assert "tool_choice allows only 'get_time'" in other.errors[0] and "a call to 'get_time'" in other.errors[1]
    assert [c.name for c in parse_answer(CLOCK, named).calls] == ["get_time"]


# --- rendering --------------------------------------------------------------------------------------------


CONVERSATION = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
]


def test_a_template_with_a_tools_section_renders_tools_calls_and_results() -> None:
    prompt = render_chat(CONVERSATION, template=QWEN_TEMPLATE, architecture="dream", tools=TOOLS)
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather"' in prompt
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert "<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert "<tools>" not in render_chat(CONVERSATION, template=QWEN_TEMPLATE, architecture="dream")


def test_a_template_that_ignores_tools_is_refused() -> None:
    with pytest.raises(InvalidSettingsError, match="chat template cannot take tools"):
        render_chat(CONVERSATION[:1], template=None, architecture="dream", tools=TOOLS)  # the ChatML fallback
    ignoring = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(InvalidSettingsError, match="renders the same prompt with and without them"):
        render_chat(CONVERSATION[:1], template=ignoring, architecture="dream", tools=TOOLS)


# --- the wire format, with a scripted engine --------------------------------------------------------------


class ScriptedClient:
    """The EngineClient surface ModelService uses: ``call`` (RenderChat) and ``generate``, with a fixed answer."""

    def __init__(self, template: str):
        self.answer = ""
        self.prompts: list[str] = []
        info = SimpleNamespace(chat_template=template, architecture="dream", bos_token_id=None)
        self.process = SimpleNamespace(  # what RenderChat reads of the engine in its process
            info=info, special=SimpleNamespace(eos=None), model=SimpleNamespace(token_text=lambda _t: ""),
            chat_prompt=lambda messages, tools=None: render_chat(messages, template=template, architecture="dream",
                                                                 tools=tools))

    def call(self, func):
        return func(self.process)

    def generate(self, prompt: str, settings, on_step, suffix=None):
        self.prompts.append(prompt)
        pieces = [self.answer[i:i + 7] for i in range(0, len(self.answer), 7)]  # a few "tokens"
        for step in range(1, len(pieces) + 1):  # one position final per step
            event = StepEvent(step=step, canvas_index=0, active=(0, len(pieces)), tokens=list(range(len(pieces))),
                              texts=[p if i < step else "" for i, p in enumerate(pieces)],
                              confidence=[1.0] * len(pieces), masked=[i >= step for i in range(len(pieces))],
                              committed=[step - 1], answer_final=step, elapsed_s=0.0)
            if on_step(event) is False:
                break
        return SimpleNamespace(text=self.answer, tokens=pieces, stop_reason="eos", steps=len(pieces),
                               prompt_tokens=len(prompt) // 4)


class ScriptedEngine:
    def __init__(self, template: str):
        self.client = ScriptedClient(template)

    def start(self) -> None:
        pass

    def describe(self) -> dict:
        return {"architecture": "dream"}

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-tools")
    config = shared._config(folder, folder / "scripted.gguf")
    service = ModelService(config, ModelChoice(Path("scripted.gguf"), "scripted.gguf", "test"),
                           ScriptedEngine(QWEN_TEMPLATE))
    served = shared.Served(service)
    try:
        yield served
    finally:
        served.stop()
        service.close()


def _say(served, text: str) -> ScriptedClient:
    client = served.service.engine.client
    client.answer = text
    return client


MESSAGES = [{"role": "user", "content": "Weather in Paris, and the time?"}]


def test_chat_whole_answer_with_tool_calls(scripted) -> None:
    engine = _say(scripted, f"Checking.\n{PARIS}\n{CLOCK}")
    answer = scripted.client().chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, max_tokens=64)
    (choice,) = answer.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Checking."
    weather, clock = choice.message.tool_calls
    assert weather.type == "function" and weather.id.startswith("call_")
    assert weather.function.name == "get_weather" and json.loads(weather.function.arguments) == {"city": "Paris"}
    assert clock.function.name == "get_time" and clock.function.arguments == "{}"
    assert "<tools>" in engine.prompts[-1] and '"name": "get_weather"' in engine.prompts[-1]


def test_chat_history_with_tool_calls_and_results_reaches_the_template(scripted) -> None:
    engine = _say(scripted, "It is sunny in Paris.")
    history = MESSAGES + [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_9", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": "sunny, 21 C"}]
    answer = scripted.client().chat.completions.create(model="m", messages=history, tools=TOOLS, max_tokens=64)
    (choice,) = answer.choices
    assert choice.finish_reason == "stop" and choice.message.content == "It is sunny in Paris."
    assert choice.message.tool_calls is None
    prompt = engine.prompts[-1]
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert "<tool_response>\nsunny, 21 C\n</tool_response>" in prompt


def test_chat_stream_holds_the_text_back_and_ends_with_the_calls(scripted) -> None:
    _say(scripted, f"Checking.\n{PARIS}\n{CLOCK}")
    chunks = list(scripted.client().chat.completions.create(
        model="m", messages=MESSAGES, tools=TOOLS, max_tokens=64, stream=True,
        stream_options={"include_usage": True}))
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    texts = [c.choices[0].delta.content for c in with_choices if c.choices[0].delta.content]
    assert texts == ["Checking."]  # held back, then the content once: no raw <tool_call> text streamed
    (calls_chunk,) = [c for c in with_choices if c.choices[0].delta.tool_calls]
    calls = calls_chunk.choices[0].delta.tool_calls
    assert [(c.index, c.type, c.function.name) for c in calls] == [(0, "function", "get_weather"),
                                                                   (1, "function", "get_time")]
    assert all(c.id.startswith("call_") for c in calls) and json.loads(calls[0].function.arguments) == {
        "city": "Paris"}
    assert with_choices[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_the_openai_stream_helper_assembles_the_calls(scripted) -> None:
    _say(scripted, PARIS)
    with scripted.client().chat.completions.stream(model="m", messages=MESSAGES, tools=TOOLS,
                                                    max_tokens=64) as stream:
        final = stream.get_final_completion()
    (choice,) = final.choices
    assert choice.finish_reason == "tool_calls" and not choice.message.content
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}


def test_chat_raw_stream_ends_with_done(scripted) -> None:
    _say(scripted, CLOCK)
    body = {"model": "m", "messages": MESSAGES, "tools": TOOLS, "stream": True, "max_tokens": 32}
    with httpx.stream("POST", scripted.base + "/v1/chat/completions", json=body, timeout=TIMEOUT) as response:
        data = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    finish = json.loads(data[-2])
    assert finish["choices"][0]["finish_reason"] == "tool_calls" and finish["choices"][0]["delta"] == {}


def test_a_bad_call_is_text_with_the_reason(scripted) -> None:
    bad = '<tool_call>\n{"name": "launch_rockets", "arguments": {}}\n</tool_call>'
    _say(scripted, bad)
    body = {"model": "m", "messages": MESSAGES, "tools": TOOLS, "max_tokens": 32}
    answer = httpx.post(scripted.base + "/v1/chat/completions", json=body, timeout=TIMEOUT).json()
    (choice,) = answer["choices"]
    assert choice["finish_reason"] == "stop" and choice["message"]["content"] == bad
    assert "tool_calls" not in choice["message"]
    assert "launch_rockets" in answer["dgcode"]["tool_call_errors"][0]
    with httpx.stream("POST", scripted.base + "/v1/chat/completions", json={**body, "stream": True},
                      timeout=TIMEOUT) as response:
        data = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert "".join(d["choices"][0]["delta"].get("content") or "" for d in data) == bad
    assert data[-1]["choices"][0]["finish_reason"] == "stop"
    assert "launch_rockets" in data[-1]["dgcode"]["tool_call_errors"][0]


def test_tool_choice_none_is_plain_text_and_named_is_enforced(scripted) -> None:
    engine = _say(scripted, PARIS)
    plain = scripted.client().chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS,
                                                      tool_choice="none", max_tokens=32)
    assert plain.choices[0].message.content == PARIS and plain.choices[0].message.tool_calls is None
    assert plain.choices[0].finish_reason == "stop" and "<tools>" not in engine.prompts[-1]
    named = scripted.client().chat.completions.create(
        model="m", messages=MESSAGES, tools=TOOLS, max_tokens=32,
        tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert named.choices[0].finish_reason == "stop" and named.choices[0].message.tool_calls is None
    assert "allows only 'get_time'" in named.model_extra["dgcode"]["tool_call_errors"][0]


@pytest.mark.parametrize("body, field", [
    ({"tools": "get_weather"}, "tools"),
    ({"tools": [{"type": "custom", "name": "x"}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "function": {"parameters": {}}}]}, "tools[0].function.name"),
    ({"tools": [WEATHER, WEATHER]}, "tools[1]"),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": TOOLS, "messages": [{"role": "assistant", "content": "", "tool_calls": [{"id": "c"}]}]},
     "messages[0].tool_calls[0]"),
])
def test_bad_tool_fields_are_400s_naming_the_field(scripted, body, field) -> None:
    response = httpx.post(scripted.base + "/v1/chat/completions",
                          json={"model": "m", "messages": MESSAGES, **body}, timeout=TIMEOUT)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


def test_responses_whole_with_function_calls(scripted) -> None:
    _say(scripted, f"Checking.\n{PARIS}")
    answer = scripted.client().responses.create(model="m", input="Weather in Paris?", tools=FLAT_TOOLS,
                                                max_output_tokens=64)
    assert answer.status == "completed"
    message, call = answer.output
    assert message.type == "message" and message.content[0].text == "Checking." == answer.output_text
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "Paris"} and call.status == "completed"
    assert [t.name for t in answer.tools] == ["get_weather", "get_time"] and answer.tool_choice == "auto"


def test_responses_input_with_calls_and_outputs_reaches_the_template(scripted) -> None:
    engine = _say(scripted, CLOCK)
    items = [{"role": "user", "content": "Weather in Paris?"},
             {"type": "function_call", "call_id": "call_7", "name": "get_weather",
              "arguments": '{"city": "Paris"}'},
             {"type": "function_call_output", "call_id": "call_7", "output": "rain"}]
    answer = scripted.client().responses.create(model="m", input=items, tools=FLAT_TOOLS, max_output_tokens=64)
    (call,) = answer.output  # only a call: no message item
    assert call.type == "function_call" and call.name == "get_time" and call.arguments == "{}"
    prompt = engine.prompts[-1]
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert "<tool_response>\nrain\n</tool_response>" in prompt


def test_responses_stream_events_for_function_calls(scripted) -> None:
    _say(scripted, f"Checking.\n{PARIS}\n{CLOCK}")
    events = list(scripted.client().responses.create(model="m", input="Weather in Paris?", tools=FLAT_TOOLS,
                                                     max_output_tokens=64, stream=True))
    kinds = [e.type for e in events]
    call_events = ["response.output_item.added", "response.function_call_arguments.delta",
                   "response.function_call_arguments.done", "response.output_item.done"]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", "response.output_text.delta", "response.output_text.done",
                     "response.content_part.done", "response.output_item.done",
                     *call_events, *call_events, "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[4].delta == "Checking."
    first, second = (e for e in events if e.type == "response.output_item.added" and e.item.type == "function_call")
    assert (first.output_index, second.output_index) == (1, 2) and first.item.status == "in_progress"
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [json.loads(e.arguments) for e in done] == [{"city": "Paris"}, {}]
    items = [e.item for e in events if e.type == "response.output_item.done"]
    final = events[-1].response
    assert [i.type for i in final.output] == ["message", "function_call", "function_call"]
    assert [i.call_id for i in items[1:]] == [i.call_id for i in final.output[1:]]  # the same calls
    assert done[0].item_id == items[1].id


def test_responses_without_tools_refuse_tool_items(scripted) -> None:
    items = [{"type": "function_call_output", "call_id": "c", "output": "1"}]
    response = httpx.post(scripted.base + "/v1/responses", json={"model": "m", "input": items}, timeout=TIMEOUT)
    assert response.status_code == 400 and response.json()["error"]["param"] == "input[0].type"


# --- the real tiny model ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qwen_served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-qwen")
    model = write_synthetic_gguf(folder / "dream-tools.gguf", "test", arch="dream", dtype="f32", seed=1,
                                 chat_template=QWEN_TEMPLATE)
    service = open_service(shared._config(folder, model))
    served = shared.Served(service)
    try:
        yield served
    finally:
        served.stop()
        service.close()


def test_a_model_whose_template_renders_tools_accepts_them(qwen_served) -> None:
    client = qwen_served.client()
    plain = client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=8)
    answer = client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, max_tokens=8)
    (choice,) = answer.choices  # random weights: a plain answer, never a call
    assert choice.finish_reason in ("stop", "length") and isinstance(choice.message.content, str)
    assert choice.message.tool_calls is None
    assert answer.usage.prompt_tokens > plain.usage.prompt_tokens + 20  # the tools section was in the prompt
    streamed = list(client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, max_tokens=8,
                                                   stream=True))
    assert streamed[-1].choices[0].finish_reason in ("stop", "length")
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in streamed)
    response = client.responses.create(model="m", input="hi", tools=FLAT_TOOLS, max_output_tokens=8)
    assert [item.type for item in response.output] == ["message"]


def test_the_default_tiny_model_cannot_take_tools(served) -> None:
    for route, body in (("/v1/chat/completions", {"messages": MESSAGES, "tools": TOOLS}),
                        ("/v1/responses", {"input": "hi", "tools": FLAT_TOOLS, "stream": True})):
        response = httpx.post(served.base + route, json={"model": "m", "max_tokens": 4, **body}, timeout=TIMEOUT)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "tools" and "chat template cannot take tools" in error["message"]
    with pytest.raises(openai.BadRequestError):
        served.client().chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS, tool_choice="required",
                                                max_tokens=4)
