"""Abstaining instead of guessing: the policy on crafted evidence, the runner-up search, and `dgcode fix` on the
real embedded model leaving an ambiguous file alone while it still repairs an unambiguous one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from git_shim import init_repo, real_git

from dgcode.repair.abstain import DEFAULT_POLICY, OFFER_EVERYTHING, AbstainPolicy, judge, policy_for
from dgcode.repair.file_repair import repair_source
from dgcode.repair.repair_model import WindowRepair

NO_COLON = "def f(x)\n    return x\n"
GOOD = "def f(x):\n    return x\n"
EMBEDDED = Path(__file__).resolve().parents[1] / "dgcode" / "repair" / "dgcode-repair.gguf"


def window(rank=0, confidence=(0.99, 0.98), costs=(), runner_up=None, runner_up_cost=None, plan=0):
    return WindowRepair(0, 1, ("a\n",), ("b\n",), 2, 2, 0.0, confidence=confidence, costs=costs, rank=rank,
                        plan=plan, runner_up=runner_up, runner_up_cost=runner_up_cost)


def test_a_sure_answer_is_offered_and_a_close_runner_up_is_not():
    assert judge([window()], DEFAULT_POLICY) is None
    assert judge([window(runner_up=3, runner_up_cost=DEFAULT_POLICY.min_margin + 0.1)], DEFAULT_POLICY) is None
    why = judge([window(runner_up=1, runner_up_cost=0.7)], DEFAULT_POLICY)
    assert why is not None and "another rewrite of those lines also compiles" in why and "0.7 < 4" in why


def test_an_alternative_is_offered_only_close_to_the_most_likely_and_well_ahead_of_the_next():
    near = window(rank=2, costs=(0.4,))
    assert judge([near], DEFAULT_POLICY) is None
    far = window(rank=5, costs=(DEFAULT_POLICY.max_cost + 0.5,))
    assert f"{DEFAULT_POLICY.max_cost + 0.5:.2f} below the most likely" in judge([far], DEFAULT_POLICY)
    crowded = window(rank=2, costs=(0.4,), runner_up=3, runner_up_cost=1.9)
    assert "1.5 < 4 behind" in judge([crowded], DEFAULT_POLICY)


def test_every_rewrite_of_a_repair_must_pass_and_the_knobs_do_what_they_say():
    assert judge([window(), window(rank=9, costs=(7.0,))], DEFAULT_POLICY) is not None
    strict = AbstainPolicy(min_confidence=0.95)
    assert "probability 0.50 < 0.95" in judge([window(confidence=(0.99, 0.5))], strict)
    assert judge([window(rank=9, costs=(7.0,), runner_up=10, runner_up_cost=7.1)], OFFER_EVERYTHING) is None
    assert policy_for(0) is OFFER_EVERYTHING and policy_for(2.5).min_margin == 2.5


def ambiguous_ask(second_cost: float):
    """A model whose answer does not compile, and whose two next guesses both do, ``second_cost`` apart."""
    asked = []

    def ask(source, lineno, message, attempt, offset=0):
        asked.append(attempt)
        return WindowRepair(0, 1, ("def f(x)\n",), ("def f(x) ::\n",), 2, 5, 0.0, confidence=(0.9,) * 5,
                            alternatives=(("def f(x):\n",), ("def f(*x):\n",), ("def g(x):\n",)),
                            costs=(0.2, 0.2 + second_cost, 9.0))
    return ask, asked


def test_a_crafted_ambiguous_repair_is_withheld_and_the_file_left_alone():
    ask, _ = ambiguous_ask(second_cost=0.3)
    result = repair_source("m.py", NO_COLON, ask, policy=DEFAULT_POLICY)
    assert result.abstained and not result.repaired_ok
    assert result.repaired == NO_COLON, "the file is left as it was"
    assert result.withheld == GOOD, "the repair it found is kept for the report"
    assert result.problem.startswith("not confident enough to repair line 1 (expected ':'): another rewrite")
    assert result.windows[0].rank == 1 and result.windows[0].runner_up == 2


def test_a_runner_up_far_behind_does_not_stop_the_repair_and_none_is_searched_without_a_policy():
    ask, _ = ambiguous_ask(second_cost=DEFAULT_POLICY.min_margin + 1)
    result = repair_source("m.py", NO_COLON, ask, policy=DEFAULT_POLICY)
    assert result.repaired_ok and result.repaired == GOOD and not result.abstained
    assert result.windows[0].runner_up is None, "the scan stops at the first guess beyond the margin"
    ask, _ = ambiguous_ask(second_cost=0.3)
    plain = repair_source("m.py", NO_COLON, ask)
    assert plain.repaired_ok and plain.windows[0].runner_up is None


@pytest.mark.skipif(not EMBEDDED.exists(), reason="the embedded repair model is not in the checkout")
def test_the_embedded_model_repairs_a_clear_slip_and_abstains_on_an_ambiguous_one():
    from dgcode.engine.engine import Engine, EngineOptions
    from dgcode.repair.repair_model import read_layout, repair_window

    spec = read_layout(EMBEDDED)
    with Engine(EMBEDDED, EngineOptions(n_ctx=spec.canvas, n_threads=1)) as engine:
        def ask(text, lineno, message, attempt, offset=0):
            return repair_window(engine, text, lineno, message, spec, 0.9, attempt, 32, offset)

        clear = repair_source("m.py", "def add(a, b)\n    return a + b\n", ask, policy=DEFAULT_POLICY)
        assert clear.repaired_ok and clear.repaired == "def add(a, b):\n    return a + b\n"
        assert clear.windows[0].confidence and min(clear.windows[0].confidence) > 0.5
        for source in ("total = price tax\n", "a = b c\n"):  # which operator, which name? a guess either way
            unsure = repair_source("m.py", source, ask, policy=DEFAULT_POLICY)
            assert unsure.abstained and unsure.repaired == source, (source, unsure.withheld)
            assert unsure.problem.startswith("not confident enough to repair line 1")
            offered = repair_source("m.py", source, ask, policy=OFFER_EVERYTHING)
            assert offered.repaired_ok and offered.repaired == unsure.withheld


@pytest.mark.skipif(not EMBEDDED.exists(), reason="the embedded repair model is not in the checkout")
def test_fix_on_the_embedded_model_says_not_confident_and_writes_nothing_unless_told_to(tmp_path):
    repo = tmp_path / "repo"
    init_repo(repo)
    (repo / "base.txt").write_text("base\n")
    real_git(repo, "add", "base.txt")
    real_git(repo, "commit", "-q", "-m", "base")
    (repo / "price.py").write_text("total = price tax\n")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "DGCODE_THREADS": "1"}
    env.pop("DGCODE_MODEL", None)

    def fix(*extra):
        done = subprocess.run([sys.executable, "-m", "dgcode", "fix", "price.py", "--yes", "--json", *extra],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=180)
        return done.returncode, json.loads(done.stdout), done.stderr

    code, report, _ = fix()
    assert code == 1 and report["status"] == "failed", report
    assert "not confident enough to repair line 1" in report["message"]
    assert (repo / "price.py").read_text() == "total = price tax\n"
    (repo / ".dgcode.toml").write_text("[repair]\nmin_margin = 0\n")
    code, report, _ = fix()
    assert code == 0 and report["status"] == "applied", report
    assert (repo / "price.py").read_text() != "total = price tax\n"


def test_the_config_default_is_the_calibrated_policy_and_a_bad_value_is_refused(tmp_path):
    from dgcode.config import ConfigError, load_config

    assert load_config(tmp_path)["repair.min_margin"] == DEFAULT_POLICY.min_margin
    (tmp_path / ".dgcode.toml").write_text("[repair]\nmin_margin = -1\n")
    with pytest.raises(ConfigError, match="repair.min_margin"):
        load_config(tmp_path)
