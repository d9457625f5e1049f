"""Expression oddities: a bracket put back where the code compiles but reads as nothing anyone writes.

A dropped bracket can often go back in several places the compiler accepts,
and the names on the line do not tell them apart (bracket_candidates.py):
``self.test_write()`` and ``self.test_write``, ``iter(range(5))`` and
``iter(range)(5)``, ``self.check(-1, x)`` and ``self.check-1, x``. Some of
those shapes are almost never meant:

- a statement that computes a value and throws it away: a bare name,
  attribute, subscript, tuple or operation (not a call, ``await``, ``yield``,
  a string or ``...``);
- a call of what a builtin returns that is not callable (``len(x)(y)``,
  ``iter(range)(5)``), or of a literal (``[frozenset]()``);
- an attribute of what a builtin returns, or of a string literal, that has no
  such attribute (``repr(stmt).attributes``, ``len(self).finished``,
  ``ip_address('10.0.0.1'.is_private)``);
- a subscript of a builtin function (``iter[a, b]``);
- a ``%`` format given a tuple of another length than its conversions, or
  given one value where it needs several and more values follow
  (``'%s%s' % a, b``);
- a keyword a builtin does not take (``LRUCache(max(size=2048))`` made of
  ``LRUCache(maxsize=2048))``);
- an attribute or a name called where the rest of the file only ever reads
  it without a call (at least MIN_USES times: ``join(data())`` where ``data``
  is a list), or read where it is only ever called (``while ts.is_active:`` in
  a file that calls ``ts.is_active()``).

``expression_oddities`` counts them among the nodes of the changed
statements; ``LoadUses`` records how the rest of the file uses each attribute
and name. Nothing here says a shape is wrong, only that it is unusual:
bracket_candidates.py ranks with it after the undefined names, before the new
words and argument counts.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Iterable

MIN_USES = 2
"""Uses of an attribute or name elsewhere, all called or all not, before using it the other way counts."""
RESULTS = {
    int: ("len", "abs", "hash", "id", "ord", "round", "sum"),
    bool: ("isinstance", "issubclass", "hasattr", "callable", "bool", "all", "any"),
    str: ("repr", "str", "chr", "hex", "bin", "oct", "format", "ascii", "input"),
    list: ("sorted", "list"),
    type(None): ("print", "exec", "setattr", "delattr"),
    tuple: ("tuple", "divmod"),
    dict: ("dict", "vars", "globals", "locals"),
    set: ("set",),
    frozenset: ("frozenset",),
    range: ("range",),
    float: ("float",),
}
"""What some builtins return, by type: calling such a result is an error, and so is most attribute access."""
RESULT_TYPE = {name: kind for kind, names in RESULTS.items() for name in names}
ITERATORS = ("iter", "enumerate", "zip", "reversed", "map", "filter")
"""Builtins whose result is an iterator: calling it is an error; its attributes are dunders."""
LITERALS = (ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
            ast.Constant, ast.JoinedStr)
DISCARDED_FINE = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)
UNSIGNED_KEYWORDS = {"max": ("key", "default"), "min": ("key", "default"), "iter": (), "next": (), "getattr": (),
                     "dir": (), "vars": (), "anext": ()}
"""The keywords builtins take that ``inspect.signature`` cannot read."""
PERCENT_CONVERSION = re.compile(r"%(?:\(\w+\))?[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[sdrifxXeEgGcoa%]")


@dataclass
class LoadUses:
    """How often each attribute (keyed ``.f``) and name (``f``) is called (``x.f()``, ``f()``) and read without a
    call (``x.f``, ``f``) in some code."""

    called: Counter[str] = field(default_factory=Counter)
    read: Counter[str] = field(default_factory=Counter)

    @classmethod
    def among(cls, nodes: list[ast.AST], skip: range = range(0)) -> "LoadUses":
        """The attribute and name loads among ``nodes`` (already walked) on no line of ``skip`` (1-based)."""
        uses = cls()
        callee_ids = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
        for node in nodes:
            key = _load_key(node)
            if key is not None and node.lineno not in skip:
                (uses.called if id(node) in callee_ids else uses.read)[key] += 1
        return uses

    def surprising(self, key: str, called: bool) -> bool:
        """Whether using ``key`` called (or not) goes against every one of at least MIN_USES other uses."""
        same, other = (self.called, self.read) if called else (self.read, self.called)
        return same[key] == 0 and other[key] >= MIN_USES


def expression_oddities(statements: Iterable[ast.stmt], own_nodes: list[ast.AST],
                        uses: LoadUses | None = None, shadowed: frozenset[str] = frozenset()) -> int:
    """How many odd shapes (see the module docstring) ``statements`` hold, whose own nodes (their blocks left
    out) are ``own_nodes``; attributes and names go by ``uses`` (the rest of the file's), none when it is None.
    A builtin name in ``shadowed`` (the file binds it) is not taken for the builtin."""
    total = sum(isinstance(s, ast.Expr) and _discarded(s.value) for s in statements)
    callee_ids = {id(node.func) for node in own_nodes if isinstance(node, ast.Call)}
    for node in own_nodes:
        if isinstance(node, ast.Call):
            total += _not_callable(node.func, shadowed) + _keywords_not_taken(node, shadowed)
            total += sum(map(_format_missing_its_tuple, node.args))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            kind = _builtin_result(node.value, shadowed) or _literal_type(node.value)
            total += kind is not None and not hasattr(kind, node.attr)
        elif isinstance(node, ast.Subscript):
            name = _builtin(node.value, shadowed)
            total += name is not None and not isinstance(getattr(builtins, name), type)
        elif isinstance(node, ast.Tuple):
            total += sum(map(_format_missing_its_tuple, node.elts))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.right, ast.Tuple):
            wanted = _conversions(node.left)
            total += wanted is not None and not any(isinstance(e, ast.Starred) for e in node.right.elts) \
                and len(node.right.elts) != wanted
        key = _load_key(node)
        if uses is not None and key is not None:
            total += uses.surprising(key, id(node) in callee_ids)
    return total


def _load_key(node: ast.AST) -> str | None:
    """``LoadUses``' key for a loaded attribute (``.f``) or name (``f``), None for any other node."""
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        return "." + node.attr
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        return node.id
    return None


def _discarded(value: ast.expr) -> bool:
    """Whether an expression statement's value is computed for nothing."""
    if isinstance(value, DISCARDED_FINE):
        return False
    return not (isinstance(value, ast.Constant) and (isinstance(value.value, str) or value.value is ...))


def _builtin_name(node: ast.expr, shadowed: frozenset[str]) -> str | None:
    """The builtin ``node`` calls (``len`` for ``len(x)``), None for any other expression."""
    return _builtin(node.func, shadowed) if isinstance(node, ast.Call) else None


def _builtin(func: ast.expr, shadowed: frozenset[str]) -> str | None:
    """The builtin ``func`` names (``len``), None for any other expression or a builtin the file rebinds."""
    if isinstance(func, ast.Name) and func.id not in shadowed and hasattr(builtins, func.id):
        return func.id
    return None


def _keywords_not_taken(call: ast.Call, shadowed: frozenset[str]) -> int:
    """How many of the keywords ``call`` passes its builtin (``max(size=...)``) does not take; 0 for a call of
    anything else or of a builtin whose keywords are unknown."""
    name = _builtin(call.func, shadowed)
    if name is None:
        return 0
    taken = _keywords_taken(name)
    return 0 if taken is None else sum(k.arg is not None and k.arg not in taken for k in call.keywords)


@cache
def _keywords_taken(name: str) -> frozenset[str] | None:
    """The keywords builtin ``name`` takes; None when it takes any (``**kwargs``) or they are unknown."""
    if name in UNSIGNED_KEYWORDS:
        return frozenset(UNSIGNED_KEYWORDS[name])
    try:
        parameters = inspect.signature(getattr(builtins, name)).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _builtin_result(node: ast.expr, shadowed: frozenset[str]) -> type | None:
    """The type a builtin call ``node`` returns, when RESULT_TYPE knows it."""
    name = _builtin_name(node, shadowed)
    return None if name is None else RESULT_TYPE.get(name)


def _conversions(node: ast.expr) -> int | None:
    """How many values the ``%`` format string literal ``node`` takes; None for anything else, a format by
    name (``%(x)s``) or one with a ``*`` width."""
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return None
    found = PERCENT_CONVERSION.findall(node.value)
    if any(c.startswith("%(") or "*" in c for c in found):
        return None
    return sum(c != "%%" for c in found)


def _format_missing_its_tuple(node: ast.expr) -> bool:
    """An element of a tuple or call that is a ``%`` format of two or more values applied to one value, with
    more elements after it (``'%s%s' % a, b`` for ``'%s%s' % (a, b)``)."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod)) or isinstance(node.right, (ast.Tuple,
                                                                                                       ast.Dict)):
        return False
    wanted = _conversions(node.left)
    return wanted is not None and wanted >= 2


def _literal_type(node: ast.expr) -> type | None:
    """``str`` or ``bytes`` for a string literal (an f-string included), None for any other expression."""
    if isinstance(node, ast.JoinedStr):
        return str
    return type(node.value) if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) else None


def _not_callable(func: ast.expr, shadowed: frozenset[str]) -> bool:
    """Whether calling ``func`` calls a literal or what a builtin returns that is not callable."""
    if isinstance(func, LITERALS):
        return True
    name = _builtin_name(func, shadowed)
    return name is not None and (name in RESULT_TYPE or name in ITERATORS)
