"""The indentation search (dgcode/repair/indent_candidates.py, scope_oddities.py): the one line whose
indentation an IndentationError points back to, taken only when one move is best with no scope oddity; and
the abstention rule for a model rewrite that is none of the moves that compile."""

from __future__ import annotations

import ast
import io
import json
import tokenize
from pathlib import Path

import pytest

import dgcode.repair.file_repair
from dgcode.repair.abstain import DEFAULT_POLICY, OFFER_EVERYTHING
from dgcode.repair.canvas import split_lines
from dgcode.repair.file_repair import ATTEMPT_PLAN, repair_source
from dgcode.repair.indent_candidates import (
    best_indent_move,
    indent_moves,
    indent_search,
    logical_lines,
    moved,
)
from dgcode.repair.repair_model import WindowRepair, syntax_error
from dgcode.repair.scope_oddities import declared_globals, scope_oddities

MESSAGE_ONLY = tuple(entry for entry in ATTEMPT_PLAN if entry.search == "message")


def tokenizer_lines(lines: list[str]) -> list[tuple[int, int, bool]]:
    """The logical lines as tokenize gives them (the reference): (first row, its indentation, ends in ':')."""
    out, start, last = [], None, None
    for token in tokenize.generate_tokens(io.StringIO("".join(line.lstrip(" ") for line in lines)).readline):
        if token.type in (tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
            continue
        if token.type == tokenize.NEWLINE:
            text = lines[start]
            out.append((start, len(text) - len(text.lstrip(" ")), last.string == ":"))
            start = None
            continue
        if start is None:
            start = token.start[0] - 1
        last = token
    return out


TRICKY = '''\
def f(a, b=(1,
            2)):  # a comment with a quote ' and a colon:
    s = "a \\" quote" + 'b' + """x
  y: (
""" + f"{a!r}:"
    if a and \\
            b:
        return {'k': [1,
                      2]}
    t = r'\\'' ; u = b"\\\\"
    return s
class C: pass
'''


@pytest.mark.parametrize("source", [
    TRICKY,
    Path(ast.__file__).read_text(encoding="utf-8"),
    Path(json.__file__).read_text(encoding="utf-8"),
    Path(dgcode.repair.file_repair.__file__).read_text(encoding="utf-8"),
])
def test_the_logical_lines_are_the_tokenizers(source):
    lines = split_lines(source)
    found = logical_lines(lines)
    assert found is not None
    assert [(line.row, line.indent, line.opener) for line in found] == tokenizer_lines(lines)


def test_a_string_that_never_ends_or_a_tab_gives_no_lines():
    assert logical_lines(split_lines('x = """abc\ny = 1\n')) is None
    assert logical_lines(split_lines("if x:\n\ty = 1\n")) is None


def repaired(source: str) -> str | None:
    move = best_indent_move(indent_moves(source, syntax_error(source)))
    return None if move is None else moved(source, move)


METHODS = '''\
class T:
    def setUp(self):
        self.x = 1

    def test_a(self):
        self.check(self.x)
        self.check(2)

    def test_b(self):
        self.check(3)
'''


def slipped(source: str, row: int, indent: int) -> str:
    lines = split_lines(source)
    lines[row] = " " * indent + lines[row].lstrip(" ")
    return "".join(lines)


def test_a_method_dedented_off_its_level_is_found_where_it_is_not_where_it_is_reported():
    broken = slipped(METHODS, 4, 0)  # `def test_a(self):` at column 0 breaks only at `    def test_b`
    error = syntax_error(broken)
    assert isinstance(error, IndentationError) and error.lineno == 9
    assert repaired(broken) == METHODS


def test_a_statement_dedented_into_the_class_body_loses_to_the_method_it_was_in():
    # `self.check(2)` at 4 spaces compiles (a class-body statement), but `self` means nothing there
    broken = slipped(METHODS, 6, 5)
    moves = indent_moves(broken, syntax_error(broken))
    assert {move.indent for move in moves} >= {4, 8}
    assert [move.oddities for move in moves if move.indent == 4] == [1]
    assert repaired(broken) == METHODS


def test_a_method_indented_into_the_one_above_is_moved_back_rather_than_its_body_indented():
    # `def test_b` at 8 with its body at 8: indenting the body to 12 compiles too (a nested def never used,
    # taking `self`), and so does the def at column 0 (`self` outside a class, an eight-space step)
    broken = slipped(METHODS, 8, 8)
    moves = {(move.row, move.indent): move for move in indent_moves(broken, syntax_error(broken))}
    assert set(moves) == {(8, 4), (9, 12), (8, 0)}
    assert moves[8, 4].oddities == 0 and moves[9, 12].oddities == 2
    assert (moves[8, 0].oddities, moves[8, 0].odd_steps) == (1, 1)
    assert repaired(broken) == METHODS


AMBIGUOUS = '''\
def f(value):
    if value:
        leader = 1
    else:
        leader = None
      value = leader
    return value
'''


def test_two_moves_that_read_alike_give_no_repair_and_are_kept_as_rivals():
    # `value = leader` at 6: in the else block (8) or after it (4), both plain code
    window, rivals = indent_search(AMBIGUOUS, syntax_error(AMBIGUOUS))
    assert window is None and len(rivals) == 2
    assert all(syntax_error(source) is None for source in rivals)


def test_other_errors_are_not_searched():
    assert indent_moves("x = (1,\n", syntax_error("x = (1,\n")) == []
    assert indent_moves(METHODS, SyntaxError("invalid syntax")) == []


def test_the_scope_oddities_are_counted():
    tree = ast.parse("import os\nclass A:\n    self.x = os.sep\n    def m(self):\n        def unused():\n"
                     "            pass\n        return os\ndef g(self):\n    return missing\n")
    assert scope_oddities(tree, 3, 3) == 1          # `self` in the class body
    assert scope_oddities(tree, 4, 4) == 0          # a method's `self`
    assert scope_oddities(tree, 5, 5) == 1          # a local def the method never uses
    assert scope_oddities(tree, 8, 9) == 2          # `self` outside a class, a name nothing binds
    assert scope_oddities(tree, 8, 9, check_names=False) == 1
    assert declared_globals("def f():\n    global a, b\n") == {"a", "b"}
    recursive = ast.parse("def outer():\n    def walk(n):\n        return walk(n - 1)\n    return 1\n")
    assert scope_oddities(recursive, 2, 2) == 1     # only it calls itself: no use to the function it is in


def test_the_search_repairs_with_no_model_call():
    calls = []

    def model(source, lineno, message, sample, offset=0):
        calls.append(lineno)
        return None

    result = repair_source("t.py", slipped(METHODS, 4, 3), model, policy=DEFAULT_POLICY)
    assert result.repaired == METHODS and not result.abstained and calls == []
    assert result.second_guesses == 1  # not the model's first answer: dgcode fix says so


def model_answering(*new_lines: str):
    """A repairer whose rewrite of the reported line (and the lines after it) is ``new_lines``."""
    def model(source, lineno, message, sample, offset=0):
        lines = split_lines(source)
        row = lineno - 1
        return WindowRepair(row, row + len(new_lines), tuple(lines[row:row + len(new_lines)]), new_lines,
                            steps=1, tokens=1, wall_s=0.0)
    return model


WITH_THE_MODEL = MESSAGE_ONLY + (ATTEMPT_PLAN[1],)


def test_a_model_rewrite_that_is_none_of_the_moves_is_withheld():
    model = model_answering("        value = leader\n", "        return value\n")  # two lines: compiles
    result = repair_source("t.py", AMBIGUOUS, model, policy=DEFAULT_POLICY, plan=WITH_THE_MODEL)
    assert result.abstained and result.repaired == AMBIGUOUS
    assert "2 other one-line indentation move(s) compile too" in result.problem
    offered = repair_source("t.py", AMBIGUOUS, model, policy=OFFER_EVERYTHING, plan=WITH_THE_MODEL)
    assert offered.repaired_ok and not offered.abstained


def test_the_model_picking_one_of_moves_that_read_alike_is_withheld():
    model = model_answering("    value = leader\n")
    result = repair_source("t.py", AMBIGUOUS, model, policy=DEFAULT_POLICY, plan=WITH_THE_MODEL)
    assert result.abstained and result.withheld == slipped(AMBIGUOUS, 5, 4)
    assert "1 other one-line indentation move(s) compile too" in result.problem


LONE = "def f():\n    x = 1  # missing is set elsewhere\n  y = missing\n    return y\n"


def test_the_model_agreeing_with_the_one_move_left_is_offered():
    # one move compiles (`  y = missing` to 4), with a scope oddity (`missing`), so the search does not take it
    window, rivals = indent_search(LONE, syntax_error(LONE))
    assert window is None and rivals == {slipped(LONE, 2, 4)}
    result = repair_source("t.py", LONE, model_answering("    y = missing\n"), policy=DEFAULT_POLICY,
                           plan=WITH_THE_MODEL)
    assert not result.abstained and result.repaired == slipped(LONE, 2, 4)


def test_a_model_rewrite_that_only_moves_the_error_down_is_withheld_when_moves_compile():
    # the model's rewrite leaves an error further down (repaired in a second round by the search): with one-line
    # moves that compile for the first error, that path is not offered
    answer = model_answering("        value = leader\n", "      return value\n")
    calls = []

    def model(source, lineno, message, sample, offset=0):  # answers once, then has nothing
        calls.append(lineno)
        return answer(source, lineno, message, sample, offset) if len(calls) == 1 else None

    plan = ATTEMPT_PLAN[:3]  # the searches, the model, the slip candidates (which repair the second round)
    first = repair_source("t.py", AMBIGUOUS, model, policy=OFFER_EVERYTHING, plan=plan)
    assert [window.plan for window in first.windows] == [1, 2] and first.repaired_ok
    calls.clear()
    result = repair_source("t.py", AMBIGUOUS, model, policy=DEFAULT_POLICY, plan=plan)
    assert result.abstained and result.repaired == AMBIGUOUS
    assert "2 other one-line indentation move(s) compile too" in result.problem
