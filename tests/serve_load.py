"""A bounded load test of `dgcode serve`: many concurrent streaming clients, each checking its own answer.

Shared by tests/test_serve_load.py (a few clients: correctness) and
docs/bench_serve_load.py (50+ clients: throughput and latency). Each client
has a distinct prompt; its reference answer is asked first, one request at a
time and not streamed. Then all clients stream at once (sampled,
each client with its own seed, so each answer is reproducible), and each checks that the text it received
is exactly its reference: nothing lost, nothing delivered to the wrong
client. Distinct prompts must give distinct references, or a mix-up could
go unseen; ``references`` says so.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass

import httpx

SEED = 1000
"""Client i samples with seed SEED + i."""


def prompts(count: int) -> list[str]:
    return [f"# task {i}: write a function named f{i} that returns {i * 7}\n" for i in range(count)]


def body(prompt: str, max_tokens: int, stream: bool, seed: int) -> dict[str, object]:
    """Sampled (temperature 1) with the client's own seed: reproducible, and distinct from the others."""
    return {"model": "m", "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "stream": stream, "ignore_eos": True, "temperature": 1.0, "seed": seed}


def references(base: str, asked: list[str], max_tokens: int, timeout: float = 120.0) -> list[str]:
    """Each prompt's whole answer, asked one at a time."""
    with httpx.Client(base_url=base, timeout=timeout) as client:
        answers = []
        for index, prompt in enumerate(asked):
            response = client.post("/v1/chat/completions", json=body(prompt, max_tokens, False, SEED + index))
            response.raise_for_status()
            answers.append(response.json()["choices"][0]["message"]["content"])
    return answers


@dataclass(frozen=True)
class ClientResult:
    index: int
    text: str
    first_text_s: float
    total_s: float
    completion_tokens: int


async def _one(client: httpx.AsyncClient, index: int, prompt: str, max_tokens: int, began: float) -> ClientResult:
    text, first, tokens = [], None, 0
    async with client.stream("POST", "/v1/chat/completions", json={
            **body(prompt, max_tokens, True, SEED + index), "stream_options": {"include_usage": True}}) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: "):])
            if "error" in chunk:
                raise RuntimeError(f"client {index}: {chunk['error']}")
            for choice in chunk.get("choices", []):
                piece = choice.get("delta", {}).get("content")
                if piece:
                    first = first if first is not None else time.monotonic() - began
                    text.append(piece)
            if chunk.get("usage") and not chunk.get("choices"):
                tokens = chunk["usage"]["completion_tokens"]
    total = time.monotonic() - began
    return ClientResult(index, "".join(text), first if first is not None else total, total, tokens)


async def _all(base: str, asked: list[str], max_tokens: int, timeout: float) -> tuple[list[ClientResult], float]:
    limits = httpx.Limits(max_connections=len(asked) + 4, max_keepalive_connections=len(asked) + 4)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as client:
        began = time.monotonic()
        results = await asyncio.gather(*(_one(client, i, p, max_tokens, began) for i, p in enumerate(asked)))
        return list(results), time.monotonic() - began


@dataclass(frozen=True)
class LoadReport:
    clients: int
    wrong: list[int]
    """Clients whose streamed text differs from their reference (lost, cut or someone else's)."""
    distinct_references: bool
    wall_s: float
    tokens: int
    p50_s: float
    p95_s: float
    p50_first_s: float
    p95_first_s: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s else 0.0

    def to_json(self) -> dict[str, object]:
        return {"clients": self.clients, "wrong": self.wrong, "distinct_references": self.distinct_references,
                "wall_s": round(self.wall_s, 3), "completion_tokens": self.tokens,
                "tokens_per_s": round(self.tokens_per_s, 1), "latency_p50_s": round(self.p50_s, 3),
                "latency_p95_s": round(self.p95_s, 3), "first_text_p50_s": round(self.p50_first_s, 3),
                "first_text_p95_s": round(self.p95_first_s, 3)}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run_load(base: str, clients: int, max_tokens: int, timeout: float = 600.0) -> LoadReport:
    asked = prompts(clients)
    wanted = references(base, asked, max_tokens)
    results, wall = asyncio.run(_all(base, asked, max_tokens, timeout))
    wrong = [r.index for r in results if r.text != wanted[r.index] or r.completion_tokens != max_tokens]
    totals, firsts = [r.total_s for r in results], [r.first_text_s for r in results]
    return LoadReport(clients, wrong, len(set(wanted)) == len(wanted), wall, sum(r.completion_tokens for r in results),
                      statistics.median(totals), _quantile(totals, 0.95), statistics.median(firsts),
                      _quantile(firsts, 0.95))
