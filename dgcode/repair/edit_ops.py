"""Byte edit operations: how the repair model says what to do with each byte of a broken window.

The repair model does not rewrite the broken lines; it tags every byte of
them with one operation, so most of its answer is `<|keep|>` and the few real
decisions are local. The operations:

    <|keep|>        keep the byte
    <|del|>         drop it
    <|sub_XX|>      replace it with the printable ASCII character 0xXX
    <|ins_XX|>      insert 0xXX before it (and keep it)
    <|ins_sp_N|>    insert N spaces before it (N = 2..8; one space is <|ins_20|>)
    <|nl_N|>        replace it with a line break and N spaces (N = 0..48)

`ops_for` finds the operations that turn a broken window into its repair (or
None when one operation per byte cannot say it); `apply_ops` applies them.
"""

from __future__ import annotations

from typing import Sequence

KEEP, DELETE = "<|keep|>", "<|del|>"
PRINTABLE = range(0x20, 0x7F)
MAX_SPACES = 8
MAX_INDENT = 48


def sub_op(byte: int) -> str:
    return f"<|sub_{byte:02x}|>"


def ins_op(byte: int) -> str:
    return f"<|ins_{byte:02x}|>"


def spaces_op(count: int) -> str:
    return f"<|ins_sp_{count}|>"


def newline_op(indent: int) -> str:
    return f"<|nl_{indent}|>"


OPS: tuple[str, ...] = (
    (KEEP, DELETE)
    + tuple(sub_op(b) for b in PRINTABLE)
    + tuple(ins_op(b) for b in PRINTABLE)
    + tuple(spaces_op(n) for n in range(2, MAX_SPACES + 1))
    + tuple(newline_op(n) for n in range(MAX_INDENT + 1))
)
_PARSED: dict[str, tuple[str, bytes]] = {KEEP: ("keep", b""), DELETE: ("del", b"")}
_PARSED.update({sub_op(b): ("sub", bytes([b])) for b in PRINTABLE})
_PARSED.update({ins_op(b): ("ins", bytes([b])) for b in PRINTABLE})
_PARSED.update({spaces_op(n): ("ins", b" " * n) for n in range(2, MAX_SPACES + 1)})
_PARSED.update({newline_op(n): ("sub", b"\n" + b" " * n) for n in range(MAX_INDENT + 1)})


def _insertion(text: bytes) -> str | None:
    if len(text) == 1 and text[0] in PRINTABLE:
        return ins_op(text[0])
    if 2 <= len(text) <= MAX_SPACES and text == b" " * len(text):
        return spaces_op(len(text))
    return None


def _middle_ops(broken: bytes, start: int, old: bytes, new: bytes) -> list[tuple[int, str]] | None:
    """Operations turning broken[start:start+len(old)] into `new`, or None."""
    if not old:
        op = _insertion(new)
        return None if op is None or start >= len(broken) else [(start, op)]
    if not new:
        return [(start + i, DELETE) for i in range(len(old))]
    indent = len(new) - 1
    if len(old) == 1 and indent <= MAX_INDENT and new == b"\n" + b" " * indent:
        return [(start, newline_op(indent))]
    if len(old) == len(new):
        if any(b not in PRINTABLE for a, b in zip(old, new) if a != b):
            return None
        return [(start + i, sub_op(b)) for i, (a, b) in enumerate(zip(old, new)) if a != b]
    return None


def ops_for(broken: bytes, fixed: bytes) -> list[str] | None:
    """One operation per byte of `broken` that makes `fixed`, or None when that cannot be said.

    The changed middle is found by stripping a common prefix and suffix; when
    the longest prefix does not give a sayable middle (e.g. a line break whose
    indentation overlaps the suffix), shorter prefixes are tried, up to 8 bytes
    back. Among equal choices, insertions land as far right as they can.
    """
    if broken == fixed:
        return [KEEP] * len(broken)
    longest_prefix = 0
    limit = min(len(broken), len(fixed))
    while longest_prefix < limit and broken[longest_prefix] == fixed[longest_prefix]:
        longest_prefix += 1
    for prefix in range(longest_prefix, max(-1, longest_prefix - MAX_SPACES - 1), -1):
        suffix = 0
        room = min(len(broken), len(fixed)) - prefix
        while suffix < room and broken[-1 - suffix] == fixed[-1 - suffix]:
            suffix += 1
        for cut in range(suffix, -1, -1):
            old, new = broken[prefix:len(broken) - cut], fixed[prefix:len(fixed) - cut]
            changes = _middle_ops(broken, prefix, old, new)
            if changes is not None:
                ops = [KEEP] * len(broken)
                for index, op in changes:
                    ops[index] = op
                return ops
            if cut < suffix - MAX_SPACES:
                break
    return None


def apply_ops(broken: bytes, ops: Sequence[str]) -> bytes:
    """The bytes `ops` make of `broken`; a byte without an operation (or with another token) is kept."""
    out = bytearray()
    for index, byte in enumerate(broken):
        kind, text = _PARSED.get(ops[index] if index < len(ops) else KEEP, ("keep", b""))
        if kind == "keep":
            out.append(byte)
        elif kind == "sub":
            out += text
        elif kind == "ins":
            out += text
            out.append(byte)
    return bytes(out)
