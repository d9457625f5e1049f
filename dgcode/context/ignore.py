"""What must never be sent to the model: files .gitignore or .dgcodeignore exclude.

Two sources, two rules:

``.gitignore`` (and .git/info/exclude, core.excludesFile)
    asked of git itself with ``git check-ignore``, so git's own semantics
    hold: a *tracked* file is part of the project and is not ignored.
``.dgcodeignore`` at the repository root
    gitignore syntax, matched here by a small matcher, and applied to every
    file, tracked or not: it is how a person keeps secrets, fixtures or
    generated code away from the model.

Matcher semantics follow gitignore(5): ``#`` comments, ``!`` negation, ``\\``
escapes, trailing ``/`` for folders only, a ``/`` at the start or middle
anchors the pattern to the root, ``*`` ``?`` ``[...]`` do not cross ``/``,
``**`` spans folders, the last matching pattern wins, and nothing inside an
excluded folder can be re-included.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dgcode.context.gitcli import run_git

DGCODEIGNORE = ".dgcodeignore"


@dataclass(frozen=True)
class Pattern:
    """One gitignore line compiled to a regular expression over repo-relative ``/`` paths."""

    text: str
    source: str
    line: int
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line} ({self.text})"


def _glob_to_regex(glob: str) -> str:
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        elif c == "*":
            stars = i
            while i < n and glob[i] == "*":
                i += 1
            run = i - stars
            at_start = stars == 0 or glob[stars - 1] == "/"
            at_end = i == n or glob[i] == "/"
            if run >= 2 and at_start and at_end:
                if i == n:
                    out.append(".*")  # "a/**": everything inside a
                else:
                    out.append("(?:.*/)?")  # "**/" or "/**/": zero or more folders
                    i += 1  # the "/" is part of the group
            else:
                out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            close = glob.find("]", i + 2 if glob[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            if close == -1:
                out.append(re.escape(c))
                i += 1
                continue
            body = glob[i + 1 : close]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
            i = close + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def parse_patterns(text: str, source: str) -> list[Pattern]:
    """Compile the lines of a gitignore-syntax file (``source`` names it in messages)."""
    patterns: list[Pattern] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        while line.endswith(" ") and not line.endswith("\\ "):
            line = line[:-1]
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        body = line[1:] if negated else line
        dir_only = body.endswith("/")
        body = body.rstrip("/")
        if not body:
            continue
        anchored = "/" in body
        body = body.lstrip("/")
        regex = _glob_to_regex(body)
        if not anchored:
            regex = "(?:.*/)?" + regex
        patterns.append(Pattern(line, source, number, re.compile(regex + r"\Z", re.DOTALL), negated, dir_only))
    return patterns


class PatternList:
    """Gitignore patterns from one file at the repository root, matched git's way."""

    def __init__(self, patterns: Iterable[Pattern]):
        self.patterns = list(patterns)

    def _last_match(self, path: str, is_dir: bool) -> Pattern | None:
        for pattern in reversed(self.patterns):
            if pattern.dir_only and not is_dir:
                continue
            if pattern.regex.match(path):
                return pattern
        return None

    def match(self, path: str, *, is_dir: bool = False) -> Pattern | None:
        """The pattern that excludes ``path`` (repo-relative), or None when it is not excluded."""
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            folder = self._last_match("/".join(parts[:depth]), True)
            if folder is not None and not folder.negated:
                return folder
        last = self._last_match("/".join(parts), is_dir)
        return last if last is not None and not last.negated else None


class IgnoreRules:
    """Decides, for repo-relative paths, whether they may be sent to the model, and why not."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        path = self.root / DGCODEIGNORE
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        self.dgcodeignore = PatternList(parse_patterns(text, DGCODEIGNORE))

    def dgcode_ignored(self, path: str) -> str | None:
        """Why .dgcodeignore excludes ``path``, or None."""
        pattern = self.dgcodeignore.match(path, is_dir=(self.root / path).is_dir())
        return f"ignored by {pattern.where}" if pattern else None

    def git_ignored(self, paths: Iterable[str]) -> dict[str, str]:
        """The paths git's exclude rules ignore, each with the rule that does it."""
        paths = [p for p in paths if p]
        if not paths:
            return {}
        stdin = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)
        out = run_git(self.root, "check-ignore", "-v", "-n", "-z", "--stdin", stdin=stdin, ok_codes=(0, 1))
        # -v -n -z prints four fields per input: source, line, pattern, path (the first three
        # empty when nothing matches; a "!" pattern matched means "not ignored").
        fields = [field.decode("utf-8", "surrogateescape") for field in out.split(b"\0")[:-1]]
        result: dict[str, str] = {}
        for start in range(0, len(fields) - 3, 4):
            source, line, pattern, path = fields[start : start + 4]
            if source and not pattern.startswith("!"):
                result[path] = f"ignored by {source}:{line} ({pattern})"
        return result

    def reasons(self, paths: Iterable[str]) -> dict[str, str]:
        """For each ignored path among ``paths``, why; paths that may be sent are absent."""
        paths = list(paths)
        result = {p: why for p in paths if (why := self.dgcode_ignored(p))}
        result.update({p: why for p, why in self.git_ignored([p for p in paths if p not in result]).items()})
        return result

    def filter(self, paths: Iterable[str]) -> list[str]:
        """``paths`` without those .dgcodeignore excludes (for lists git already filtered by .gitignore)."""
        return [p for p in paths if self.dgcodeignore.match(p) is None]
