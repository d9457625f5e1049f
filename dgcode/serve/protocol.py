"""Request bodies of the OpenAI-compatible API, checked by hand, and the sampler settings they ask for.

Every mistake raises ``BodyError`` naming the field (``messages[1].content``,
``max_tokens``) so the client's 400 says what to fix.  Unknown fields are
ignored (coding tools send many: ``frequency_penalty``, ``user``).

``tools`` (function specs; ``tool_choice`` ``auto``, ``required``, a named
function, or ``none``: then the tools are ignored and the answer is plain
text) become a ``ToolOffer``; with one, assistant ``tool_calls`` and ``tool``
messages reach the chat template as such (Qwen2.5 / Dream render them), and
without, a ``tool`` message is shown to the model as the user's words.  A
template that cannot render tools is refused in the engine (service.py).

The settings layer the request over the one model API: dgcode's defaults <
the registry's recommendation for a known model < the user's configuration
< the request (``max_tokens``, ``threshold``, ``sub_block`` through
``sampler_settings``; ``steps``, ``algorithm``, ``schedule``, ``temperature``,
``top_p``, ``seed``, ``ignore_eos`` replaced on the result).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from dgcode.engine.settings import ALGORITHMS, SCHEDULES, SamplerSettings
from dgcode.serve.tool_calls import ToolOffer
from dgcode.workflows.model import ModelChoice, sampler_settings

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "user"}
"""OpenAI roles -> the chat template's; without tools offered, tool results are shown as the user's words."""
OVERLAID = ("max_tokens", "threshold", "sub_block")
"""Request fields passed through the model API's layering (the rest replace fields of its result)."""


class BodyError(ValueError):
    """A request body field is missing or wrong; ``param`` names it."""

    def __init__(self, param: str | None, message: str):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Sampling:
    """What a request asks of the sampler (None: not given) and how its answer streams and stops."""

    given: dict[str, object] = field(default_factory=dict)
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False
    canvas: bool = False
    """The opt-in ``dgcode_canvas`` extension: a stream also carries each step's canvas changes."""


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, object]]
    sampling: Sampling
    prefix: str = ""
    """``dgcode_prefix``: the answer starts with this text (dgcode's own clients: infill inside an answer)."""
    suffix: str = ""
    """``dgcode_suffix``: the answer is denoised between the prefix and this text."""
    tools: ToolOffer | None = None
    """The tools offered (None: none, or ``tool_choice: "none"``): the answer is parsed for tool calls."""


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str
    suffix: str
    sampling: Sampling


def _integer(body: Mapping, key: str, low: int | None = None, high: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BodyError(key, f"{key} must be a whole number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise BodyError(key, f"{key} must be {bounds}, got {value}")
    return value


def _number(body: Mapping, key: str, low: float, high: float | None = None, *, open_low: bool = False):
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BodyError(key, f"{key} must be a number, got {value!r}")
    if (value <= low if open_low else value < low) or (high is not None and value > high):
        low_text = f"> {low}" if open_low else f">= {low}"
        raise BodyError(key, f"{key} must be {low_text}" + (f" and <= {high}" if high is not None else "")
                        + f", got {value}")
    return float(value)


def _boolean(body: Mapping, key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise BodyError(key, f"{key} must be true or false, got {value!r}")
    return value


def _choice(body: Mapping, key: str, choices: tuple[str, ...]) -> str | None:
    value = body.get(key)
    if value is not None and value not in choices:
        raise BodyError(key, f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _stop(body: Mapping) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise BodyError("stop", "stop must be a string or a list of strings")
    return tuple(s for s in value if s)


def sampling(body: Mapping) -> Sampling:
    """The sampler, stop and stream fields of a chat or completion body."""
    n = _integer(body, "n", 1)
    if n is not None and n != 1:
        raise BodyError("n", "n must be 1: dgcode serve answers with one choice")
    max_tokens = _integer(body, "max_tokens", 1)
    if body.get("max_completion_tokens") is not None:
        max_tokens = _integer(body, "max_completion_tokens", 1)
    given: dict[str, object] = {
        "max_tokens": max_tokens,
        "threshold": _number(body, "threshold", 0.0, 1.0),
        "sub_block": _integer(body, "sub_block", 1, 256),
        "steps": _integer(body, "steps", 1),
        "algorithm": _choice(body, "algorithm", ALGORITHMS),
        "schedule": _choice(body, "schedule", SCHEDULES),
        "temperature": _number(body, "temperature", 0.0),
        "top_p": _number(body, "top_p", 0.0, 1.0, open_low=True),
        "seed": _integer(body, "seed"),
        "ignore_eos": _boolean(body, "ignore_eos"),
    }
    stream = bool(_boolean(body, "stream"))
    options = body.get("stream_options")
    if options is not None and not isinstance(options, Mapping):
        raise BodyError("stream_options", "stream_options must be an object")
    include_usage = bool(_boolean(options or {}, "include_usage"))
    canvas = bool(_boolean(body, "dgcode_canvas"))
    return Sampling({k: v for k, v in given.items() if v is not None}, _stop(body), stream, include_usage,
                    canvas)


def message_content(value: object, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: text parts joined, others refused
        texts = []
        for i, part in enumerate(value):
            if not isinstance(part, Mapping) or part.get("type") not in ("text", "input_text", "output_text") \
                    or not isinstance(part.get("text"), str):
                raise BodyError(f"{where}[{i}]", f"{where}[{i}] must be a text part "
                                "({\"type\": \"text\", \"text\": ...}); images and files are not supported")
            texts.append(part["text"])
        return "".join(texts)
    raise BodyError(where, f"{where} must be a string or a list of text parts")


def _function(spec: object, where: str, flat: bool) -> dict[str, object]:
    """One tool of ``tools`` in the chat shape the template gets (``flat``: the Responses API's shape)."""
    if not isinstance(spec, Mapping) or spec.get("type") != "function":
        raise BodyError(f"{where}.type", f"{where} must be a function tool ({{\"type\": \"function\", ...}}): "
                        f"dgcode serve offers the model function tools only, got type {_type_of(spec)!r}")
    function = spec if flat else spec.get("function")
    inner = where if flat else f"{where}.function"
    if not isinstance(function, Mapping):
        raise BodyError(inner, f"{inner} must be an object with name and parameters")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise BodyError(f"{inner}.name", f"{inner}.name must be a non-empty string")
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise BodyError(f"{inner}.parameters", f"{inner}.parameters must be a JSON schema object")
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise BodyError(f"{inner}.description", f"{inner}.description must be a string")
    out: dict[str, object] = {"name": name}
    if description:
        out["description"] = description
    out["parameters"] = dict(parameters) if parameters is not None else {"type": "object", "properties": {}}
    return {"type": "function", "function": out}


def _type_of(value: object) -> object:
    return value.get("type") if isinstance(value, Mapping) else value


def tool_offer(body: Mapping, flat: bool = False) -> ToolOffer | None:
    """The tools a body offers and its tool_choice (None: no tools, or ``tool_choice: "none"``)."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if tools is not None and not isinstance(tools, list):
        raise BodyError("tools", "tools must be a list of function tools")
    if choice == "none" or (not tools and choice in (None, "auto")):
        return None
    if not tools:
        raise BodyError("tool_choice", f"tool_choice {choice!r} needs tools")
    functions = [_function(spec, f"tools[{i}]", flat) for i, spec in enumerate(tools)]
    names = [f["function"]["name"] for f in functions]  # type: ignore[index]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise BodyError(f"tools[{i}]", f"tools[{i}] repeats the function name {name!r}")
    if choice in (None, "auto", "required"):
        return ToolOffer(functions, choice or "auto")
    named = (choice.get("name") if flat else (choice.get("function") or {}).get("name")) \
        if isinstance(choice, Mapping) and choice.get("type") == "function" else None
    if not isinstance(named, str):
        shape = '{"type": "function", "name": ...}' if flat else '{"type": "function", "function": {"name": ...}}'
        raise BodyError("tool_choice", f"tool_choice must be \"none\", \"auto\", \"required\" or {shape}, "
                        f"got {choice!r}")
    if named not in names:
        raise BodyError("tool_choice", f"tool_choice names {named!r}, which is not among tools ({', '.join(names)})")
    return ToolOffer(functions, "function", named)


def template_arguments(value: object, where: str) -> object:
    """A call's arguments as templates render them: an object (OpenAI sends JSON text), else the text itself."""
    if value is None or isinstance(value, dict):
        return value or {}
    if not isinstance(value, str):
        raise BodyError(where, f"{where} must be a string of JSON")
    try:
        parsed = json.loads(value) if value.strip() else {}
    except ValueError:
        return value
    return parsed if isinstance(parsed, dict) else value


def _tool_calls(value: object, where: str) -> list[dict[str, object]]:
    if not isinstance(value, list):
        raise BodyError(where, f"{where} must be a list of tool calls")
    calls = []
    for i, call in enumerate(value):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise BodyError(f"{where}[{i}]", f"{where}[{i}] must be {{\"id\", \"type\": \"function\", "
                            "\"function\": {\"name\", \"arguments\"}}")
        calls.append({"id": str(call.get("id") or ""), "type": "function",
                      "function": {"name": function["name"], "arguments": template_arguments(
                          function.get("arguments", "{}"), f"{where}[{i}].function.arguments")}})
    return calls


def chat_message(message: object, where: str, tools: bool) -> dict[str, object]:
    """One chat message as the template gets it (``tools``: tool calls and results kept as such)."""
    if not isinstance(message, Mapping):
        raise BodyError(where, f"{where} must be an object with role and content")
    role = message.get("role")
    if role not in ROLES:
        raise BodyError(f"{where}.role", f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}")
    content = message_content(message.get("content"), f"{where}.content")
    if not tools:
        return {"role": ROLES[role], "content": content}
    if role == "tool":
        call_id = message.get("tool_call_id")
        if call_id is not None and not isinstance(call_id, str):
            raise BodyError(f"{where}.tool_call_id", f"{where}.tool_call_id must be a string")
        return {"role": "tool", "tool_call_id": call_id or "", "content": content}
    converted: dict[str, object] = {"role": ROLES[role], "content": content}
    if role == "assistant" and message.get("tool_calls"):
        converted["tool_calls"] = _tool_calls(message["tool_calls"], f"{where}.tool_calls")
    return converted


def chat_request(body: Mapping) -> ChatRequest:
    offer = tool_offer(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BodyError("messages", "messages must be a non-empty list of {\"role\", \"content\"} objects")
    converted = [chat_message(message, f"messages[{i}]", offer is not None) for i, message in enumerate(messages)]
    extension = {}
    for key in ("dgcode_prefix", "dgcode_suffix"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise BodyError(key, f"{key} must be a string")
        extension[key] = value or ""
    return ChatRequest(converted, sampling(body), extension["dgcode_prefix"], extension["dgcode_suffix"], offer)


def completion_request(body: Mapping) -> CompletionRequest:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise BodyError("prompt", "prompt must be a non-empty string (token arrays and batches are not supported)")
    suffix = body.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise BodyError("suffix", "suffix must be a string")
    return CompletionRequest(prompt, suffix or "", sampling(body))


class _Requested:
    """A setting the request gave (the model API counts it as the user's)."""

    source = "request"

    def __init__(self, key: str, value: object):
        self.key, self.value = key, value

    def describe_source(self) -> str:
        return "the request"


class _Unknown:
    source = ""

    def describe_source(self) -> str:
        return "the settings"


class _Overlay(Mapping):
    """The configuration with the request's values on top, keeping where each came from."""

    def __init__(self, config: Mapping[str, object], top: Mapping[str, object]):
        self.config, self.top = config, top

    def __getitem__(self, key: str) -> object:
        return self.top[key] if key in self.top else self.config[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.top
        yield from (k for k in self.config if k not in self.top)

    def __len__(self) -> int:
        return len(set(self.top) | set(self.config))

    def setting(self, key: str):
        if key in self.top:
            return _Requested(key, self.top[key])
        base = getattr(self.config, "setting", None)
        return base(key) if base is not None else _Unknown()


def request_settings(config: Mapping[str, object], choice: ModelChoice, asked: Sampling) -> SamplerSettings:
    """The sampler settings for one request (InvalidSettingsError when they do not fit together)."""
    given = asked.given
    settings = sampler_settings(_Overlay(config, {k: given[k] for k in OVERLAID if k in given}), choice)
    replace: dict[str, object] = {key: given[key] for key in ("steps", "algorithm", "schedule", "temperature",
                                                              "top_p", "seed") if key in given}
    if "ignore_eos" in given:
        replace["stop_at_eos"] = not given["ignore_eos"]
    settings = dataclasses.replace(settings, **replace)
    settings.validate()
    return settings
