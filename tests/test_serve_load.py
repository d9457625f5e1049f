"""Concurrent streaming clients on a real server each get exactly their own answer (tests/serve_load.py).

Correctness only: figures come from docs/bench_serve_load.py, never from a timed test.
"""

from __future__ import annotations

import test_serve as shared
from serve_load import run_load

served = shared.served


def test_twelve_concurrent_streams_each_get_their_own_answer_and_nothing_is_lost(served) -> None:
    report = run_load(served.base, clients=12, max_tokens=24, timeout=shared.TIMEOUT * 4)
    assert report.distinct_references  # a mix-up between clients would show
    assert report.wrong == [] and report.tokens == 12 * 24
    health = served.health()
    assert health["queue"] == 0 and health["busy"] is False
