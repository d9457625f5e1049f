"""The repo map a real prompt carries: ranked toward the files in context, fitted to a budget, tags cached.

``build_prompt_map`` runs once per turn, over the repository as it is then:

- **stable map** (``PromptMap.text``, the ``repo_map`` section near the top of
  the prompt): ranked by the files in context only (their references weigh
  the ranking, repomap.py), never by the instruction, so two turns about the
  same files get the same map and the engine reuses its KV cache across them.
  The files in context are left out (the prompt shows them whole).
- **focus map** (``PromptMap.focus``, next to the instruction): definitions of
  the identifiers the instruction names that the stable map does not show.

Budget: ``map_budget(n_ctx)`` is one eighth of the engine's context, at most
``MAX_MAP_TOKENS`` (1,024), or ``MAX_MAP_TOKENS`` while the context size is
not known; the focus map gets a quarter of the map's budget.  Tokens are
counted with the ``count_tokens`` the caller passes (the engine's tokenizer).

Tags are cached (tagcache.py) in dgcode's cache folder (``$DGCODE_CACHE_DIR``
or the platform's user cache, under ``repomap/``), one JSON file per
repository, never inside the repository; in-process, one ``TagCache`` per
repository is kept, so a turn re-parses only the files changed since the last.
Files without a tree-sitter grammar have no tags and show by name at most.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from dgcode.context.errors import ContextError
from dgcode.context.repomap import RepoMap, mentioned_identifiers
from dgcode.context.tagcache import TagCache

MAX_MAP_TOKENS = 1024
"""The stable map's budget when the context is large (or its size unknown)."""
MAP_SHARE = 8
"""The map takes at most 1/MAP_SHARE of the engine's context."""
FOCUS_SHARE = 4
"""The focus map takes 1/FOCUS_SHARE of the map's budget."""

_CACHES: dict[str, TagCache] = {}
_LOCK = threading.Lock()


def map_budget(context_size: int | None = None) -> int:
    """Tokens for the stable map: ``min(MAX_MAP_TOKENS, context_size // MAP_SHARE)``."""
    if not context_size:
        return MAX_MAP_TOKENS
    return max(0, min(MAX_MAP_TOKENS, int(context_size) // MAP_SHARE))


def tag_cache_path(root: str | os.PathLike[str]) -> Path:
    """Where the tags of the repository at ``root`` are kept: dgcode's cache folder, keyed by its real path."""
    from dgcode.engine.alias import default_cache_dir

    key = hashlib.sha256(os.path.realpath(root).encode("utf-8")).hexdigest()[:16]
    return default_cache_dir() / "repomap" / f"{key}.json"


def tag_cache_for(root: str | os.PathLike[str]) -> TagCache:
    """The process's TagCache for this repository (loaded from disk the first time)."""
    path = tag_cache_path(root)
    with _LOCK:
        cache = _CACHES.get(str(path))
        if cache is None:
            cache = _CACHES[str(path)] = TagCache(path)
        return cache


@dataclass(frozen=True)
class PromptMap:
    """A turn's stable map and focus map, with their token counts and the files the stable map shows."""

    text: str = ""
    tokens: int = 0
    focus: str = ""
    focus_tokens: int = 0
    files: tuple[str, ...] = ()
    budget: int = 0


def build_prompt_map(root: str | os.PathLike[str], *, count_tokens: Callable[[str], int],
                     chat_files: Collection[str] = (), instruction: str = "", budget: int | None = None,
                     context_size: int | None = None, cache: TagCache | None = None) -> PromptMap:
    """The maps for a prompt about ``chat_files`` (see the module docstring); empty outside a git repository."""
    budget = map_budget(context_size) if budget is None else max(0, budget)
    if budget == 0:
        return PromptMap(budget=0)
    cache = cache if cache is not None else tag_cache_for(root)
    parsed = cache.parsed
    repo_map = RepoMap(root, count_tokens=count_tokens, cache=cache)
    try:
        stable = repo_map.render(budget, chat_files=chat_files)
        names = mentioned_identifiers(instruction) if instruction else set()
        focus = (repo_map.focus(budget // FOCUS_SHARE, names, chat_files=chat_files, already=stable)
                 if names else None)
    except ContextError:  # not a git repository (or git failed): no map, the prompt still works
        return PromptMap(budget=budget)
    if cache.parsed != parsed:
        try:
            cache.save()
        except OSError:
            pass  # a read-only cache folder costs a re-parse next time, nothing more
    return PromptMap(stable.text, stable.tokens, focus.text if focus else "", focus.tokens if focus else 0,
                     tuple(stable.files), budget)
