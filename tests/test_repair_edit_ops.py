"""Byte edit operations: every slip the repair model learns is one operation per byte, and applies back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dgcode.repair.edit_ops import DELETE, KEEP, OPS, apply_ops, ins_op, newline_op, ops_for, spaces_op, sub_op

LINE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)


def changed(ops: list[str]) -> list[tuple[int, str]]:
    return [(i, op) for i, op in enumerate(ops) if op != KEEP]


def test_the_repairs_of_each_error_kind_are_one_operation_per_byte() -> None:
    cases = {  # broken -> fixed: the slips training/corrupt.py injects
        b"def f(x)\n": (b"def f(x):\n", [(8, ins_op(ord(":")))]),
        b"    y = g(a, b\n": (b"    y = g(a, b)\n", [(14, ins_op(ord(")")))]),
        b"y = g(a))\n": (b"y = g(a)\n", [(8, DELETE)]),
        b"f(a b)\n": (b"f(a, b)\n", [(3, ins_op(ord(",")))]),
        b"      x = 1\n": (b"    x = 1\n", [(4, DELETE), (5, DELETE)]),  # as far right as it can
        b"x = 1\n": (b"    x = 1\n", [(0, spaces_op(4))]),
        b"retrun x\n": (b"return x\n", [(3, sub_op(ord("u"))), (4, sub_op(ord("r")))]),
        b"s = 'abc\n": (b"s = 'abc'\n", [(8, ins_op(ord("'")))]),
        b"if a = b:\n": (b"if a == b:\n", [(6, ins_op(ord("=")))]),
        b"    a = 1 b = 2\n": (b"    a = 1\n    b = 2\n", [(9, newline_op(4))]),
    }
    for broken, (fixed, expected) in cases.items():
        ops = ops_for(broken, fixed)
        assert ops is not None and len(ops) == len(broken), broken
        assert apply_ops(broken, ops) == fixed
        assert changed(ops) == expected, broken


def test_what_one_operation_per_byte_cannot_say_is_refused() -> None:
    assert ops_for(b"x = 1\n", b"x = 1\n") == [KEEP] * 6
    assert ops_for(b"f(x)\n", b"f(x, y, z)\n") is None          # a many-byte insertion of other than spaces
    assert ops_for(b"x = 1", b"x = 1;") is None                  # an insertion after the last byte
    assert ops_for(b"x = 1\n", b"x = \xc3\xa9\n") is None         # a non-ASCII replacement


def test_unknown_tokens_keep_their_byte_and_all_operations_are_distinct() -> None:
    assert apply_ops(b"abc", ["", DELETE]) == b"ac"
    assert len(set(OPS)) == len(OPS)


@given(LINE, st.integers(0, 39), st.sampled_from(":,()[]{}'\"=."))
def test_any_one_character_insertion_round_trips(line: str, at: int, char: str) -> None:
    broken = (line + "\n").encode()
    at = at % len(line)
    fixed = broken[:at] + char.encode() + broken[at:]
    ops = ops_for(broken, fixed)
    assert ops is not None and apply_ops(broken, ops) == fixed
    assert len(changed(ops)) == 1


@given(LINE, st.integers(0, 39), st.integers(1, 3))
def test_any_deletion_round_trips(line: str, at: int, count: int) -> None:
    broken = (line + "\n").encode()
    at = at % len(line)
    fixed = broken[:at] + broken[at + count:]
    ops = ops_for(broken, fixed)
    assert ops is not None and apply_ops(broken, ops) == fixed
