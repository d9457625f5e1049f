"""Chat prompts: the model's own chat template from its GGUF, or a known fallback when it has none.

Templates are Jinja, rendered in a sandbox the way Hugging Face renders them
(trim_blocks, lstrip_blocks). Fallbacks live in prompts/chat/ as data files:
ChatML for Dream / Qwen-family models, LLaDA's header format for LLaDA.

Tools (OpenAI function specs) go to the template as ``tools``, the way
Hugging Face passes them; assistant messages may carry ``tool_calls`` and
``tool`` messages a ``tool_call_id`` (the Qwen2.5 / Dream templates render
both).  Whether a template takes tools is seen by rendering the chat with and
without them: the same prompt means it ignores them, and the request is
refused (``InvalidSettingsError``) rather than answered as if the model had
seen the tools.  The fallbacks have no tools section: a model without its own
template has no known tool-call format.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from dgcode.engine.errors import EngineError, InvalidSettingsError

FALLBACK_BY_ARCH = {"llada": "llada", "llada-moe": "llada", "llama": "llada"}
CHAT_ROLES = ("system", "user", "assistant", "tool")
NO_TOOLS = "this model's chat template cannot take tools"


@lru_cache(maxsize=None)
def fallback_template(name: str) -> str:
    return resources.files("dgcode.prompts").joinpath("chat", f"{name}.jinja").read_text(encoding="utf-8")


def fallback_for(architecture: str) -> str:
    return fallback_template(FALLBACK_BY_ARCH.get(architecture, "chatml"))


@lru_cache(maxsize=16)
def _compile(template: str):
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message):
        raise TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        """Hugging Face's ``tojson`` (plain json.dumps, no HTML escaping): what the templates were written for."""
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = tojson
    return env.from_string(template)


def _check(message: object) -> None:
    ok = isinstance(message, dict) and message.get("role") in CHAT_ROLES and isinstance(message.get("content"), str)
    if ok and message.get("tool_calls") is not None:
        ok = message["role"] == "assistant" and isinstance(message["tool_calls"], list)
    if not ok:
        raise EngineError(f"bad chat message {message!r}: needs role system/user/assistant/tool and text content "
                          "(tool_calls on assistant messages only)")


def render_chat(messages: list[dict[str, object]], *, template: str | None, architecture: str,
                bos_token: str = "", eos_token: str = "", add_generation_prompt: bool = True,
                tools: list[dict[str, object]] | None = None) -> str:
    """Render messages ({'role', 'content'} dicts) into the prompt text the model was trained on.

    With ``tools``, the model's own template must render them (InvalidSettingsError otherwise): no fallback,
    since a fallback template would ignore them.
    """
    from jinja2 import TemplateError

    for message in messages:
        _check(message)
    source = template if template else fallback_for(architecture)
    fields = {"messages": messages, "add_generation_prompt": add_generation_prompt, "bos_token": bos_token,
              "eos_token": eos_token}
    if tools:
        plain = render_chat(messages, template=template, architecture=architecture, bos_token=bos_token,
                            eos_token=eos_token, add_generation_prompt=add_generation_prompt)
        try:
            prompt = _compile(source).render(**fields, tools=tools)
        except TemplateError as exc:
            raise InvalidSettingsError(f"{NO_TOOLS}: it failed with them ({exc})") from None
        if prompt == plain:
            where = "its GGUF's template" if template else "it has none of its own, and dgcode's fallback"
            raise InvalidSettingsError(f"{NO_TOOLS}: {where} renders the same prompt with and without them, so "
                                       "the model would never see them (send tool_choice: \"none\" for a "
                                       "plain-text answer)")
        return prompt
    try:
        return _compile(source).render(**fields)
    except TemplateError as exc:
        if template:  # a broken template in the file: fall back rather than fail the user
            return render_chat(messages, template=None, architecture=architecture, bos_token=bos_token,
                               eos_token=eos_token, add_generation_prompt=add_generation_prompt)
        raise EngineError(f"chat template failed: {exc}") from None
