"""How to point coding tools at `dgcode serve`: the snippets `--help` prints and docs/serve.md repeats."""

from __future__ import annotations


def client_snippets(base_url: str = "http://127.0.0.1:8765/v1", model: str = "MODEL") -> str:
    """Plain text: Aider, OpenCode, Continue and Codex CLI pointed at ``base_url`` serving ``model``."""
    return f"""\
Point a coding tool at it (any OpenAI-compatible client works; the API key is
the one given with --api-key, or any text when none is set):

  Aider:
    export OPENAI_API_BASE={base_url}
    export OPENAI_API_KEY=KEY
    aider --model openai/{model}

  OpenCode (opencode.json):
    {{"provider": {{"dgcode": {{"npm": "@ai-sdk/openai-compatible",
      "options": {{"baseURL": "{base_url}", "apiKey": "KEY"}},
      "models": {{"{model}": {{}}}}}}}}}}

  Continue (config.yaml):
    models:
      - name: dgcode
        provider: openai
        model: {model}
        apiBase: {base_url}
        apiKey: KEY

  Codex CLI (~/.codex/config.toml):
    model = "{model}"
    model_provider = "dgcode"
    [model_providers.dgcode]
    name = "dgcode"
    base_url = "{base_url}"
    env_key = "DGCODE_SERVE_API_KEY"
    wire_api = "responses"

MODEL is the id GET {base_url}/models lists (the registry name of a pulled
model, else the file name).
"""
