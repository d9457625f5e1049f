"""The config snippets `dgcode serve --help` prints parse in each tool's own format and point at the server."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
import tomllib

from dgcode.serve.clients import client_snippets

BASE, MODEL = "http://127.0.0.1:9999/v1", "dream-coder"


def snippet(title: str) -> str:
    text = client_snippets(BASE, MODEL)
    block = re.search(rf"^  {re.escape(title)}.*?:\n((?:    .*\n|\s*\n)+)", text, re.M)
    assert block, f"no {title} snippet"
    return textwrap.dedent(block.group(1))


def test_opencode_json_names_the_base_url_and_model() -> None:
    config = json.loads(snippet("OpenCode"))
    provider = config["provider"]["dgcode"]
    assert provider["options"]["baseURL"] == BASE and MODEL in provider["models"]
    assert provider["npm"] == "@ai-sdk/openai-compatible"


def test_continue_yaml_names_the_base_url_and_model() -> None:
    yaml = pytest.importorskip("yaml")
    (model,) = yaml.safe_load(snippet("Continue"))["models"]
    assert (model["provider"], model["apiBase"], model["model"]) == ("openai", BASE, MODEL)


def test_codex_toml_uses_the_responses_api_at_the_base_url() -> None:
    config = tomllib.loads(snippet("Codex CLI"))
    assert config["model"] == MODEL and config["model_provider"] == "dgcode"
    provider = config["model_providers"]["dgcode"]
    assert provider["base_url"] == BASE and provider["wire_api"] == "responses"


def test_aider_environment_points_at_the_base_url() -> None:
    lines = snippet("Aider").splitlines()
    assert f"export OPENAI_API_BASE={BASE}" in lines and f"aider --model openai/{MODEL}" in lines
