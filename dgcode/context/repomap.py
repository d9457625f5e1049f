"""The repo map: the repository's most relevant definitions, ranked like Aider's and fitted to a token budget.

Ranking (after Aider's ``RepoMap.get_ranked_tags``): files are nodes; each
file that references an identifier gets an edge to every file that defines
it, weighted by ``sqrt(number of references)`` times

- x10 when the instruction mentions the identifier,
- x10 for a long, well-formed name (snake_case or camelCase, 8+ characters),
- x0.1 for a ``_private`` name, x0.1 when more than five files define it,
- x50 when the referencing file is one the person has in context.

Definitions nobody references get a weak self-edge (0.1).  Personalised
PageRank (pagerank.py), over the edges between different files (self-loops
would trap rank in files that use their own names), then ranks the files, the
random surfer jumping back to files in context or mentioned by name (or whose
name is a mentioned identifier).  Each file's rank is shared out along its
edges in proportion to their weights (dividing by at least 1, unlike Aider, so
a file that uses nothing does not hand its whole rank to its unreferenced
definitions), and a definition scores by how much rank flows into it, ten
times that when the instruction names it.  Definitions in files the
person already has in context are left out (their text is in the prompt);
files with no ranked definition follow as bare names.

Rendering shows, file by file in path order, each chosen definition's header
lines (with the headers of enclosing classes).  A binary search finds the most
ranked items whose rendering fits ``budget`` tokens, as counted by the
``count_tokens`` the caller passes in (the engine's tokenizer in production).
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dgcode.context.gitcli import list_files
from dgcode.context.ignore import IgnoreRules
from dgcode.context.pagerank import pagerank
from dgcode.context.tagcache import TagCache
from dgcode.context.tags import Tag

IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LINE_PREFIX = "│"

Item = tuple[str, "Tag | None"]
"""A map entry: a definition in a file, or (path, None) for a file shown by name only."""


def mentioned_identifiers(text: str) -> set[str]:
    """Every identifier-shaped word in ``text`` (``Shape.area`` gives both names)."""
    return set(IDENT_RE.findall(text))


def mentioned_files(text: str, files: Iterable[str]) -> set[str]:
    """The files ``text`` names, by repo-relative path or by file name."""
    words = {word.strip("`'\",.:;()[]{}<>") for word in text.split()}
    return {f for f in files if f in words or (PurePosixPath(f).name in words and "." in PurePosixPath(f).name)}


def _well_formed(name: str) -> bool:
    """Aider's test for a distinctive name: snake_case, kebab-case or camelCase, 8+ characters."""
    has_letter = any(c.isalpha() for c in name)
    snake = "_" in name and has_letter
    camel = any(c.isupper() for c in name) and any(c.islower() for c in name)
    return len(name) >= 8 and (snake or camel or ("-" in name and has_letter))


def rank_items(tags_by_file: dict[str, list[Tag]], *, chat_files: Collection[str] = (),
               mentioned_idents: Collection[str] = (), mentioned_paths: Collection[str] = ()) -> list[Item]:
    """Every definition outside ``chat_files``, most relevant first, then the other files by name."""
    defines: dict[str, set[str]] = defaultdict(set)
    references: dict[str, Counter[str]] = defaultdict(Counter)
    definitions: dict[tuple[str, str], list[Tag]] = defaultdict(list)
    for path, tags in tags_by_file.items():
        for tag in tags:
            if tag.kind == "def":
                defines[tag.name].add(path)
                definitions[(path, tag.name)].append(tag)
            else:
                references[tag.name][path] += 1
    if not references:  # no reference queries matched at all: let definitions stand in
        references = {name: Counter(paths) for name, paths in defines.items()}

    files = sorted(set(tags_by_file) | set(chat_files))
    index = {path: i for i, path in enumerate(files)}
    edges: list[tuple[int, int, float]] = []
    edge_idents: list[str] = []
    for name, definers in defines.items():
        if name not in references:
            for definer in definers:  # keep lone definitions reachable, weakly
                edges.append((index[definer], index[definer], 0.1))
                edge_idents.append(name)
            continue
        weight = 1.0
        if name in mentioned_idents:
            weight *= 10
        if _well_formed(name):
            weight *= 10
        if name.startswith("_"):
            weight *= 0.1
        if len(definers) > 5:
            weight *= 0.1
        for referencer, count in references[name].items():
            boost = 50 if referencer in chat_files else 1
            for definer in definers:
                edges.append((index[referencer], index[definer], weight * boost * math.sqrt(count)))
                edge_idents.append(name)

    personal = {}
    for path in files:
        stems = {part.split(".")[0] for part in PurePosixPath(path).parts}
        score = (path in chat_files) + (path in mentioned_paths) + bool(stems & set(mentioned_idents))
        if score:
            personal[index[path]] = float(score)
    # A file's uses of its own definitions rank those definitions within it, but as PageRank
    # self-loops they would trap rank in self-referencing files: leave them out of the ranking.
    rank = pagerank(len(files), [edge for edge in edges if edge[0] != edge[1]], personal)

    out_weight = [0.0] * len(files)
    for src, _, weight in edges:
        out_weight[src] += weight
    score_of: dict[tuple[str, str], float] = defaultdict(float)
    for (src, dst, weight), name in zip(edges, edge_idents):
        # A file shares its rank among its edges; counting at least weight 1 keeps a file that
        # uses nothing from handing all of it to its few unreferenced definitions (weight 0.1 each).
        score_of[(files[dst], name)] += rank[src] * weight / max(out_weight[src], 1.0)

    for key in score_of:
        if key[1] in mentioned_idents:  # dgcode's addition: a named definition itself ranks higher,
            score_of[key] *= 10        # not only the edges that lead to it
    items: list[Item] = []
    ordered = sorted(score_of.items(), key=lambda kv: (-kv[1], kv[0]))
    for (path, name), _ in ordered:
        if path not in chat_files:
            items.extend((path, tag) for tag in sorted(definitions[(path, name)], key=lambda t: t.line))
    shown = {path for path, _ in items}
    by_rank = sorted(files, key=lambda f: (-rank[index[f]], f))
    items.extend((path, None) for path in by_rank if path not in shown and path not in chat_files)
    return items


def render_items(items: Sequence[Item]) -> str:
    """File by file in path order: ``path:`` then the chosen header lines, or just the path."""
    rows: dict[str, dict[int, str]] = {}
    for path, tag in items:
        lines = rows.setdefault(path, {})
        if tag is not None:
            lines.update(tag.lines)
    parts = []
    for path in sorted(rows):
        if rows[path]:
            parts.append(f"{path}:\n" + "".join(f"{LINE_PREFIX}{text}\n" for _, text in sorted(rows[path].items())))
        else:
            parts.append(f"{path}\n")
    return "".join(parts)


def fit_items(items: Sequence[Item], budget: int, count_tokens: Callable[[str], int]) -> tuple[int, str, int]:
    """The largest ``n`` whose rendering of ``items[:n]`` fits ``budget`` tokens: (n, text, tokens)."""
    lo, hi = 0, len(items)
    best = (0, "", 0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        text = render_items(items[:mid])
        tokens = count_tokens(text)
        if tokens <= budget:
            lo, best = mid, (mid, text, tokens)
        else:
            hi = mid - 1
    return best


@dataclass(frozen=True)
class RepoMapResult:
    """A rendered map, its token count, and which ranked items it shows out of how many."""

    text: str
    tokens: int
    items: tuple[Item, ...]
    total: int

    @property
    def files(self) -> list[str]:
        return sorted({path for path, _ in self.items})


class RepoMap:
    """The tags of a repository's files, ranked and rendered on request."""

    def __init__(self, root: str | os.PathLike[str], *, count_tokens: Callable[[str], int],
                 cache: TagCache | None = None, files: Sequence[str] | None = None,
                 rules: IgnoreRules | None = None):
        self.root = Path(root)
        self.count_tokens = count_tokens
        self.cache = cache or TagCache()
        self.rules = rules or IgnoreRules(self.root)
        self._files = list(files) if files is not None else None

    def files(self) -> list[str]:
        """Files the map may show: git's list (tracked and untracked, not gitignored), minus .dgcodeignore."""
        listed = self._files if self._files is not None else list_files(self.root)
        return self.rules.filter(listed)

    def tags_by_file(self) -> dict[str, list[Tag]]:
        return {path: self.cache.tags(self.root, path) for path in self.files()}

    def ranked(self, *, chat_files: Collection[str] = (), mentioned_idents: Collection[str] = (),
               mentioned_paths: Collection[str] = ()) -> list[Item]:
        return rank_items(self.tags_by_file(), chat_files=set(chat_files),
                          mentioned_idents=set(mentioned_idents), mentioned_paths=set(mentioned_paths))

    def render(self, budget: int, *, chat_files: Collection[str] = (), mentioned_idents: Collection[str] = (),
               mentioned_paths: Collection[str] = ()) -> RepoMapResult:
        """The best map that fits ``budget`` tokens."""
        items = self.ranked(chat_files=chat_files, mentioned_idents=mentioned_idents,
                            mentioned_paths=mentioned_paths)
        n, text, tokens = fit_items(items, budget, self.count_tokens)
        return RepoMapResult(text, tokens, tuple(items[:n]), len(items))

    def focus(self, budget: int, mentioned_idents: Collection[str], *, chat_files: Collection[str] = (),
              already: RepoMapResult | None = None) -> RepoMapResult:
        """Definitions of the mentioned identifiers that ``already`` does not show, fitted to ``budget``.

        This is the volatile companion of a stable map: it goes next to the
        instruction, so the map near the top of the prompt need not change
        when only the instruction does.
        """
        shown = {(path, tag.name, tag.line) for path, tag in (already.items if already else ()) if tag}
        wanted = set(mentioned_idents)
        items = [(path, tag) for path, tag in self.ranked(chat_files=chat_files, mentioned_idents=wanted)
                 if tag is not None and tag.name in wanted and (path, tag.name, tag.line) not in shown]
        n, text, tokens = fit_items(items, budget, self.count_tokens)
        return RepoMapResult(text, tokens, tuple(items[:n]), len(items))
