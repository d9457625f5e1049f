"""``@path`` mentions in the prompt: the mention being typed, fuzzy-ranked repository files, mentions in a message.

Pure Python (no textual). ``RepoFiles`` lists the files a mention may name:
git's list (tracked, and untracked files .gitignore does not exclude; the
repository map's list) minus .dgcodeignore, re-read at most every few
seconds. ``fuzzy_score`` matches the typed characters as a subsequence of
the path and prefers, in order: the file's name starting with them, a word
of the name starting with them, the name holding them, the name holding
them as a subsequence, the path holding them; then contiguous matches and
shorter paths. ``complete_mention`` turns the mention before the cursor into
completions that replace it with ``@PATH `` and put the file in the context.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from dgcode.context.errors import ContextError
from dgcode.context.gitcli import list_files
from dgcode.context.ignore import IgnoreRules
from dgcode.workflows.chat.commands import MAX_COMPLETIONS, Completion

MENTION_BEFORE_CURSOR = re.compile(r"(?:^|(?<=\s))@([^\s@]*)$")
"""An ``@`` at the start or after white space, then the characters typed so far, up to the cursor."""
MENTION_IN_TEXT = re.compile(r"(?:^|(?<=\s))@([^\s@]+)")
TRAILING_PUNCTUATION = ".,;:!?)]}'\""
REFRESH_S = 5.0
"""The file list is listed again when it is older than this."""


class RepoFiles:
    """The repository's files a mention may name, listed again when the cached list is old."""

    def __init__(self, repo: Path | None, refresh_s: float = REFRESH_S):
        self.repo = repo
        self.refresh_s = refresh_s
        self._files: list[str] = []
        self._listed_at: float | None = None

    def files(self) -> list[str]:
        if self.repo is None:
            return []
        now = time.monotonic()
        if self._listed_at is None or now - self._listed_at > self.refresh_s:
            try:
                self._files = IgnoreRules(self.repo).filter(list_files(self.repo))
            except ContextError:
                self._files = []
            self._listed_at = now
        return self._files


def _subsequence(query: str, text: str) -> list[int] | None:
    """Where each character of ``query`` is found in ``text``, in order (leftmost), or None."""
    found, at = [], 0
    for char in query:
        at = text.find(char, at)
        if at < 0:
            return None
        found.append(at)
        at += 1
    return found


def fuzzy_score(query: str, path: str) -> float | None:
    """How well ``path`` matches ``query`` (case-insensitive subsequence); higher is better, None: no match."""
    q, p = query.lower(), path.lower()
    base_at = p.rfind("/") + 1
    base = p[base_at:]
    length_penalty = len(path) / 10
    if not q:
        return -length_penalty
    positions = _subsequence(q, p)
    if positions is None:
        return None
    if base.startswith(q):
        score = 100.0
    elif re.search(r"[-_. ]" + re.escape(q), base):  # at the start of a word of the name (test_app.py)
        score = 90.0
    elif q in base:
        score = 80.0
    elif _subsequence(q, base) is not None:
        score = 60.0
    elif q in p:
        score = 40.0
    else:
        score = 0.0
    score += 2 * sum(1 for a, b in pairwise(positions) if b == a + 1)  # contiguous characters
    return score - length_penalty


def rank_paths(query: str, paths: list[str], limit: int = MAX_COMPLETIONS) -> list[str]:
    """The best ``limit`` of ``paths`` for ``query``: best score first, then the shorter, then by name."""
    scored = [(score, path) for path in paths if (score := fuzzy_score(query, path)) is not None]
    scored.sort(key=lambda item: (-item[0], len(item[1]), item[1]))
    return [path for _, path in scored[:limit]]


def mention_at(text: str, cursor: int) -> tuple[int, str] | None:
    """The mention the cursor is at the end of: (index of its ``@``, what is typed after it), or None."""
    found = MENTION_BEFORE_CURSOR.search(text[:cursor])
    return (found.start(), found.group(1)) if found else None


def complete_mention(text: str, cursor: int, files: Callable[[], list[str]]) -> list[Completion]:
    """Files for the mention before the cursor, each replacing it with ``@PATH `` and adding PATH to the context.

    ``files`` lists the candidates; it is called only when the cursor is at a mention.
    """
    mention = mention_at(text, cursor)
    if mention is None:
        return []
    at, query = mention
    rest = text[cursor:]
    gap = "" if rest.startswith(" ") else " "
    completions = []
    for path in rank_paths(query, files()):
        head = f"{text[:at]}@{path}"
        completions.append(Completion(head + gap + rest, path, "add to context", cursor=len(head) + 1,
                                      add=path))
    return completions


def mentioned_paths(text: str, files: list[str]) -> list[str]:
    """Files among ``files`` that ``text`` mentions as ``@PATH`` (trailing punctuation aside), in order."""
    known = set(files)
    found: list[str] = []
    for match in MENTION_IN_TEXT.finditer(text):
        word = match.group(1)
        for candidate in (word, word.rstrip(TRAILING_PUNCTUATION)):
            if candidate in known:
                if candidate not in found:
                    found.append(candidate)
                break
    return found
