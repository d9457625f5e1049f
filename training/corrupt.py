"""Error injectors: one- and two-line slips that make a Python snippet stop compiling.

Each injector takes the snippet's lines and its tokens (from `tokenize`), picks
a random site where its kind of slip applies, and returns an Edit: original
lines [start, old_end) become the new lines. `inject` then compiles the result
and keeps it only if compile() fails, recording the line the compiler reports
(SyntaxError.lineno), since that is all dgcode knows at inference. All choices
come from the numpy Generator passed in, so a seed reproduces every example.
"""

from __future__ import annotations

import io
import keyword
import tokenize
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from training.corpus import INDENTED_HEADER

Lines = list[str]
Tok = tokenize.TokenInfo

OPENERS, CLOSERS = "([{", ")]}"
KEYWORDS = frozenset(k for k in keyword.kwlist if len(k) >= 2 and k not in ("True", "False", "None"))
CONDITION_STARTS = ("if", "elif", "while")


@dataclass(frozen=True)
class Edit:
    start: int        # first changed line (0-based, same in old and new)
    old_end: int      # original lines [start, old_end) ...
    new_lines: tuple[str, ...]  # ... are replaced by these


@dataclass(frozen=True)
class Injected:
    kind: str
    lines: Lines      # the corrupted snippet
    edit: Edit
    error_line: int   # 0-based line of the snippet that compile() reports
    message: str
    error_column: int = 0  # 0-based column (characters) compile() reports in that line

    @property
    def new_end(self) -> int:
        return self.edit.start + len(self.edit.new_lines)


def snippet_tokens(lines: Lines) -> list[Tok]:
    """Tokens of a snippet (positions are 1-based rows into `lines`); [] if it does not tokenize."""
    try:
        return list(tokenize.generate_tokens(io.StringIO("".join(lines)).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return []


def _replace_in_line(lines: Lines, row: int, col: int, end_col: int, text: str) -> Edit:
    line = lines[row]
    return Edit(row, row + 1, (line[:col] + text + line[end_col:],))


def _pick(rng: np.random.Generator, sites: list):
    return sites[int(rng.integers(len(sites)))] if sites else None


# --- the injectors ---------------------------------------------------------------------------

def missing_colon(lines: Lines, toks: list[Tok], rng: np.random.Generator) -> Edit | None:
    """Drop the ':' that ends a block header (def, if, for, class, ...)."""
    sites = [t for t, nxt in zip(toks, toks[1:])
             if t.type == tokenize.OP and t.string == ":" and nxt.type in (tokenize.NEWLINE, tokenize.COMMENT)]
    t = _pick(rng, sites)
    return None if t is None else _replace_in_line(lines, t.start[0] - 1, t.start[1], t.end[1], "")


def missing_bracket(lines: Lines, toks: list[Tok], rng: np.random.Generator) -> Edit | None:
    """Drop one opening or closing bracket, leaving the pair unbalanced."""
    sites = [t for t in toks if t.type == tokenize.OP and t.string in OPENERS + CLOSERS]
    t = _pick(rng, sites)
    return None if t is None else _replace_in_line(lines, t.start[0] - 1, t.start[1], t.end[1], "")


def extra_bracket(lines: Lines, toks: list[Tok], rng: np.random.Generator) -> Edit | None:
    """Add a stray bracket: double a closing one, or add one before the end of a line."""
    closers = [t for t in toks if t.type == tokenize.OP and t.string in CLOSERS]
    ends = [t for t in toks if t.type == tokenize.NEWLINE and t.start[1] > 0]
    if rng.random() < 0.5 and closers:
        t = _pick(rng, closers)
        return _replace_in_line(lines, t.start[0] - 1, t.end[1], t.end[1], t.string)
    t = _pick(rng, ends)
    if t is None:
        return None
    row = t.start[0] - 1
    code_end = len(lines[row].rstrip("\r\n"))
    return _replace_in_line(lines, row, code_end, code_end, CLOSERS[int(rng.integers(3))])


def missing_comma(lines: Lines, toks: list[Tok], rng: np.random.Generator) -> Edit | None:
    """Drop a comma between two items on one line."""
    sites = [t for t, nxt in zip(toks, toks[1:])
             if t.type == tokenize.OP and t.string == "," and nxt.start[0] == t.start[0]
             and nxt.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
             and nxt.string not in CLOSERS]
    t = _pick(rng, sites)
    return None if t is None else _replace_in_line(lines, t.start[0] - 1, t.start[1], t.end[1], "")


def bad_indentation(lines: Lines, toks: list[Tok], rng: np.random.Generator) -> Edit | None:
    """Indent or dedent the first line of a statement by a few spaces, or by one level."""
    starts = [t for prev, t in zip(toks, toks[1:])
              if prev.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT) and t.type not in (
                  tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT,
                  tokenize.ENDMARKER)]
    t = _pick(rng, starts)
    if t is None:
        return None
    row = t.start[0] - 1
    line = lines[row]
    indent = len(line) - len(line.lstrip(" \t"))
    if "\t" in line[:indent]:
        return None
    choice = rng.random()
    if choice < 0.4:
        new = indent + int(rng.integers(1, 5))
    elif choice < 0.8 and indent > 0:
        new = max(0, indent - int(rng.integers(1, 5)))
    else:
        new = indent + 4 if indent == 0 or rng.random() < 0.5 else indent - 4
    if new == indent:
        return None
    return Edit(row, row + 1, (" " * new + line[indent:],))


def _typo(word: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(len(word)))
    op = int(rng.integers(4))
    if op == 0 and len(word) >= 2:  # swap two neighbours
        i = min(i, len(word) - 2)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == 1 and len(word) >= 3:  # drop a letter
        return word[:i] + word[i + 1:]
    if op == 2:  # double a letter
        return word[:i] + word[i] + word[i:]
    letters = "abcdefghijklmnopqrstuvwxyz"
    return word[:i] + letters[int(rng.integers(26))] + word[i + 1:]


def misspelled_keyword(lines: Lines, toks: list[Tok], rng: np.random.Generator) -> Edit | None:
    """Misspell a keyword (swap, drop, double or replace one letter)."""
    sites = [t for t in toks if t.type == tokenize.NAME and t.string in KEYWORDS]
    t = _pick(rng, sites)
    if t is None:
        return None
    typo = _typo(t.string, rng)
    if typo == t.string or keyword.iskeyword(typo):
        return None
    return _replace_in_line(lines, t.start[0] - 1, t.start[1], t.end[1], typo)


def unterminated_string(lines: Lines, toks: list[Tok], rng: np.random.Generator) -> Edit | None:
    """Drop the closing quote of a one-line string literal."""
    sites = [t for t in toks if t.type == tokenize.STRING and t.start[0] == t.end[0]
             and not t.string.endswith(('"""', "'''"))]
    t = _pick(rng, sites)
    return None if t is None else _replace_in_line(lines, t.start[0] - 1, t.end[1] - 1, t.end[1], "")


def assign_for_equals(lines: Lines, toks: list[Tok], rng: np.random.Generator) -> Edit | None:
    """Write '=' for '==' in an if/elif/while condition."""
    sites, statement_start = [], None
    for prev, t in zip([None] + toks, toks):
        if prev is None or prev.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL):
            if t.type == tokenize.NAME:
                statement_start = t.string
        if t.type == tokenize.NEWLINE:
            statement_start = None
        if t.type == tokenize.OP and t.string == "==" and statement_start in CONDITION_STARTS:
            sites.append(t)
    t = _pick(rng, sites)
    return None if t is None else _replace_in_line(lines, t.start[0] - 1, t.start[1], t.end[1], "=")


def joined_lines(lines: Lines, toks: list[Tok], rng: np.random.Generator) -> Edit | None:
    """Join two one-line statements onto one line (a lost line break): two lines become one."""
    sites = []
    for t in toks:
        if t.type == tokenize.NEWLINE and t.start[0] < len(lines):
            row = t.start[0] - 1
            nxt = lines[row + 1]
            if nxt.strip() and not nxt.lstrip().startswith("#") and not lines[row].rstrip().endswith(":"):
                sites.append(row)
    row = _pick(rng, sites)
    if row is None:
        return None
    first, second = lines[row].rstrip("\r\n"), lines[row + 1]
    return Edit(row, row + 2, (first + " " + second.lstrip(" \t"),))


INJECTORS: dict[str, Callable[[Lines, list[Tok], np.random.Generator], Edit | None]] = {
    "missing_colon": missing_colon,
    "missing_bracket": missing_bracket,
    "extra_bracket": extra_bracket,
    "missing_comma": missing_comma,
    "bad_indentation": bad_indentation,
    "misspelled_keyword": misspelled_keyword,
    "unterminated_string": unterminated_string,
    "assign_for_equals": assign_for_equals,
    "joined_lines": joined_lines,
}
KINDS = tuple(INJECTORS)


def apply_edit(lines: Lines, edit: Edit) -> Lines:
    return lines[:edit.start] + list(edit.new_lines) + lines[edit.old_end:]


def syntax_error(source: str) -> SyntaxError | None:
    """The SyntaxError compile() raises for source, or None if it compiles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, "<snippet>", "exec", dont_inherit=True)
        except SyntaxError as err:
            return err
        except (ValueError, RecursionError, MemoryError) as err:
            return SyntaxError(str(err))
    return None


def inject(lines: Lines, kind: str, rng: np.random.Generator, *, indented: bool = False,
           tokens: list[Tok] | None = None, tries: int = 4) -> Injected | None:
    """Inject one error of `kind` into a snippet that compiles; None if no try made compile() fail.

    `indented`: the snippet compiles only under corpus.INDENTED_HEADER.
    """
    injector = INJECTORS[kind]
    toks = snippet_tokens(lines) if tokens is None else tokens
    if not toks:
        return None
    header = INDENTED_HEADER if indented else ""
    for _ in range(tries):
        edit = injector(lines, toks, rng)
        if edit is None:
            return None  # no site of this kind in the snippet
        if tuple(lines[edit.start:edit.old_end]) == edit.new_lines:
            continue
        new = apply_edit(lines, edit)
        err = syntax_error(header + "".join(new))
        if err is None:
            continue
        row = (err.lineno or 1) - 1 - (1 if indented else 0)
        row = min(max(row, 0), len(new) - 1)
        return Injected(kind, new, edit, row, err.msg or "", max((err.offset or 1) - 1, 0))
    return None
