"""Quote ties: telling apart the places for a dropped quote that all compile and all read cleanly.

quote_candidates.py keeps the places for the quote where the code outside the
strings reads as people write it. Often two or more are left, and then the
model decides; but most of those ties have one reading that betrays itself in
the *string*, not the code. Each sign below, counted for one place (the new
quote at column ``at`` of the line), is a reason to drop that place from a tie:

- **Swallowed code**: the string holds, after a ``,`` or a spaced ``+`` ``%``
  ``*`` (or before one, for a new *opening* quote), text that reads as call
  arguments and uses a name the rest of the file uses as code, or holds only
  literals (``'pear, stdout=subprocess.PIPE'``, ``"C + str(i)"``,
  ``'0.0.0.0, 12345'``, ``'str(res), '``); or a method call on such a name
  (``', .join(state)'``); or a closer then an opener no text has
  (``"x).is_free("``); or a comment (``",    # note"``); or a trailing comma
  at the end of its line (``"-c,"``); or, for a new opening quote, an
  operator at its end (``"char == " :``).
- **Spacing moved into the string**: a closing quote after a space and before
  code or a colon (``"C "+ str``, ``'Test 'is``, ``"x "# note``, ``{'cosh ': x``), an opening quote after
  code and before a space (``f(a,' ')``), a quote between two letters
  (``', .jo'in``), an empty string run into code (``''>From``), or a quote in a
  run of spaces (``"a  " #``).
- **A printf string misread**: a ``%`` conversion left in code (``'250' %s``)
  or a string with no conversion on the left of ``%`` (``'::1' % scope``).
- **``is`` with a literal** (``'Test' is not venv``), which Python warns about.

Only ties are broken: a place that is the single clean one stays taken as
before, so these signs can only turn a question for the model into a
repair. Measured in docs/model.md ("Quote ties").
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import tokenize
import warnings

from dgcode.repair.expression_oddities import PERCENT_CONVERSION

SEPARATOR = re.compile(r",\s+|\s[+%*]\s+")
METHOD_CALL = re.compile(r"\.([A-Za-z_]\w*\(.*)$")
SWALLOWED_COMMENT = re.compile(r"\s{2,}#")
TRAILING_COMMA = re.compile(r"[\w)\]],$")
TRAILING_OPERATOR = re.compile(r"\w\s+(?:[=!<>]=|[-+*/%<>]|in|is|and|or)\s*$")
OPERATORS = "+-*/%<>=&|^@"
NAME_AS_CONVERSION = re.compile(r"^[sdrifxXeEgGcoa]$")
STRING_PREFIX = re.compile(r"(?:^|[^\w])[bBrRuUfF]{1,2}$")
CLOSERS = ",.)]}:;"
EXCEPTIONS = frozenset(n for n in dir(builtins) if n.endswith(("Error", "Warning", "Exception")))


def code_names(tree: ast.AST, row: int) -> frozenset[str]:
    """The names the file uses as code (``ast.Name``, parameters and imports) off line ``row`` (0-based), and
    Python's exception classes."""
    names = set(EXCEPTIONS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.lineno != row + 1:
            names.add(node.id)
        elif isinstance(node, ast.arg) and node.lineno != row + 1:
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno != row + 1:
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return frozenset(names)


def _reads_as_code(text: str, names: frozenset[str]) -> bool:
    """Whether ``text`` parses as call arguments that use a code name, or are literals alone (``()``, ``1``)."""
    text = text.strip()
    if not text or not any(c.isalnum() or c in "([{" for c in text):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call = ast.parse(f"f({text})", mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
    used = [node.id for node in ast.walk(call) if isinstance(node, ast.Name)][1:]  # [0] is f itself
    return any(name in names for name in used) or (not used and not any(
        isinstance(node, ast.Constant) and isinstance(node.value, str) for node in ast.walk(call)))


def _string_at(line: str, at: int) -> tuple[int, int] | None:
    """(start, end) columns of the string token of ``line`` that the quote at column ``at`` opens or closes."""
    indent = len(line) - len(line.lstrip())
    try:
        for token in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            if token.type == tokenize.STRING:
                start, end = token.start[1] + indent, token.end[1] + indent
                if at == end - 1 or start <= at < start + 3:  # a prefix (b, rb, f) may stand before the quote
                    return start, end
    except (tokenize.TokenError, SyntaxError):
        pass
    return None


def _content(line: str, span: tuple[int, int]) -> str:
    """The text inside the string token at ``span`` of ``line`` (its prefix and quotes left out)."""
    text = line[span[0]:span[1]]
    text = text.lstrip("bBrRuUfF")
    return text[1:-1] if len(text) >= 2 else ""


def _closer_then_opener(text: str) -> bool:
    """Whether ``text`` has a ``)`` or ``]`` that closes nothing in it and, after it, a ``(`` or ``[`` that
    nothing closes (``x).is_free(``): a piece of code, not prose, which balances its own brackets."""
    depth, closed_nothing, open_after = 0, False, []
    for i, char in enumerate(text):
        if char in "([":
            if closed_nothing:
                open_after.append(i)
            depth += 1
        elif char in ")]":
            if depth == 0:
                closed_nothing, open_after = True, []
            else:
                depth -= 1
                if open_after:
                    open_after.pop()
    return closed_nothing and bool(open_after)


def swallowed_code(line: str, at: int, names: frozenset[str]) -> bool:
    """Whether the string the new quote at ``at`` opens or closes holds code (see the module docstring)."""
    span = _string_at(line, at)
    if span is None:
        return False
    content, closing = _content(line, span), at == span[1] - 1
    if _closer_then_opener(content) or SWALLOWED_COMMENT.search(content):
        return True
    if closing and TRAILING_COMMA.search(content) and not line[at + 1:].strip(" \r\n)]}"):
        return True
    if not closing and TRAILING_OPERATOR.search(content):
        return True  # a new opening quote with an operator at the end of its string: "char == " :
    for match in SEPARATOR.finditer(content):
        piece = content[match.end():] if closing else content[:match.start()]
        if _reads_as_code(piece, names):
            return True
    method = METHOD_CALL.search(content)
    return bool(closing and method and _reads_as_code(method.group(1), names))


def odd_spacing(line: str, at: int) -> bool:
    """Whether the new quote at ``at`` sits where spacing says the string's edge is not."""
    before, after = line[at - 1] if at else "", line[at + 1] if at + 1 < len(line) else "\n"
    after = "\n" if after == "\r" else after
    span = _string_at(line, at)
    closing = span is not None and at == span[1] - 1
    opening = span is not None and not closing
    if closing and before == " " and after not in CLOSERS + " \n":
        return True
    if closing and before == " " and after == ":" and _content(line, span).strip():
        return True  # a dict key or a slice bound that ends in a space ({'cosh ': x}; " ": is a space)
    if closing and (after == "#" or (after in OPERATORS and line[at + 1:].lstrip(OPERATORS)[:1] == " ")):
        return True  # a comment run into the string, or an operator spaced from its right side only
    if opening and after == " " and before not in "([{ \t" and not STRING_PREFIX.search(line[:at]):
        return True
    if before.isalnum() and after.isalnum() and not STRING_PREFIX.search(line[:at]):
        return True
    if closing and not _content(line, span) and after not in CLOSERS + " \n":
        return True  # an empty string run into code
    return before == " " and after == " " and at >= 2 and line[at - 2] == " "


def printf_misread(line: str, tree: ast.AST, row: int) -> bool:
    """A ``%`` conversion read as code (``'250' %s``) or a string with no conversion formatted by ``%``."""
    tokens = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            tokens.append(token)
    except (tokenize.TokenError, SyntaxError):
        pass  # the line alone may end inside brackets: the tokens up to there are enough
    for left, right in zip(tokens, tokens[1:]):
        if left.string == "%" and right.type == tokenize.NAME and right.start == left.end \
                and NAME_AS_CONVERSION.match(right.string):
            return True
    for node in ast.walk(tree):
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and getattr(node, "lineno", 0) <= row + 1
                <= getattr(node, "end_lineno", 0) and isinstance(node.left, ast.Constant)
                and isinstance(node.left.value, str) and not PERCENT_CONVERSION.search(node.left.value)):
            return True
    return False


def literal_identity(tree: ast.AST, row: int) -> bool:
    """An ``is`` / ``is not`` comparison with a string literal on line ``row`` (Python warns about it)."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Compare) and getattr(node, "lineno", 0) <= row + 1 <= getattr(node, "end_lineno", 0)
                and any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops)
                and any(isinstance(part, ast.JoinedStr) or (isinstance(part, ast.Constant)
                                                             and isinstance(part.value, (str, bytes)))
                        for part in [node.left, *node.comparators])):
            return True
    return False


def tie_oddities(line: str, at: int, tree: ast.AST, row: int, names: frozenset[str]) -> int:
    """How many of the signs in the module docstring the place (new quote at column ``at`` of ``line``, line
    ``row`` of the file whose syntax tree around it is ``tree``) shows; 0 for a place that keeps its tie."""
    line = line.rstrip("\r\n")
    return (swallowed_code(line, at, names) + odd_spacing(line, at) + printf_misread(line, tree, row)
            + literal_identity(tree, row))
