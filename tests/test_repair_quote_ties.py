"""Quote ties (dgcode/repair/quote_ties.py): of the places for a dropped quote that compile and read cleanly,
the ones whose string swallowed code or whose spacing moved into the string are dropped, so a tie the model
used to decide is settled from the text; the ones that read alike still go to the model."""

from __future__ import annotations

import ast

from dgcode.repair.quote_candidates import best_quote_repair
from dgcode.repair.quote_ties import code_names, literal_identity, odd_spacing, printf_misread, swallowed_code
from dgcode.repair.repair_model import syntax_error

HEADER = ("import subprocess\nfrom ipaddress import IPv6Address\n\n\nclass T:\n"
          "    def run_tests(self, *args):\n        return args\n\n    def test(self, testname, scope, i):\n")


def repaired_line(body: str) -> str | None:
    """The line the quote search gives for ``body`` (a method body under HEADER), None when it gives none."""
    source = HEADER + body
    error = syntax_error(source)
    assert error is not None and error.msg.startswith("unterminated string literal")
    found = best_quote_repair(source, error)
    return None if found is None else found[1].strip()


def test_a_string_that_swallowed_a_code_name_loses_the_tie():
    # '--rerun, testname' and '--rerun', testname both compile cleanly; testname is a parameter
    assert repaired_line("        self.run_tests('--rerun, testname)\n") == "self.run_tests('--rerun', testname)"
    # a call after a spaced +: "C + str(i), (), {}" holds code, "C" + str(i) reads as written
    assert repaired_line('        return type("C + str(i), (), {})\n') == 'return type("C" + str(i), (), {})'


def test_a_string_that_swallowed_only_literals_loses_the_tie():
    # the issue's own example of a tie before: getattr(obj, 'name, None) is now 'name', None
    source = "def f(obj):\n    return getattr(obj, 'name, None)\n"
    found = best_quote_repair(source, syntax_error(source))
    assert found == (1, "    return getattr(obj, 'name', None)\n")


def test_a_conversion_read_as_code_and_is_with_a_literal_lose_the_tie():
    assert repaired_line("        return IPv6Address('::1%scope)\n") == "return IPv6Address('::1%scope')"
    assert repaired_line('        raise TypeError(f"{self} is not subscriptable)\n') == (
        'raise TypeError(f"{self} is not subscriptable")')


def test_the_same_line_from_either_side_of_a_quote_is_one_place():
    # '' is made by a quote before or after the one there: one repair, not a tie between two
    assert repaired_line("        return self.run_tests(i, ')\n") == "return self.run_tests(i, '')"


def test_spacing_the_lines_around_use_is_no_oddity():
    # 'cosh' : i has a space before the colon, as every entry above it does; 'cosh ': i puts it in the key
    body = "        return {'cos' : i,\n                'sin' : i,\n                'cosh : i}\n"
    assert repaired_line(body) == "'cosh' : i}"


def last_quote(line: str) -> int:
    return max(line.rfind("'"), line.rfind('"'))


def test_each_sign_on_its_own():
    names = code_names(ast.parse("def f(x):\n    return x\n"), row=5)  # x, a parameter, is a code name
    for line in ("g('a b, x')", "g('x).is_free(')", "0x79: \",    # note\"", "[sys.executable, \"-c,\""):
        assert swallowed_code(line, last_quote(line), names), line
    for line in ("g('a b', x)", "g('(a) and (b)')", "log('found, skipping', name)", "g('a, b')"):
        assert not swallowed_code(line, last_quote(line), names), line
    assert swallowed_code("g('str(x), ')", 2, names)  # a new opening quote: the code is before the separator
    for line, at in (("s = 'auth_ '+ m", 11), ("f(a,' ')", 4), ("x = ', .jo'in(s)", 10), ("f(''>x)", 3),
                     ("f('{}'#{}.format(a))", 5), ("s = 'a'> b", 6), ("{'cosh ': x}", 7)):
        assert odd_spacing(line, at), line
    for line, at in (("s = 'auth_' + m", 10), ("f(b'x')", 3), ("f(a, ' ')", 5), ("x = ', '.join(s)", 7)):
        assert not odd_spacing(line, at), line
    for line in ("s = '250' %s %s % (a, b)", "v = f('::1' % scope)"):
        assert printf_misread(line, ast.parse(line), 0), line
    for line in ("s = '250 %s %s' % (a, b)", "v = '%(x)s' % d", "v = '100%%' % ()"):
        assert not printf_misread(line, ast.parse(line), 0), line
    assert literal_identity(ast.parse("f('Test' is not venv)"), 0)
    assert literal_identity(ast.parse("f(f'{a}' is b)"), 0)
    assert not literal_identity(ast.parse("f(x is not None)"), 0)


def test_a_space_string_before_a_colon_is_no_oddity_and_a_string_ending_in_an_operator_is():
    # if char == " : the quote goes after the space (" " is a space), not before char ("char == " :)
    assert repaired_line('        if i == " :\n            return i\n') == 'if i == " ":'
    assert swallowed_code('if "char == " :', 3, frozenset()) and odd_spacing("{'cosh ': x}", 7)
    assert not odd_spacing('if char == " ":', 13)
