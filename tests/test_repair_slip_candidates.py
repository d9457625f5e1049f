"""Slip candidates (dgcode/repair/slip_candidates.py) and their place in file_repair's attempt plan.

The repairer here is one that never answers (a model that gives no usable
answer), so every repair below comes from the candidates and the compiler.
"""

from __future__ import annotations

import pytest

from dgcode.repair.abstain import DEFAULT_POLICY, OFFER_EVERYTHING
from dgcode.repair.file_repair import ATTEMPT_PLAN, repair_source
from dgcode.repair.slip_candidates import indent_unit, one_edit_apart, slip_candidates


def no_model(*_args):
    return None


@pytest.mark.parametrize("word, kw, apart", [
    ("retrun", "return", True),   # neighbours swapped
    ("retun", "return", True),    # a letter dropped
    ("returnn", "return", True),  # a letter doubled
    ("reture", "return", True),   # a letter replaced
    ("esle", "else", True),
    ("return", "return", False),
    ("rtuern", "return", False),  # two edits
    ("ertrun", "return", False),
    ("imprt", "import", True),
    ("x", "if", False),
])
def test_one_edit_apart(word, kw, apart):
    assert one_edit_apart(word, kw) is apart
    assert one_edit_apart(kw, word) is apart


@pytest.mark.parametrize("broken, fixed", [
    ("def f(x):\n    retrun x + 1\n\nprint(f(2))\n", "def f(x):\n    return x + 1\n\nprint(f(2))\n"),
    ("for item in range(3):\n    print(item)\nesle:\n    pass\n",  # a for's else
     "for item in range(3):\n    print(item)\nelse:\n    pass\n"),
    ("import os\nfrom os imprt path\n", "import os\nfrom os import path\n"),
    ("x = 1\nwhil x < 3:\n    x += 1\n", "x = 1\nwhile x < 3:\n    x += 1\n"),
])
def test_a_misspelled_keyword_is_repaired_from_the_candidates(broken, fixed):
    result = repair_source("m.py", broken, no_model, policy=DEFAULT_POLICY)
    assert result.repaired == fixed and result.repaired_ok and not result.abstained
    assert result.second_guesses == 1  # not the model's first answer: dgcode fix says so


def test_a_line_at_the_wrong_indentation_is_moved_to_the_only_level_that_compiles():
    broken = "def f(x):\n    y = x * 2\n      return y\n\nprint(f(1))\n"
    result = repair_source("m.py", broken, no_model, policy=DEFAULT_POLICY)
    assert result.repaired == "def f(x):\n    y = x * 2\n    return y\n\nprint(f(1))\n"


def test_two_candidates_that_compile_are_withheld_with_the_file_unchanged():
    # `    z = 3` after the inner block may belong to the `if` or to the function: both compile
    broken = "def f(x):\n    if x:\n        y = 1\n   z = 3\n    return x\n"
    window = slip_candidates(broken, 4)
    assert window is not None and len(window.rewrites()) >= 2
    result = repair_source("m.py", broken, no_model, policy=DEFAULT_POLICY)
    assert result.abstained and result.repaired == broken
    assert "not confident enough to repair line 4" in result.problem
    offered = repair_source("m.py", broken, no_model, policy=OFFER_EVERYTHING)
    assert offered.repaired_ok and offered.repaired != broken


def test_a_word_the_file_uses_elsewhere_is_not_respelled():
    # `fro` is a name the file defines: replacing it by `for` is not proposed
    source = "fro = 1\nprint(fro\n"
    window = slip_candidates(source, 2)
    assert window is None or all("for" not in "".join(lines) for lines in window.rewrites())


def test_tabs_and_comments_keep_their_indentation():
    source = "if x:\n\tpass\n  # a comment\n"
    window = slip_candidates(source, 2)
    assert window is None or all(lines[1] == "\tpass\n" and lines[2] == "  # a comment\n"
                                 for lines in window.rewrites())


def test_the_indentation_unit_is_the_files():
    assert indent_unit(["if a:\n", "  b = 1\n", "  if c:\n", "    d = 2\n"]) == 2
    assert indent_unit(["x = 1\n"]) == 4


def test_the_model_is_asked_first_and_the_candidates_are_its_second_try():
    assert [plan.search for plan in ATTEMPT_PLAN[:3]] == ["message", "", "slips"]
    calls = []

    def model(source, lineno, message, sample, offset=0):
        calls.append((lineno, sample))
        return None

    repair_source("m.py", "def f(x):\n    retrun x\n", model, policy=DEFAULT_POLICY, attempts=2)
    assert calls == [(2, 0)]  # --attempts 2 is the bracket search (nothing here) and the model's first answer
