"""TestCase calls (dgcode/repair/testcase_calls.py): a rewrite that calls a ``self.assert...`` method with
arguments unittest's own signature rejects is held back while the model's later rewrites are tried, and is
not offered when it is all there is (file_repair.py, abstain.py)."""

from __future__ import annotations

import ast

from dgcode.repair.abstain import DEFAULT_POLICY, OFFER_EVERYTHING
from dgcode.repair.canvas import split_lines
from dgcode.repair.file_repair import ATTEMPT_PLAN, repair_source
from dgcode.repair.repair_model import WindowRepair
from dgcode.repair.testcase_calls import rejected, rejected_calls_on

BROKEN = ("import unittest\n\n\nclass T(unittest.TestCase):\n    def test(self):\n"
          "        fmt = '{}'\n        self.assertEqual(fmt.format('a', 'a')\n")
MEANT = BROKEN.replace("fmt.format('a', 'a')\n", "fmt.format('a'), 'a')\n")
ONE_ARGUMENT = BROKEN.replace("fmt.format('a', 'a')\n", "fmt.format('a', 'a'))\n")
MODEL_ONLY = (ATTEMPT_PLAN[1],)  # the model's trained window, no search: the hold is what is tested


def call(code: str) -> ast.Call:
    return ast.parse(code, mode="eval").body


def test_a_call_unittest_s_signature_rejects_is_found_and_one_it_accepts_is_not():
    assert rejected(call("self.assertEqual(x)")) and rejected(call("self.assertTrue(a, b, c)"))
    assert rejected(call("self.assertEqual(a, b, foo=1)"))
    assert not rejected(call("self.assertEqual(a, b)")) and not rejected(call("self.assertEqual(a, b, msg='m')"))
    assert not rejected(call("self.assertRaises(ValueError, f, 1, 2)"))  # *args: any count binds
    assert not rejected(call("self.assertEqual(*pair)")) and not rejected(call("other.assertEqual(x)"))
    assert not rejected(call("self.check(x)"))  # not a TestCase method
    assert rejected_calls_on(ONE_ARGUMENT, 6, 1) == ("assertEqual",)
    assert rejected_calls_on(MEANT, 6, 1) == ()
    assert rejected_calls_on(ONE_ARGUMENT.replace("unittest.TestCase", "object").replace("import unittest",
                                                                                        ""), 4, 1) == ()
    own = ONE_ARGUMENT.replace("    def test(self):", "    def assertEqual(self, pair):\n        pass\n\n"
                                                     "    def test(self):")
    assert rejected_calls_on(own, 9, 1) == ()  # the file's own assertEqual takes one argument


def model_answering(*rewrites: str):
    """A repairer whose ranked rewrites of the reported line are ``rewrites``, most likely first."""
    def model(source, lineno, message, sample, offset=0):
        lines = split_lines(source)
        row = lineno - 1
        first, *rest = ((line,) for line in rewrites)
        return WindowRepair(row, row + 1, (lines[row],), first, alternatives=tuple(rest), costs=(0.5,) * len(rest),
                            steps=1, tokens=1, wall_s=0.0)
    return model


def test_a_rejected_call_is_held_while_a_later_rewrite_that_compiles_is_taken():
    model = model_answering("        self.assertEqual(fmt.format('a', 'a'))\n", "        self.assertEqual(fmt.format('a'), 'a')\n")
    result = repair_source("t.py", BROKEN, model, policy=DEFAULT_POLICY, plan=MODEL_ONLY)
    assert result.repaired == MEANT and result.windows[0].rank == 1


def test_a_rejected_call_that_is_all_there_is_is_not_offered():
    model = model_answering("        self.assertEqual(fmt.format('a', 'a'))\n")
    result = repair_source("t.py", BROKEN, model, policy=DEFAULT_POLICY, plan=MODEL_ONLY)
    assert result.abstained and result.repaired == BROKEN and result.withheld == ONE_ARGUMENT
    assert "self.assertEqual with arguments unittest.TestCase's signature rejects" in result.problem
    offered = repair_source("t.py", BROKEN, model, policy=OFFER_EVERYTHING, plan=MODEL_ONLY)
    assert not offered.abstained and offered.repaired == ONE_ARGUMENT
