"""Expression oddities (dgcode/repair/expression_oddities.py): shapes a put-back bracket can leave that compile
but that code almost never holds, and how the bracket search ranks by them (bracket_candidates.py)."""

from __future__ import annotations

import ast

from dgcode.repair.bracket_candidates import _judged, _search, best_bracket_repair, bracket_candidates
from dgcode.repair.expression_oddities import LoadUses, expression_oddities
from dgcode.repair.repair_model import syntax_error


def oddities(code: str, elsewhere: str | None = None, shadowed: frozenset[str] = frozenset()) -> int:
    statements = ast.parse(code).body
    own = [node for statement in statements for node in ast.walk(statement)]
    uses = None if elsewhere is None else LoadUses.among(list(ast.walk(ast.parse(elsewhere))))
    return expression_oddities(statements, own, uses, shadowed)


def repaired(source: str) -> str | None:
    error = syntax_error(source)
    assert error is not None
    found = best_bracket_repair(source, error)
    return None if found is None else found.applied_to(source)


def test_a_value_computed_and_thrown_away_is_odd_but_a_call_a_docstring_or_an_ellipsis_is_not():
    assert oddities("self.test_write") == 1
    assert oddities("x[0]") == 1
    assert oddities("a - 1, b") == 1
    assert oddities("self.test_write()") == 0
    assert oddities("await f()") == 0
    assert oddities('"""A docstring."""') == 0
    assert oddities("...") == 0


def test_calling_a_literal_or_what_a_builtin_returns_is_odd_unless_the_file_rebinds_the_builtin():
    assert oddities("y = iter(range)(5)") == 1
    assert oddities("y = iter(range(5))") == 0
    assert oddities("y = [frozenset]()") == 1
    assert oddities("y = len(x)(z)") == 1
    assert oddities("y = len(x)(z)", shadowed=frozenset({"len"})) == 0
    assert oddities("y = type(x)(z)") == 0  # type() returns a class, which is callable
    assert oddities("exec(code)()") == 1  # exec() returns None


def test_an_attribute_a_builtin_s_result_type_lacks_is_odd():
    assert oddities("y = repr(stmt).attributes[0]") == 1
    assert oddities("y = repr(stmt).upper()") == 0
    assert oddities("y = sorted(items).index(3)") == 0


def test_a_keyword_a_builtin_does_not_take_is_odd():
    assert oddities("cache = LRUCache(max(size=1024 * 2))") == 1
    assert oddities("cache = LRUCache(maxsize=1024 * 2)") == 0
    assert oddities("y = max(items, key=len)") == 0
    assert oddities("y = sorted(items, reverse=True)") == 0
    assert oddities("y = sorted(items, reversed=True)") == 1
    assert oddities("y = dict(a=1)") == 0  # dict takes any keyword
    assert oddities("y = max(size=3)", shadowed=frozenset({"max"})) == 0


def test_an_attribute_used_against_every_other_use_in_the_file_is_odd_from_two_uses_on():
    calls_twice = "ts.is_active()\nif ts.is_active():\n    pass\n"
    assert oddities("while ts.is_active:\n    pass", calls_twice) == 1
    assert oddities("while ts.is_active():\n    pass", calls_twice) == 0
    assert oddities("while ts.is_active:\n    pass", "ts.is_active()\n") == 0
    reads_twice = "n = self.count\nm = self.count + 1\n"
    assert oddities("k = self.count()", reads_twice) == 1
    assert oddities("k = self.count", reads_twice) == 0
    assert oddities("k = self.count()") == 0  # no record of the file: no attribute is odd
    reads_data = "data = []\nn = len(data)\nfirst = data[0]\n"
    assert oddities("s = sep.join(data())", reads_data) == 1
    assert oddities("s = sep.join(data)", reads_data) == 0


SOURCE_WITH_A_DISCARDED_CALL = """\
class Writer:
    def test_write(self):
        return 1

    def run(self):
        self.test_write(
        return 2
"""


def test_the_search_puts_the_closer_back_rather_than_leave_a_bare_attribute():
    error = syntax_error(SOURCE_WITH_A_DISCARDED_CALL)
    found = {c.new_line.strip(): c for c in bracket_candidates(SOURCE_WITH_A_DISCARDED_CALL, error)}
    assert {"self.test_write()", "self.test_write"} <= set(found)
    assert repaired(SOURCE_WITH_A_DISCARDED_CALL) == SOURCE_WITH_A_DISCARDED_CALL.replace(
        "self.test_write(\n", "self.test_write()\n")


def test_a_stray_closer_before_the_one_reported_is_deleted():
    source = "class P:\n    def lines(self, start, breaks=()), frame=None):\n        return start\n"
    assert syntax_error(source).msg == "unmatched ')'"
    assert repaired(source) == source.replace("breaks=())", "breaks=()")


def test_a_stray_closer_s_deletion_ranks_above_splitting_a_word_into_a_builtin_and_a_keyword_it_does_not_take():
    original = ("LRUCache = dict\n\n\nclass Cache:\n    def __init__(self):\n        self.size = 1\n"
                "        self.biggest = max(self.size, 2)\n        self.cache = LRUCache(maxsize=1024)\n")
    broken = original.replace("(maxsize=1024)", "(maxsize=1024))")
    judged = {c.new_line.strip(): c for c in _judged(broken, *_search(broken, syntax_error(broken), "<file>"))}
    split, deleted = judged["self.cache = LRUCache(max(size=1024))"], judged["self.cache = LRUCache(maxsize=1024)"]
    assert split.new_words < deleted.new_words  # `max` and `size` are words the file has; `maxsize` is not
    assert deleted.rank_key < split.rank_key
    assert repaired(broken) != broken.replace("(maxsize=1024))", "(max(size=1024))")


def test_an_attribute_a_string_literal_lacks_is_odd():
    assert oddities("y = ip_address('10.0.0.1'.is_private)") == 1
    assert oddities("y = ip_address(f'{a}'.is_private)") == 1
    assert oddities("y = ip_address('10.0.0.1').is_private") == 0
    assert oddities("y = ', '.join(parts)") == 0


def test_a_builtin_function_subscripted_is_odd_but_a_builtin_class_is_not():
    assert oddities("y = iter[a, b]") == 1
    assert oddities("y = list[int]") == 0 and oddities("y = iter([a, b])") == 0
    assert oddities("y = iter[a, b]", shadowed=frozenset({"iter"})) == 0


def test_a_percent_format_given_the_wrong_number_of_values_is_odd():
    assert oddities("m = '%s%s%s' % a, b, c") == 1          # one value where three are wanted, two follow
    assert oddities("m = ('%s%s' % a, b)") == 1
    assert oddities("f('%s %s' % a, b)") == 1
    assert oddities("m = '%s%s%s' % (a, b)") == 1           # a tuple of two for three conversions
    assert oddities("m = '%s%s%s' % (a, b, c)") == 0
    assert oddities("m = '%s' % a, b") == 0 and oddities("m = '%(x)s %(y)s' % d, b") == 0
    assert oddities("m = '100%% of %s' % (a,)") == 0 and oddities("m = '%s %s' % pair") == 0


def test_the_search_gives_a_builtin_its_call_and_a_format_its_tuple():
    assert repaired("def f(self):\n    return iter[self.a, self.b])\n") == (
        "def f(self):\n    return iter([self.a, self.b])\n")
    assert repaired("def f(a, m, b):\n    x = '%s%s%s' % a, m.s(), b)\n    return x\n") == (
        "def f(a, m, b):\n    x = '%s%s%s' % (a, m.s(), b)\n    return x\n")
