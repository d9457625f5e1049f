"""Unknown names a repair leaves (dgcode/repair/unknown_names.py), and how file_repair and abstain.py use them:
a compiling rewrite that keeps a slip's joined name is passed over for a clean one, and offered by no default."""

from __future__ import annotations

from dgcode.repair.abstain import DEFAULT_POLICY, OFFER_EVERYTHING, judge
from dgcode.repair.file_repair import ATTEMPT_PLAN, repair_source
from dgcode.repair.repair_model import WindowRepair
from dgcode.repair.unknown_names import new_words, unknown_names, words_outside

ORIGINAL = """\
def swap(chars, i):
    if chars[i] == 'z':
        chars[i] = 'A'
    return chars
"""
BROKEN = ORIGINAL.replace("    if chars[i]", "    if charsi]")  # a deleted bracket joined two names
KEPT_JOINED = ORIGINAL.replace("    if chars[i]", "    if charsi")  # compiles, and is wrong
MODEL_ONLY = tuple(entry for entry in ATTEMPT_PLAN if entry.search != "message")
"""The plan without the bracket search, which repairs these crafted slips itself (test_repair_bracket_candidates.py):
the tests here are about how the model's rewrites are judged."""


def check(source: str, line: int, count: int = 1) -> tuple[str, ...]:
    """unknown_names of 0-based ``line`` (and ``count`` - 1 after it), knowing the words around them."""
    return unknown_names(source, line, count, words_outside(source, line, line + count))


def test_a_joined_name_is_unknown_and_the_meant_code_is_clean():
    assert check(KEPT_JOINED, 1) == ("charsi",)
    assert check(ORIGINAL, 1) == ()


def test_names_bound_on_the_lines_builtins_and_words_used_elsewhere_are_known():
    source = ("import os\n"
              "def f(items):\n"
              "    for fresh_name in items: total = len(fresh_name) + helper\n"
              "    # helper is defined by the plugin loader\n"
              "    return [y for y in items if os.path.isdir(y)], __file__, total\n")
    assert check(source, 2) == ()  # for-target, assignment, builtin, and `helper` mentioned in a comment
    assert check(source, 4) == ()  # comprehension target, an import, a module dunder
    lambda_line = "key = lambda pair, *rest, **kw: (pair, rest, kw, missing)\n"
    assert check(lambda_line, 0) == ("missing",)
    caught = "try:\n    pass\nexcept OSError as failure:\n    raise failure from cause\n"
    assert check(caught, 2, 2) == ("cause",)


def test_attributes_keywords_and_strings_are_not_names_and_other_lines_are_not_looked_at():
    source = "result = obj.unheard_of(keyword_arg=1, text='quux')\nobj = result\nlater = nowhere_else\n"
    assert check(source, 0) == ()
    assert check(source, 2) == ("nowhere_else",)
    assert check(source, 1) == ()  # line 2's unknown name is outside the lines checked


def test_a_file_with_a_star_import_is_not_checked():
    source = "from tkinter import *\nroot = Tk()\n"
    assert words_outside(source, 1, 2) is None
    assert unknown_names(source, 1, 1, None) == ()
    assert unknown_names(source, 1, 1, frozenset()) == ("Tk",)  # what the star import excuses


def slip_ask(rewrites: list[str]):
    """A model that rewrites line 2 of BROKEN with ``rewrites`` in order (its answer first); records each call."""
    asked = []

    def ask(source, lineno, message, attempt, offset=0):
        asked.append((lineno, attempt))
        lines = tuple(line if line.endswith("\n") else line + "\n" for line in rewrites)
        return WindowRepair(1, 2, ("    if charsi] == 'z':\n",), lines[:1], 2, 5, 0.0, confidence=(0.99,) * 5,
                            alternatives=tuple((line,) for line in lines[1:]),
                            costs=tuple(0.5 * (k + 1) for k in range(len(lines) - 1)))
    return ask, asked


def test_a_clean_rewrite_after_the_joined_one_is_taken():
    ask, asked = slip_ask(["    if charsi == 'z':", "    if chars[i] == 'z':"])
    result = repair_source("m.py", BROKEN, ask, policy=DEFAULT_POLICY, plan=MODEL_ONLY)
    assert result.repaired == ORIGINAL and result.repaired_ok and not result.abstained
    assert result.windows[0].rank == 1 and result.windows[0].unknown_names == ()
    assert len(asked) == 1, "the clean rewrite was in the first answer's ranked list"


def test_when_only_the_joined_rewrite_compiles_every_attempt_is_tried_and_the_repair_is_withheld():
    ask, asked = slip_ask(["    if charsi == 'z':", "    if charsi] == 'y':"])
    result = repair_source("m.py", BROKEN, ask, policy=DEFAULT_POLICY, plan=MODEL_ONLY)
    assert len(asked) > 1, "the later attempts were asked for a clean rewrite"
    assert result.abstained and result.repaired == BROKEN and result.withheld == KEPT_JOINED
    assert result.windows[0].unknown_names == ("charsi",)
    assert "the repair uses a name the rest of the file never mentions (charsi)" in result.problem
    assert judge(result.windows, OFFER_EVERYTHING) is None  # repair.min_margin = 0 still offers it
    offered = repair_source("m.py", BROKEN, ask, policy=OFFER_EVERYTHING, plan=MODEL_ONLY)
    assert offered.repaired == KEPT_JOINED and not offered.abstained


ATTR_ORIGINAL = """\
class T:
    def test(self, sem):
        self.assertEqual(0, sem.value)
        self.assertTrue(sem.value == 0)
        self.assertEqual(sem.count, 1)
"""
ATTR_BROKEN = ATTR_ORIGINAL.replace("assertEqual(0", "assertEqual0")  # the dropped '(' joined a name and a number


def test_new_words_counts_attributes_and_keyword_arguments_the_rest_of_the_file_never_mentions():
    known = words_outside(ATTR_BROKEN, 2, 3)
    assert new_words(ATTR_ORIGINAL, 2, 1, known) == 0, "assertEqual is used below, and 0 is no word"
    assert new_words(ATTR_ORIGINAL.replace("assertEqual(0, sem.value)", "assertEqual0(sem.value)"), 2, 1,
                     known) == 1, "an attribute counts, not only loaded names"
    assert new_words(ATTR_ORIGINAL.replace("self.assertEqual(0", "self.assertEquals(0"), 2, 1, known) == 1
    assert new_words(ATTR_ORIGINAL.replace("(0, sem.value)", "(0, strict=sem.value)"), 2, 1, known) == 1
    assert new_words(ATTR_ORIGINAL.replace("0, sem.value", "len(sem.value)"), 2, 1, known) == 0, "builtins"
    assert new_words(ATTR_ORIGINAL, 2, 1, None) == 0, "a star import: nothing is checked"


def joined_name_ask(runner_up: str):
    """A model whose answer does not compile; its first guess splits the joined name (the meant repair), its
    second, nearly as likely, also compiles: ``runner_up``."""
    line = "        self.assertEqual0, sem.value)\n"

    def ask(source, lineno, message, attempt, offset=0):
        return WindowRepair(2, 3, (line,), (line,), 2, 5, 0.0, confidence=(0.9,) * 5,
                            alternatives=(("        self.assertEqual(0, sem.value)\n",), (runner_up,)),
                            costs=(0.2, 0.4))
    return ask


def test_a_runner_up_that_keeps_the_joined_name_does_not_stop_the_meant_repair():
    kept_joined = "        (self.assertEqual0, sem.value)\n"  # compiles: a tuple, with the new word assertEqual0
    offered = repair_source("t.py", ATTR_BROKEN, joined_name_ask(kept_joined), policy=DEFAULT_POLICY, plan=MODEL_ONLY)
    assert offered.repaired == ATTR_ORIGINAL and not offered.abstained
    assert offered.windows[0].runner_up is None
    as_plausible = "        self.assertEqual(0, sem).value\n"  # compiles, and leaves no new word: a real rival
    withheld = repair_source("t.py", ATTR_BROKEN, joined_name_ask(as_plausible), policy=DEFAULT_POLICY, plan=MODEL_ONLY)
    assert withheld.abstained and withheld.withheld == ATTR_ORIGINAL and withheld.repaired == ATTR_BROKEN
    assert withheld.windows[0].runner_up == 2 and "also compiles" in withheld.problem
