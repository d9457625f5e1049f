"""The joined-line search (dgcode/repair/joined_candidates.py): two statements a lost line break put on one
line are split again where one split compiles with no unreachable statement, no statement that does nothing
and no scope oddity."""

from __future__ import annotations

import ast

from dgcode.repair.file_repair import repair_source
from dgcode.repair.joined_candidates import (
    best_joined_split,
    block_at,
    does_nothing,
    joined_window,
    top_level_spaces,
    unreachable,
)
from dgcode.repair.repair_model import syntax_error


def split(source: str) -> str | None:
    error = syntax_error(source)
    assert error is not None and error.msg.startswith("invalid syntax")
    found = best_joined_split(source, error)
    if found is None:
        return None
    lines = source.splitlines(keepends=True)
    lines[found[0]] = found[1]
    return "".join(lines)


def test_the_one_split_that_compiles_is_taken_at_the_level_the_next_line_needs():
    broken = "def f(s1, s2):\n    s1.d = 3.14 s2 = len(s1)\n    return s2\n"
    assert split(broken) == "def f(s1, s2):\n    s1.d = 3.14\n    s2 = len(s1)\n    return s2\n"


def test_a_statement_after_a_return_is_not_where_the_split_goes():
    # `raise` in the `if` block after `return label` is unreachable: it was the function's last line
    broken = "def check(label):\n    if 0 < len(label) < 64:\n        return label raise ValueError(label)\n"
    assert split(broken) == ("def check(label):\n    if 0 < len(label) < 64:\n        return label\n"
                             "    raise ValueError(label)\n")


def test_a_missing_comma_is_not_split_into_a_statement_that_does_nothing():
    broken = "def f(a, b):\n    x = a b\n    return x\n"  # `x = a` / `b`: a bare name does nothing
    assert split(broken) is None


def test_two_levels_that_read_alike_give_no_split():
    broken = "def f(x):\n    if x:\n        x = 1 g(x)\n\ny = 2\n"  # g(x) in the `if` or after it
    assert split(broken) is None and joined_window(broken, syntax_error(broken)) is None


def test_only_spaces_outside_strings_and_brackets_are_split():
    assert top_level_spaces('x = f(a, b) y = "c d"') == [1, 3, 11, 13, 15]
    assert top_level_spaces("b) z = 1  # a comment") == [2, 4, 6]


def test_the_statement_checks():
    tree = ast.parse("def f(x):\n    return x\n    g(x)\nx\nf(1)\ny = 1\n'doc of y'\n"
                     "def h(x):\n    'doc'\n    assert x\n    'message'\n")
    assert unreachable(tree, 3) and not unreachable(tree, 2)
    assert does_nothing(tree, 4) and not does_nothing(tree, 5)
    assert not does_nothing(tree, 7) and not does_nothing(tree, 9)  # an attribute's docstring, a function's
    assert does_nothing(tree, 11)                                     # a string after an assert in a function
    assert block_at(tree, 3)[2] == 1 and block_at(tree, 12) is None


def test_dgcode_fix_splits_with_no_model_call():
    calls = []

    def model(source, lineno, message, sample, offset=0):
        calls.append(lineno)
        return None

    fixed = repair_source("t.py", "import os\nx = os.sep os.getcwd()\n", model)
    assert fixed.repaired == "import os\nx = os.sep\nos.getcwd()\n" and fixed.repaired_ok and calls == []
    assert fixed.second_guesses == 1  # not the model's first answer: dgcode fix says so
    left = repair_source("t.py", "import os\nos.sep os.getcwd()\n", model)  # `os.sep` alone does nothing
    assert calls and left.repaired == left.original


def test_a_split_inside_a_method_is_judged_on_its_dedented_region():
    # the compile region is the method, dedented by four spaces: both lines of the split are dedented
    broken = ("class A:\n    def f(self, s):\n        self.d = 3.14 s = len(s)\n        return s\n\n"
              "    def g(self):\n        return 1\n")
    assert split(broken) == ("class A:\n    def f(self, s):\n        self.d = 3.14\n        s = len(s)\n"
                             "        return s\n\n    def g(self):\n        return 1\n")
