"""Abstaining instead of guessing: whether the repair model's evidence is strong enough to offer its repair.

A repair that compiles can still be the wrong code, and a plausible wrong
change in a pre-commit hook is worse than none. The model's own evidence
about each rewrite it took (repair_model.WindowRepair) separates the two
well on held-out data (docs/model.md, "Abstaining"):

- the denoised answer (rank 0): the lowest probability any of its tokens was
  committed with (``min_confidence``);
- a ranked alternative (rank > 0): taken only when the denoised answer did
  not compile; its log-probability cost below the most likely operations;
- either: whether another rewrite of the same lines also compiles (a
  runner-up), and how far behind it is. Two repairs the compiler accepts,
  close in likelihood, mean the model cannot tell which was meant (a rewrite
  that leaves more words the rest of the file never mentions than the taken
  one, unknown_names.new_words, is not counted: file_repair._runner_up);
- either: whether the rewrite loads a name the rest of the file never
  mentions (unknown_names.py): the slip joined two names and the repair kept
  them joined (``charsi`` for ``chars[i]``), or calls a ``self.assert...``
  method with arguments unittest's signature rejects (testcase_calls.py);
- for an indentation error the indentation search did not settle: whether
  one-line indentation moves other than the rewrite compile
  (indent_candidates.py). A slip moves one line; a rewrite that moves
  several, or one of moves the text cannot tell apart, is the model guessing
  (on held-out data its pick among such moves was the original 27 times in 34:
  docs/indent_rival_picks.py).

``judge`` applies a policy to every rewrite a file repair took (all must
pass) and says why it abstains; the pipelines (workflows/fix/syntax.py, the
hook, the TUI) then leave the file alone and report "not confident enough to
repair line N".
"""

from __future__ import annotations

from dataclasses import dataclass

from dgcode.repair.repair_model import WindowRepair


@dataclass(frozen=True)
class AbstainPolicy:
    """When a rewrite is offered. The defaults are calibrated on the held-out set (docs/model.md)."""

    min_margin: float = 4.0
    """A runner-up rewrite that also compiles must be at least this much less likely (log-probability) than the
    rewrite taken; ``repair.min_margin`` in the config."""
    max_cost: float = 3.0
    """A ranked alternative (the denoised answer did not compile): at most this far below the most likely."""
    min_confidence: float = 0.0
    """The denoised answer: every token committed with at least this probability (0: not checked)."""
    allow_unknown_names: bool = False
    """Offer a rewrite that loads a name the rest of the file never mentions (taken only when no other compiles)."""
    allow_rival_moves: bool = False
    """Offer a rewrite of an indentation error when other one-line indentation moves compile too."""
    allow_rejected_calls: bool = False
    """Offer a rewrite that calls a ``self.assert...`` method with arguments unittest's signature rejects."""


DEFAULT_POLICY = AbstainPolicy()
OFFER_EVERYTHING = AbstainPolicy(min_margin=0.0, max_cost=float("inf"), min_confidence=0.0, allow_unknown_names=True,
                                 allow_rival_moves=True, allow_rejected_calls=True)
"""Every repair that compiles is offered (the behaviour before abstention; ``repair.min_margin = 0``)."""


def policy_for(min_margin: float) -> AbstainPolicy:
    """The default policy with the configured ``repair.min_margin`` (0: offer every repair that compiles)."""
    if min_margin <= 0:
        return OFFER_EVERYTHING
    return AbstainPolicy(min_margin=min_margin)


def min_confidence(window: WindowRepair) -> float:
    return min(window.confidence, default=0.0)


def cost(window: WindowRepair) -> float:
    """How far the taken rewrite is below the most likely operations (0 for the denoised answer)."""
    return window.costs[0] if window.rank and window.costs else 0.0


def window_problem(window: WindowRepair, policy: AbstainPolicy) -> str | None:
    """Why ``policy`` does not offer this rewrite, or None when it does."""
    if window.unknown_names and not policy.allow_unknown_names:
        names = ", ".join(window.unknown_names[:3])
        return f"the repair uses a name the rest of the file never mentions ({names})"
    if window.rejected_calls and not policy.allow_rejected_calls:
        calls = ", ".join(f"self.{name}" for name in window.rejected_calls[:3])
        return f"the repair calls {calls} with arguments unittest.TestCase's signature rejects"
    if window.rival_moves and not policy.allow_rival_moves:
        return f"{window.rival_moves} other one-line indentation move(s) compile too"
    if window.rank == 0:
        lowest = min_confidence(window)
        if lowest < policy.min_confidence:
            return f"a token of the rewrite was committed with probability {lowest:.2f} < {policy.min_confidence:g}"
    elif cost(window) > policy.max_cost:
        return (f"the model's answer did not compile, and its next guess is {cost(window):.2f} below the most "
                f"likely (more than {policy.max_cost:g})")
    if window.runner_up is not None and policy.min_margin > 0:
        gap = (window.runner_up_cost or 0.0) - cost(window)
        if gap < policy.min_margin:
            return (f"another rewrite of those lines also compiles and is nearly as likely ({gap:.1f} < "
                    f"{policy.min_margin:g} behind)")
    return None


def judge(windows: list[WindowRepair] | tuple[WindowRepair, ...], policy: AbstainPolicy) -> str | None:
    """Why the repair made of ``windows`` is not offered (the first rewrite that fails), or None to offer it."""
    for window in windows:
        problem = window_problem(window, policy)
        if problem is not None:
            return problem
    return None
