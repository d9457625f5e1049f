"""The bracket search (dgcode/repair/bracket_candidates.py, compile_region.py, call_arity.py): one-bracket repairs
found from the compiler's message, ranked by new words and call arity, taken only when one meaning is left."""

from __future__ import annotations

import ast

from dgcode.repair.bracket_candidates import (
    _is_joined_decorator,
    _span,
    _statements_on,
    best_bracket_repair,
    bracket_candidates,
    bracket_window,
)
from dgcode.repair.bracket_sites import closers_before_error, openers_above, rows_below
from dgcode.repair.call_arity import CallCounts, builtin_counts, calls_in
from dgcode.repair.canvas import split_lines
from dgcode.repair.compile_region import CompileRegion
from dgcode.repair.file_repair import repair_source
from dgcode.repair.repair_model import syntax_error
from dgcode.repair.unknown_names import bound_names, undefined_loads

HELPERS = """\
import os


def cleanup(self):
    os.remove(self.path)
    self.assertEqual(len(self.items), 0)
    self.assertEqual(self.path, None)


"""


def best(source: str) -> str | None:
    error = syntax_error(source)
    assert error is not None
    found = best_bracket_repair(source, error)
    return None if found is None else found.applied_to(source)


def test_a_dropped_opener_goes_back_where_it_splits_the_joined_words():
    original = HELPERS + "def tear_down(self):\n    os.remove(self.fname)\n"
    broken = original.replace("os.remove(self.fname)", "os.removeself.fname)")
    assert syntax_error(broken).msg == "unmatched ')'"
    listed = bracket_candidates(broken, syntax_error(broken))
    assert any(c.new_line.strip() == "os.removeself.fname" for c in listed)  # deleting the ')' compiles too
    assert best(broken) == original


def test_a_dropped_closer_goes_where_every_call_gets_the_argument_count_the_file_uses():
    original = HELPERS + "def check(self, items):\n    self.assertEqual(len(items), 0)\n"
    broken = original.replace("len(items), 0)", "len(items, 0)")
    assert syntax_error(broken).msg == "'(' was never closed"
    assert best(broken) == original  # not len(items, 0): len takes one argument, assertEqual two here


def test_two_meanings_left_give_no_repair():
    broken = "def f(g, a, b):\n    x = g(a, b\n    return x\n"  # g(a, b) or g(a), b: nothing tells them apart
    error = syntax_error(broken)
    assert len({c.new_line for c in bracket_candidates(broken, error)}) >= 2
    assert best(broken) is None and bracket_window(broken, error) is None


def test_rewrites_with_one_meaning_are_one_repair_written_without_spaces_inside():
    broken = "def f(g, y):\n    x = g(y  \n    return x\n"
    assert best(broken) == "def f(g, y):\n    x = g(y)  \n    return x\n"  # not g(y ) or g(y  ): the same code


def test_a_split_that_calls_a_name_nothing_defines_is_not_taken():
    original = "import os\n\n\ndef f(base):\n    return os.path.splitdrive(base)[1]  # chop off the drive\n"
    broken = original.replace("(base)[1]", "(base))[1]")
    # os.path.split(drive(base)) compiles and is the only rewrite with no new word (`drive` is in a comment),
    # but it calls `drive`, which nothing defines; the deletion then ties with splitdrive(base()): no repair
    assert best(broken) is None  # a tie here with or without the rule: what the rule reads is checked below
    split = ast.parse(original.replace("splitdrive(base)", "split(drive(base))"))
    assert undefined_loads([split], range(5, 6), bound_names(split)) == 1  # drive
    assert undefined_loads([ast.parse(original)], range(5, 6), bound_names(ast.parse(original))) == 0


def test_a_closer_on_its_own_line_goes_at_an_indentation_in_use():
    original = "class A:\n    def get(\n        self, x\n    ) -> int: ...\n"
    broken = original.replace("    ) -> int", "     -> int")
    assert best(broken) == original  # not ")     -> int" or "     )-> int"


def test_statements_in_an_except_clause_are_compared_themselves():
    broken = ("import unittest\n\n\nclass T(unittest.TestCase):\n    def test(self):\n        try:\n"
              "            import nis\n        except ImportError as msg:\n"
              "            self.skipTeststr(msg))\n")
    # skipTest(str(msg)) and skipTeststr(msg) are different calls, each with one new word: no repair
    assert best(broken) is None


def test_a_message_that_names_no_bracket_has_no_candidates():
    broken = "def f(x)\n    return x\n"
    assert bracket_candidates(broken, syntax_error(broken)) == []


def test_the_compile_region_is_the_enclosing_function_and_fails_as_the_file_does():
    source = "x = 1\n\n\ndef f(a):\n    if a:\n        return g(a\n    return 0\n\n\ny = 2\n"
    lines, error = split_lines(source), syntax_error(source)
    region = CompileRegion.around(lines, 5, 6, error)
    assert region is not None and (region.start, region.end) == (3, 9)
    assert region.error({5: "        return g(a)\n"}) is None and region.error({}) is not None


def test_a_region_whose_text_start_is_inside_a_string_is_found_from_the_tokens():
    source = ('def test(self):\n    self.check("", [])\n    self.check("x", [0])\n    code = """\nclass Fake:\n    pass\n"""\n'
              '    self.check(code, [1, 2)\n')
    lines, error = split_lines(source), syntax_error(source)
    region = CompileRegion.around(lines, 7, 8, error)
    assert region is not None and region.start == 0  # `class Fake:` at column 0 is inside the string
    assert best(source) == source.replace("[1, 2)", "[1, 2])")  # check() takes two arguments: not [1], 2


def test_one_call_elsewhere_is_no_evidence_of_a_count():
    once = "def f(a, b, h):\n    h(a)\n    x = h(a, b\n    return x\n"  # h(a), b or h(a, b): one h(a) says little
    assert best(once) is None
    twice = once.replace("    h(a)\n", "    h(a)\n    h(b)\n")  # h takes one argument here
    assert best(twice) == twice.replace("x = h(a, b\n", "x = h(a), b\n")


def test_the_call_counts_follow_the_file_and_the_builtins_signatures():
    tree = ast.parse("def f(a, b=1): pass\nf(1)\nf(1, 2)\nx.format(1, 2, 3)\nlen(x)\ng(*args)\n")
    counts = CallCounts.of(tree)
    assert counts.counts["f"] == {1, 2} and counts.counts[".format"] == {3} and "g" not in counts.counts
    assert builtin_counts("len") == frozenset({1}) and builtin_counts("int") is None  # a class: no fixed set
    assert counts.mismatches([(9, "f", 3), (9, "f", 2), (9, "len", 2), (9, "unknown", 5)]) == 2
    assert counts.mismatches([(9, ".format", 1)]) == 0  # called once elsewhere: not evidence enough
    assert CallCounts().mismatches([(1, ".format", 9)]) == 0  # a method is not the builtin `format`
    assert [name for _, name, _ in calls_in(ast.parse("a(b(c))"))] == ["a", "b"]


def test_dgcode_fix_takes_the_search_s_repair_without_asking_the_model():
    original = HELPERS + "def tear_down(self):\n    os.remove(self.fname)\n"
    broken = original.replace("os.remove(self.fname)", "os.removeself.fname)")
    asked = []

    def model(source, lineno, message, sample, offset=0):
        asked.append(lineno)
        return None

    result = repair_source("t.py", broken, model)
    assert result.repaired == original and asked == [] and result.second_guesses == 1
    tie = "def f(g, a, b):\n    x = g(a, b\n    return x\n"
    repair_source("t.py", tie, model)
    assert asked, "with two meanings left the model is asked"


def region_of(source: str, lo: int, hi: int) -> tuple[int, int] | None:
    region = CompileRegion.around(split_lines(source), lo, hi, syntax_error(source))
    return None if region is None else (region.start, region.end)


def test_a_def_at_the_changed_line_s_depth_is_a_sibling_and_the_region_starts_above_it():
    source = "async def main(queue):\n    def helper():\n        return 1\n    await queue.put(helper(\n    return 0\n"
    assert region_of(source, 3, 4) == (0, 5)  # from `def helper` the await would be outside its function
    region = CompileRegion.around(split_lines(source), 3, 4, syntax_error(source))
    assert region.error({3: "    await queue.put(helper())\n"}) is None


def test_a_region_does_not_start_at_a_clause_or_end_before_a_closer_or_after_a_decorator():
    clause = "try:\n    import json\nexcept ImportError:\n    json = load(\nx = 1\n"
    assert region_of(clause, 3, 4) == (0, 4)  # `except` alone does not compile: the region starts at `try`
    closer = "CHOICES = dict(\n    a=1,\n    b=[2, 3,\n)\ny = 2\n"
    assert region_of(closer, 2, 3) == (0, 4)  # the `)` at column 0 closes the call: it is in the region
    decorated = "import functools\n\n\n@functools.lru_cache(maxsize=None\ndef x():\n    return 1\n"
    assert region_of(decorated, 3, 4) == (3, 6)  # a decorator alone does not compile: its def is in


def test_a_region_holding_nonlocal_is_the_function_around_it():
    source = ("def outer():\n    count = 0\n    def bump():\n        nonlocal count\n        count = max(count, 1\n"
              "    return bump\n")
    assert region_of(source, 4, 5) == (0, 6)
    region = CompileRegion.around(split_lines(source), 4, 5, syntax_error(source))
    assert region.error({4: "        count = max(count, 1)\n"}) is None  # inside `bump` alone: no binding


def test_a_region_whose_end_cuts_a_string_reaches_past_it():
    source = 'def f(a):\n    y = g(a\n    s = """\ntext\n"""\n    return y\n'
    assert region_of(source, 1, 2) == (0, 6)  # `text` at column 0 is inside the string, not a statement


def test_a_closer_dropped_before_the_error_column_goes_back_before_it():
    helpers = ("import os\nimport unittest\n\n\nclass T(unittest.TestCase):\n    def test_a(self):\n"
               "        with self.assertRaises(ValueError):\n            int('x')\n\n")
    original = (helpers + "    def test_b(self):\n        with self.assertRaises(TypeError) as err:\n"
                "            os.remove(None)\n        self.assertIn('path', str(err.exception))\n")
    broken = original.replace("(TypeError)", "(TypeError")
    assert syntax_error(broken).msg == "invalid syntax"
    assert best(broken) == original  # not self.assertRaisesTypeError: a new word
    # the unclosed opener deleted, or its closer put at each position from it to the column reported
    assert closers_before_error(["x = f(a b\n"], 0, 8) == [
        (0, "x = fa b\n"), (0, "x = f()a b\n"), (0, "x = f(a) b\n"), (0, "x = f(a )b\n")]
    assert closers_before_error(["    a, b)[c d\n"], 0, 11) == []  # the line continues brackets from above


def test_an_opener_dropped_before_indented_arguments_goes_on_the_line_above():
    original = ("class T:\n    def check(self, a, b):\n        return a == b\n\n    def test(self):\n"
                "        self.check(1, 1)\n        self.check(\n            1,\n            2)\n"
                "        self.check(3, 3)\n")
    broken = original.replace("self.check(\n", "self.check\n")
    assert syntax_error(broken).msg == "unexpected indent"
    assert best(broken) == original
    lines = split_lines(broken)  # the lines under `self.check` close a `(` they never open: it goes above
    assert (6, "        self.check(\n") in openers_above(lines, 7) and len(openers_above(lines, 7)) == len("self.check") + 1
    balanced = split_lines(broken.replace("            1,\n            2)\n", "            (1, 2)\n"))
    assert openers_above(balanced, 7) == []  # the indented lines close only what they open


def test_a_stray_closer_that_ends_the_statement_above_indented_arguments_is_deleted():
    original = ("class T:\n    def test(self):\n        self.assertTrue(self.ip)\n"
                "        self.assertEqual(int(self.ip),\n                         42)\n"
                "        self.assertEqual(str(self.ip),\n                         '::1')\n")
    broken = original.replace("str(self.ip),", "str(self.ip)),")
    assert syntax_error(broken).msg == "unexpected indent"
    assert (5, "        self.assertEqual(str(self.ip),\n") in openers_above(split_lines(broken), 6)
    assert best(broken) == original  # not `str(self.ip())`: the file reads `self.ip` and never calls it


def test_a_decorator_line_s_candidates_are_judged_on_the_decorated_def():
    source = ("import os\nimport unittest\n\n\nclass T(unittest.TestCase):\n"
              "    @unittest.skipIf(os.name == 'nt', 'posix only')\n    def test_a(self):\n        pass\n")
    tree = ast.parse(source)
    assert [type(s).__name__ for s in _statements_on(tree, 6)] == ["FunctionDef"]  # line 6: the decorator
    assert _span(_statements_on(tree, 6), 6) == (6, 7)


def test_a_closer_dropped_after_a_string_that_spans_lines_goes_after_the_string():
    original = ('class T:\n    def check(self, a, b):\n        return a, b\n\n    def test(self):\n'
                '        self.check("a", """\\\nx = 1\ny = 2\nz = 3\n""")\n\n        self.check("b", """\\\nw\n""")\n'
                '        self.check("c", "")\n')
    broken = original.replace('z = 3\n""")\n', 'z = 3\n"""\n')
    assert syntax_error(broken).msg == "'(' was never closed"
    lines = split_lines(broken)
    assert rows_below(lines, 5, 3) == [(9, 3), (10, 0), (11, 0)]  # the string's three lines are passed over
    assert best(broken) == original  # not check("a"), """...""": check takes two arguments


def test_a_closer_that_would_join_two_decorators_into_a_matrix_product_is_not_taken():
    original = ("import functools\n\n\nclass A:\n    @functools.singledispatchmethod\n    def f(self, arg):\n"
                "        return arg\n\n    @f.register(str)\n    def _(self, arg):\n        return arg\n\n"
                "    @f.register(int)\n    @classmethod\n    def _(cls, arg):\n        return cls\n")
    broken = original.replace("@f.register(int)", "@f.register(int")
    listed = {c.new_line.strip() for c in bracket_candidates(broken, syntax_error(broken))}
    assert {")@classmethod", "@classmethod)"} <= listed  # f.register(int) @ classmethod compiles
    assert best(broken) == original
    assert _is_joined_decorator(ast.parse("@a(b\n)@c\ndef f(): pass").body[0].decorator_list[0])
    assert not _is_joined_decorator(ast.parse("@a(b @ c)\ndef f(): pass").body[0].decorator_list[0])


def test_a_region_may_start_at_a_sibling_def_or_at_the_changed_def_itself():
    methods = ("class T:\n    def a(self):\n        return 1\n\n    @skip_if(os.name == 'nt',\n"
               "             'posix only'))\n    def b(self):\n        return 2\n")
    assert region_of(methods, 4, 6) == (1, 6)  # `def a` and the decorator are a run of statements
    header = "class T:\n    def a(self):\n        return 1\n\n    def b(self:\n        return 2\n\n    x = 3\n"
    assert region_of(header, 4, 6) == (4, 7)  # the def reported is where its region starts
    returns = "def f(a):\n    def g():\n        pass\n    return max(a, g(\n"
    assert region_of(returns, 3, 4) == (0, 4)  # from `def g` the return would be outside a function
