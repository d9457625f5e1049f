"""Edit-response markup: SEARCH/DIVIDER/REPLACE markers, code fences, and the lines that name a block's file.

The lexical layer under dgcode/edits/parser.py: which lines are markers or
fences, which line gives a file path (a name line, a fence's info string, a
one-line fenced block of its own), and which words in prose plausibly name a
file. Every function here takes lines and never raises.
"""

from __future__ import annotations

import re

SEARCH_MARKER = re.compile(r"<{5,9} SEARCH>?")
DIVIDER_MARKER = re.compile(r"={5,9}")
REPLACE_MARKER = re.compile(r">{5,9} REPLACE")
FENCE_OPEN = re.compile(r"(?P<fence>`{3,}|~{3,}|<source>)(?P<info>[^`<>]*)")
TAG_FENCE = "<source>"
"""aider's fence for content that itself holds triple backticks: ``<source>`` ... ``</source>``."""
NAME_LOOKBACK_BLANKS = 2
"""Blank lines allowed between a file name line and its block or fence."""
PROSE_FILE_EXTENSIONS = frozenset("""
    py pyi pyx txt md rst json jsonl toml yaml yml ini cfg conf js jsx ts tsx mjs cjs c h cc cpp cxx hpp hh rs go
    java kt kts scala rb php pl pm lua sh bash zsh fish ps1 bat cmd html htm css scss sass less xml svg csv tsv sql
    jl swift cs fs dart ex exs erl hs ml mli clj cljs el vim nix tf hcl proto graphql gql vue svelte tex bib lock
    gradle mk cmake ipynb
""".split())
"""Extensions that make a word in prose a plausible file name."""
PROSE_FILE_NAMES = frozenset("Makefile Dockerfile Containerfile Jenkinsfile Gemfile Rakefile Procfile Justfile".split())
"""Extensionless names that are plausible file names in prose."""
PROSE_NOT_FILE_NAMES = frozenset({"e.g", "i.e", "a.m", "p.m", "n.b"})
PROSE_WORD = re.compile(r"[\w.+-]+(?:/[\w.+-]+)*")
PROSE_WORD_TRIM = "`*'\"()[]{}<>,;:!?"


def is_search_marker(line: str) -> bool:
    return SEARCH_MARKER.fullmatch(line.strip()) is not None


def is_divider_marker(line: str) -> bool:
    return DIVIDER_MARKER.fullmatch(line.strip()) is not None


def is_replace_marker(line: str) -> bool:
    return REPLACE_MARKER.fullmatch(line.strip()) is not None


def is_marker(line: str) -> bool:
    return is_search_marker(line) or is_divider_marker(line) or is_replace_marker(line)


def fence_of(line: str) -> tuple[str, str] | None:
    """``(fence, info)`` when ``line`` opens a code fence, else None."""
    match = FENCE_OPEN.fullmatch(line.strip())
    if match is None:
        return None
    return match.group("fence"), match.group("info").strip()


def closes_fence(line: str, fence: str) -> bool:
    """Whether ``line`` closes a block opened with ``fence``."""
    stripped = line.strip()
    if fence == TAG_FENCE:
        return stripped == "</source>"
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


def is_fence_line(line: str) -> bool:
    """An opening or closing fence of any kind."""
    return bool(fence_of(line)) or closes_fence(line, "```") or closes_fence(line, "~~~") \
        or closes_fence(line, TAG_FENCE)


def path_from_line(line: str) -> str | None:
    """The file path a name line gives, or None if it does not look like one.

    Accepts ``a/b.py``, ``**a/b.py**``, `` `a/b.py`: ``, ``# a/b.py``,
    ``Makefile``, `` `Makefile`: ``; rejects prose (anything with inner
    whitespace), markers, fences, URLs, and an unquoted bare word with a
    colon (``Changes:``, ``**Changes:**``).
    """
    stripped = line.strip()
    if not stripped or is_marker(stripped) or is_fence_line(stripped):
        return None
    core = stripped.lstrip("#").strip()
    had_colon = False
    quoted = "`" in core
    previous = None
    while core != previous:
        previous = core
        core = core.strip().strip("*`").strip()
        if core.endswith(":"):
            core, had_colon = core[:-1], True
    if not core or core in (".", "..", "...") or "://" in core:
        return None
    if any(character.isspace() for character in core):
        return None
    if "." in core or "/" in core:
        return core
    if (had_colon and not quoted) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", core):
        return None
    return core


def path_from_fence_info(info: str) -> str | None:
    """A path given on the fence line itself (```` ```src/a.py ````), if any."""
    if not info or any(character.isspace() for character in info):
        return None
    return info if ("." in info or "/" in info) and "://" not in info else None


def _previous_non_blank(lines: list[str], index: int) -> int | None:
    """Index of the nearest non-blank line above ``index``, within the blank allowance."""
    blanks = 0
    index -= 1
    while index >= 0 and not lines[index].strip():
        blanks += 1
        if blanks > NAME_LOOKBACK_BLANKS:
            return None
        index -= 1
    return index if index >= 0 else None


def name_above_fence(lines: list[str], fence_index: int) -> str | None:
    """The file name an opening fence carries or has on the line above it."""
    fence = fence_of(lines[fence_index])
    named = path_from_fence_info(fence[1]) if fence else None
    if named:
        return named
    above = _previous_non_blank(lines, fence_index)
    if above is None:
        return None
    if is_fence_line(lines[above]):
        return name_in_own_fence(lines, above)
    return path_from_line(lines[above])


def name_in_own_fence(lines: list[str], close_index: int) -> str | None:
    """The name a one-line fenced block ending at ``close_index`` holds (DeepSeek-Coder's habit), if any::

        ```python
        foo.py
        ```
        ```python
        <<<<<<< SEARCH
    """
    name_index = close_index - 1
    open_index = name_index - 1
    if open_index < 0 or not lines[name_index].strip():
        return None
    opened = fence_of(lines[open_index])
    if opened is None or not closes_fence(lines[close_index], opened[0]):
        return None
    return path_from_line(lines[name_index])


def name_above_block(lines: list[str], index: int, open_fence: int | None) -> str | None:
    """The file name for a SEARCH marker at ``index``, if one is given.

    ``open_fence`` is the index of the fence line the marker sits inside, if
    any; a closing fence above the marker belongs to an earlier block and
    gives no name.
    """
    above = _previous_non_blank(lines, index)
    if above is None:
        return None
    if fence_of(lines[above]):
        return name_above_fence(lines, above) if above == open_fence else None
    return path_from_line(lines[above])


def file_name_in_prose(word: str) -> str | None:
    """``word`` (punctuation around it dropped) if it plausibly names a file, else None."""
    previous = None
    while word != previous:
        previous = word
        word = word.strip(PROSE_WORD_TRIM).rstrip(".")
    if not word or "://" in word or word.lower() in PROSE_NOT_FILE_NAMES or not PROSE_WORD.fullmatch(word):
        return None
    last = word.rsplit("/", 1)[-1]
    if last in PROSE_FILE_NAMES:
        return word
    stem, dot, extension = last.rpartition(".")
    if dot and extension.lower() in PROSE_FILE_EXTENSIONS and re.search(r"[^\W\d_]", stem):
        return word
    return None


def same_file(first: str, second: str) -> bool:
    def parts(path: str) -> list[str]:
        return [part for part in path.split("/") if part not in ("", ".")]

    return parts(first) == parts(second)


def names_in_prose(lines: list[str], index: int) -> list[str]:
    """Distinct plausible file names in the lines between the previous marker and ``index``, in order."""
    start = index
    while start > 0 and not is_marker(lines[start - 1]):
        start -= 1
    found: list[str] = []
    for line in lines[start:index]:
        if is_fence_line(line):
            continue
        for word in line.split():
            name = file_name_in_prose(word)
            if name is not None and not any(same_file(name, seen) for seen in found):
                found.append(name)
    return found
