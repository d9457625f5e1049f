"""Prompt assembly: editor context to chat messages, stable parts first so the KV cache can reuse them.

The engine keeps the prompt's KV cache between requests, and a request can
reuse it up to the first token that differs.  So the prompt is ordered from
what changes least to what changes most::

    system      system text + edit-format instructions     (never changes)
    user        repo map, files in context                 (changes when files do)
    assistant   a fixed acknowledgement
    ...         earlier turns, if any
    user        git state, selection, definitions named in the request, the request

A new instruction about the same files re-decodes only the last message.
Every piece of wording is a template under ``prompts/`` (``edit/`` and
``context/``, ``string.Template`` syntax).  ``Prompt.breakdown`` gives the
token count of each section, counted with the ``count_tokens`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import PurePosixPath
from string import Template

from dgcode.context.errors import ContextError
from dgcode.context.sources import EditorContext

STABLE_SECTIONS = ("system", "repo_map", "files")
VOLATILE_SECTIONS = ("git", "selection", "focus", "instruction")
EDIT_FORMATS = ("search_replace",)

FENCE_LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".jsx": "jsx", ".mjs": "javascript",
    ".cjs": "javascript", ".ts": "typescript", ".tsx": "tsx", ".rs": "rust", ".go": "go", ".java": "java",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".md": "markdown", ".json": "json", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".sh": "bash",
    ".html": "html", ".css": "css", ".sql": "sql", ".rb": "ruby", ".kt": "kotlin", ".swift": "swift",
}


@lru_cache(maxsize=None)
def template(name: str) -> Template:
    """``prompts/<name>.txt`` as a Template (its final newline dropped)."""
    text = resources.files("dgcode.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return Template(text.removesuffix("\n"))


def fill(name: str, **values: object) -> str:
    return template(name).substitute(**{key: str(value) for key, value in values.items()})


def fence_for(*texts: str) -> str:
    """Three backticks, or more when the text itself has a line starting with three."""
    fence = "```"
    while any(line.lstrip().startswith(fence) for text in texts for line in text.split("\n")):
        fence += "`"
    return fence


def fence_language(path: str) -> str:
    return FENCE_LANGUAGES.get(PurePosixPath(path).suffix.lower(), "")


def _ending(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


@dataclass(frozen=True)
class Section:
    """One part of the prompt: its name, its text, its token count."""

    name: str
    text: str
    tokens: int


@dataclass(frozen=True)
class Prompt:
    """Chat messages ready for the engine, and what each section costs."""

    messages: list[dict[str, str]]
    sections: tuple[Section, ...]

    @property
    def breakdown(self) -> dict[str, int]:
        """Tokens per section, in prompt order (sections that are empty are absent)."""
        return {section.name: section.tokens for section in self.sections}

    @property
    def total(self) -> int:
        """Tokens of all sections (the chat template adds a few more around each message)."""
        return sum(section.tokens for section in self.sections)


def system_text(edit_format: str = "search_replace") -> str:
    if edit_format not in EDIT_FORMATS:
        raise ContextError(f"unknown edit format {edit_format!r}; known: {', '.join(EDIT_FORMATS)}")
    return fill("edit/system") + "\n\n" + fill(f"edit/{edit_format}")


def files_text(context: EditorContext) -> str:
    parts = []
    for file in context.files:
        content = _ending(file.text)
        values = dict(path=file.path, fence=fence_for(content), language=fence_language(file.path), content=content)
        if file.lines is None:
            parts.append(fill("context/file", **values))
        else:
            parts.append(fill("context/file_part", lines=file.lines, total=file.total_lines, **values))
    return fill("context/files", files="\n\n".join(parts)) if parts else ""


def git_text(context: EditorContext) -> str:
    git = context.git
    if git is None or git.is_clean:
        return ""
    parts = []
    if git.staged:
        parts.append(fill("context/git_staged", fence=fence_for(git.staged), diff=_ending(git.staged)))
    if git.unstaged:
        parts.append(fill("context/git_unstaged", fence=fence_for(git.unstaged), diff=_ending(git.unstaged)))
    if git.untracked:
        parts.append(fill("context/git_untracked", files=", ".join(git.untracked)))
    return "\n\n".join(parts)


def selection_text(context: EditorContext) -> str:
    chosen = context.selection
    if chosen is None:
        return ""
    text = _ending(chosen.text)
    return fill("context/selection", path=chosen.path, lines=chosen.lines, fence=fence_for(text),
                language=fence_language(chosen.path), text=text)


def build_prompt(context: EditorContext, *, count_tokens: Callable[[str], int], repo_map: str = "",
                 focus_map: str = "", history: Sequence[dict[str, str]] = (),
                 edit_format: str = "search_replace") -> Prompt:
    """Chat messages for ``context`` (see the module docstring for the order) and the token breakdown."""
    texts = {
        "system": system_text(edit_format),
        "repo_map": fill("context/repo_map", map=repo_map.rstrip("\n")) if repo_map.strip() else "",
        "files": files_text(context),
        "git": git_text(context),
        "selection": selection_text(context),
        "focus": fill("context/focus", map=focus_map.rstrip("\n")) if focus_map.strip() else "",
        "instruction": fill("context/instruction", instruction=context.instruction.strip()),
    }
    for message in history:
        if message.get("role") not in ("user", "assistant") or not isinstance(message.get("content"), str):
            raise ContextError(f"bad history message {message!r}: needs role user/assistant and text content")

    def joined(names: Sequence[str]) -> str:
        return "\n\n".join(texts[name] for name in names if texts[name])

    messages = [{"role": "system", "content": texts["system"]}]
    stable = joined(STABLE_SECTIONS[1:])
    if stable:
        messages += [{"role": "user", "content": stable}, {"role": "assistant", "content": fill("context/ack")}]
    messages += [dict(message) for message in history]
    messages.append({"role": "user", "content": joined(VOLATILE_SECTIONS)})

    sections = [Section(name, texts[name], count_tokens(texts[name]))
                for name in STABLE_SECTIONS if texts[name]]
    if history:
        history_text = "\n\n".join(message["content"] for message in history)
        sections.append(Section("history", history_text, count_tokens(history_text)))
    sections += [Section(name, texts[name], count_tokens(texts[name])) for name in VOLATILE_SECTIONS if texts[name]]
    return Prompt(messages, tuple(sections))
