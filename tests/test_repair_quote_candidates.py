"""The quote search (dgcode/repair/quote_candidates.py): where an unterminated string's closing quote goes back,
taken only when exactly one place compiles with code outside the strings that reads as people write it."""

from __future__ import annotations

import ast

from dgcode.repair.file_repair import repair_source
from dgcode.repair.quote_candidates import (
    adjacent_strings,
    best_quote_repair,
    code_oddities,
    quote_window,
    string_misuses,
)
from dgcode.repair.repair_model import syntax_error


def best(source: str) -> str | None:
    error = syntax_error(source)
    assert error is not None and error.msg.startswith("unterminated string literal")
    found = best_quote_repair(source, error)
    if found is None:
        return None
    lines = source.splitlines(keepends=True)
    lines[found[0]] = found[1]
    return "".join(lines)


def test_the_one_place_that_compiles_is_taken():
    assert best('def f():\n    print("hello world)\n') == 'def f():\n    print("hello world")\n'


def test_a_string_used_as_no_string_is_loses_to_the_plain_one():
    # "hello".py compiles (an attribute strings do not have): the quote goes after .py
    assert best('def f():\n    script = "hello.py\n    return script\n') == (
        'def f():\n    script = "hello.py"\n    return script\n')


def test_odd_spacing_after_the_new_quote_is_an_oddity():
    # ',' .join(state) compiles, with a space no one writes before the dot; ', '.join(state) reads as code does
    odd, plain = "x = ',' .join(state)\n", "x = ', '.join(state)\n"
    assert code_oddities(odd, 0, odd, 6, frozenset({"state"})) == 1
    assert code_oddities(plain, 0, plain, 7, frozenset({"state"})) == 0
    assert code_oddities(plain, 0, plain, 7, frozenset()) == 1  # then `state` is a name the file never mentions


def test_the_quote_that_lost_its_partner_can_be_before_the_one_reported():
    source = "NAMES = ['IO', 'TextIO, 'BinaryIO']\n"  # reported at the last quote, which opens a string
    assert syntax_error(source).offset == len("NAMES = ['IO', 'TextIO, 'BinaryIO") + 1
    assert best(source) == "NAMES = ['IO', 'TextIO', 'BinaryIO']\n"


def test_two_clean_places_give_no_repair_and_the_model_decides():
    # 'alpha', beta or 'alpha, beta': `beta` is a word of the file's prose, never code, so nothing tells them apart
    source = "def f(g):\n    # beta\n    return g('alpha, beta)\n"
    assert best(source) is None and quote_window(source, syntax_error(source)) is None


def test_the_oddities_are_counted():
    tree = ast.parse("x = 'sys'.stderr\ny = 'a'.join(z)\nw = 'a' - b\nv = 'lat' in -1\nu = 'p'(1)\n")
    assert [string_misuses(tree, line) for line in range(1, 6)] == [1, 0, 1, 1, 1]
    assert adjacent_strings("x = ('a, '' 'b')\n") == 1 and adjacent_strings("x = 'a' + 'b'\n") == 0
    assert adjacent_strings("f('a',\n") == 0  # a line that ends inside brackets still tokenizes far enough


def test_dgcode_fix_takes_the_quote_without_asking_the_model():
    asked = []

    def model(source, lineno, message, sample, offset=0):
        asked.append(lineno)
        return None

    result = repair_source("m.py", 'def f():\n    print("hello world)\n', model)
    assert result.repaired == 'def f():\n    print("hello world")\n' and asked == []
    assert result.windows[0].steps == 0 and result.second_guesses == 1
