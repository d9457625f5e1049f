"""The prefix cache across requests: a multi-turn chat reuses the turns before it, and usage and /health say so.

An AR-stored block-diffusion model (qwen2 with a mask token) prefills
causally, so a request whose prompt starts like the previous one keeps those
KV cells; a dream model prefills bidirectionally and cannot (docs/engine.md).
"""

from __future__ import annotations

import pytest
import test_serve as shared

from dgcode.serve import open_service

served = shared.served


@pytest.fixture(scope="module")
def served_causal(models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-causal")
    service = open_service(shared._config(folder, models["qwen2"]))
    server = shared.Served(service)
    try:
        yield server
    finally:
        server.stop()
        service.close()


def chat_turns(server, turns: int) -> list:
    client, messages, answers = server.client(), [{"role": "system", "content": "You write Python."}], []
    for turn in range(turns):
        messages.append({"role": "user", "content": f"step {turn}: add a function f{turn}"})
        answer = client.chat.completions.create(model="m", messages=messages, max_tokens=16,
                                                extra_body={"ignore_eos": True})
        messages.append({"role": "assistant", "content": answer.choices[0].message.content})
        answers.append(answer)
    return answers


def test_a_multi_turn_chat_reuses_the_earlier_turns_and_health_reports_the_hit_rate(served_causal) -> None:
    answers = chat_turns(served_causal, 4)
    cached = [a.usage.prompt_tokens_details.cached_tokens for a in answers]
    prompts = [a.usage.prompt_tokens for a in answers]
    assert cached[0] == 0  # nothing before the first turn
    # Each later turn starts with the previous turn's prompt: at least that much is reused.
    assert all(cached[i] >= prompts[i - 1] - 1 for i in range(1, 4)), (cached, prompts)
    assert all(cached[i] < prompts[i] for i in range(4))
    cache = served_causal.health()["prefix_cache"]
    assert cache["reuses_prefix"] is True and cache["cached_tokens"] == sum(cached)
    assert cache["prompt_tokens"] == sum(prompts) and cache["hit_rate"] == round(sum(cached) / sum(prompts), 4)


def test_a_bidirectional_dream_model_reuses_nothing_and_says_so(served) -> None:
    answers = chat_turns(served, 2)
    assert [a.usage.prompt_tokens_details.cached_tokens for a in answers] == [0, 0]
    assert served.health()["prefix_cache"]["reuses_prefix"] is False
