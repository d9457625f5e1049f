"""`dgcode serve`: the local diffusion model behind an OpenAI-compatible HTTP API, for every coding tool.

llama.cpp's own server cannot run diffusion models; this front end puts the
one model API (workflows/model.py) and the one engine adapter
(workflows/model_engine.py) behind Starlette on uvicorn:

- ``protocol``: request bodies checked by hand (errors name the field) and
  turned into SamplerSettings (the model API's defaults under the request's).
- ``answer_text``: the answer's final prefix as it grows, step by step, with
  stop sequences.
- ``service``: one engine, many clients: a FIFO of generations run one at a
  time in a worker thread, each cancellable within one step.
- ``tool_calls``: the tools a request offers and the ``<tool_call>`` blocks of
  the answer as OpenAI tool calls (bad blocks kept as text, with the reason).
- ``responses``: the OpenAI JSON shapes (completions, chunks, errors).
- ``responses_api``: the Responses API (``/v1/responses``): request, object, events.
- ``app``: the Starlette routes, the API key check, status codes.
- ``launch``: the model choice (never the embedded repair model), the
  loopback rule, uvicorn.
- ``clients``: how to point Aider, OpenCode, Continue and Codex CLI at it.

Headless: no typer, textual or front end (``.importlinter``); the command is
``dgcode/cli/serve.py``.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {"create_app": "dgcode.serve.app", "ServeError": "dgcode.serve.launch", "check_bind": "dgcode.serve.launch",
            "open_service": "dgcode.serve.launch", "serve": "dgcode.serve.launch",
            "ModelService": "dgcode.serve.service"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Imported on first use: ``dgcode --help`` and the other commands never load Starlette and the engine API."""
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dgcode.serve' has no attribute {name!r}")
