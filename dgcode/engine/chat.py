"""Chat prompts: the model's own chat template from its GGUF, or a known fallback when it has none.

Templates are Jinja, rendered in a sandbox the way Hugging Face renders them
(trim_blocks, lstrip_blocks). Fallbacks live in prompts/chat/ as data files:
ChatML for Dream / Qwen-family models, LLaDA's header format for LLaDA.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from dgcode.engine.errors import EngineError

FALLBACK_BY_ARCH = {"llada": "llada", "llada-moe": "llada", "llama": "llada"}


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

    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)


def render_chat(messages: list[dict[str, str]], *, template: str | None, architecture: str,
                bos_token: str = "", eos_token: str = "", add_generation_prompt: bool = True) -> str:
    """Render messages ({'role', 'content'} dicts) into the prompt text the model was trained on."""
    from jinja2 import TemplateError

    for message in messages:
        if message.get("role") not in ("system", "user", "assistant") or not isinstance(message.get("content"), str):
            raise EngineError(f"bad chat message {message!r}: needs role system/user/assistant and text content")
    source = template if template else fallback_for(architecture)
    try:
        return _compile(source).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                       bos_token=bos_token, eos_token=eos_token)
    except TemplateError as exc:
        if template:  # a broken template in the file: fall back rather than fail the user
            return render_chat(messages, template=None, architecture=architecture, bos_token=bos_token,
                               eos_token=eos_token, add_generation_prompt=add_generation_prompt)
        raise EngineError(f"chat template failed: {exc}") from None
