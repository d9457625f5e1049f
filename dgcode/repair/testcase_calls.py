"""TestCase calls: a ``self.assert...(...)`` call whose arguments ``unittest.TestCase``'s own signature rejects.

Where a dropped bracket goes back often decides which call gets which
arguments, and test files are full of ``self.assertEqual(...)``. Of
``self.assertEqual(fmt.format("{x}"), 'y')`` and
``self.assertEqual(fmt.format("{x}", 'y'))``, both compile, and the file's
other calls of ``.format`` do not tell them apart (call_arity.py); but
``assertEqual`` needs two arguments, so the second would fail the moment the
test ran. ``rejected_calls_on`` finds such calls on a rewrite's lines: a method of
``unittest.TestCase`` called on ``self`` (in a file that mentions
``TestCase``, so a ``self.assertEqual`` of another class is left alone, and
that does not define a method of that name itself) with arguments that do not
bind to its signature. file_repair.py holds a rewrite
with one back while the model's later rewrites are tried, as it does one that
loads an unknown name, and abstain.py does not offer it.
"""

from __future__ import annotations

import ast
import inspect
import unittest
from functools import cache

from dgcode.repair.canvas import split_lines


@cache
def testcase_signature(name: str) -> inspect.Signature | None:
    """The signature of ``unittest.TestCase``'s method ``name`` without ``self``, None when it has none."""
    method = getattr(unittest.TestCase, name, None) if name.isidentifier() and not name.startswith("_") else None
    if not inspect.isfunction(method):
        return None
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return None
    parameters = list(signature.parameters.values())
    return signature.replace(parameters=parameters[1:]) if parameters and parameters[0].name == "self" else None


def rejected(call: ast.Call) -> bool:
    """Whether ``call`` is ``self.<TestCase method>(...)`` with arguments its signature does not bind."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self"):
        return False
    signature = testcase_signature(func.attr)
    if signature is None or any(isinstance(a, ast.Starred) for a in call.args) \
            or any(k.arg is None for k in call.keywords):
        return False
    try:
        signature.bind(*call.args, **{k.arg: k.value for k in call.keywords})
    except TypeError:
        return True
    return False


def rejected_calls_on(candidate: str, start: int, count: int) -> tuple[str, ...]:
    """The TestCase methods that calls starting on lines [start, start + count) (0-based) of ``candidate`` (a
    source that compiles) call with arguments ``rejected`` finds, in order; () when there are none, when the
    file does not mention ``TestCase`` or when those lines hold no ``self.`` call of an ``assert``/``fail``
    method (then nothing is parsed)."""
    lines = split_lines(candidate)[start:start + count]
    if "TestCase" not in candidate or not any("self.assert" in line or "self.fail" in line for line in lines):
        return ()
    try:
        tree = ast.parse(candidate)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    first, last = start + 1, start + count
    nodes = list(ast.walk(tree))
    own = {node.name for node in nodes if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return tuple(node.func.attr for node in nodes
                 if isinstance(node, ast.Call) and first <= node.lineno <= last and rejected(node)
                 and node.func.attr not in own)  # a method the file defines itself goes by its own signature
