"""Tags: the definitions and references in a source file, found with tree-sitter queries.

Each supported language has a grammar wheel (``tree-sitter-python`` and so
on) and a query file, ``prompts/queries/<language>-tags.scm``.  A query marks
the identifier of a definition with ``@name.definition.KIND`` and the whole
definition with ``@definition.KIND``; references with ``@name.reference.KIND``.

A definition tag carries the lines the repo map shows for it: the headers of
the definitions around it (a method's class), then its own header, from the
first line of the definition up to where its body starts (at most
``MAX_SIGNATURE_LINES`` lines).  A reference that sits exactly on a
definition's name (broad ``(type_identifier)`` patterns catch those) is dropped.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import PurePosixPath

import tree_sitter

MAX_SIGNATURE_LINES = 4
MAX_LINE_CHARS = 160

# language -> (grammar module, function returning the grammar, query file stem)
GRAMMARS: dict[str, tuple[str, str, str]] = {
    "python": ("tree_sitter_python", "language", "python"),
    "javascript": ("tree_sitter_javascript", "language", "javascript"),
    "typescript": ("tree_sitter_typescript", "language_typescript", "typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx", "typescript"),
    "rust": ("tree_sitter_rust", "language", "rust"),
    "go": ("tree_sitter_go", "language", "go"),
    "java": ("tree_sitter_java", "language", "java"),
    "c": ("tree_sitter_c", "language", "c"),
    "cpp": ("tree_sitter_cpp", "language", "cpp"),
}

EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".rs": "rust", ".go": "go", ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hh": "cpp", ".hpp": "cpp", ".hxx": "cpp",
}


@dataclass(frozen=True)
class Tag:
    """One definition or reference of an identifier in a file."""

    path: str
    """Repo-relative, ``/``-separated."""
    name: str
    kind: str
    """``"def"`` or ``"ref"``."""
    category: str
    """What the query called it: function, method, class, call, type, ..."""
    line: int
    """0-based row of the identifier."""
    lines: tuple[tuple[int, str], ...] = ()
    """For a definition: (row, text) of the lines the repo map shows."""


def language_for(path: str) -> str | None:
    """The language of ``path`` by its extension, or None when dgcode has no grammar for it."""
    return EXTENSIONS.get(PurePosixPath(path).suffix.lower())


def query_text(stem: str) -> str:
    return resources.files("dgcode.prompts").joinpath("queries", f"{stem}-tags.scm").read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _tools(language: str) -> tuple[tree_sitter.Parser, tree_sitter.Query]:
    module_name, function, stem = GRAMMARS[language]
    grammar = tree_sitter.Language(getattr(importlib.import_module(module_name), function)())
    return tree_sitter.Parser(grammar), tree_sitter.Query(grammar, query_text(stem))


def _clip(text: str) -> str:
    text = text.rstrip()
    return text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 1] + "…"


def _header_rows(node, name_row: int, source: bytes) -> tuple[int, int]:
    """First and last row of a definition's header: up to its body, or its name's row."""
    first = node.start_point.row
    body = node.child_by_field_name("body")
    if body is None:
        return first, max(first, name_row)
    last = body.start_point.row
    line_start = source.rfind(b"\n", 0, body.start_byte) + 1
    if last > first and not source[line_start : body.start_byte].strip():
        last -= 1  # the body starts its own line (a Python block, an Allman brace)
    return first, max(first, min(last, first + MAX_SIGNATURE_LINES - 1))


def extract_tags(path: str, source: bytes, language: str | None = None) -> list[Tag]:
    """All definition and reference tags of one file (empty for a language dgcode does not know)."""
    language = language or language_for(path)
    if language is None:
        return []
    parser, query = _tools(language)
    tree = parser.parse(source)
    text_lines = source.decode("utf-8", "replace").split("\n")
    definitions: dict[int, tuple] = {}  # name start byte -> (name node, category, definition node)
    references: list[tuple] = []
    for _, captures in tree_sitter.QueryCursor(query).matches(tree.root_node):
        whole = {key.split(".", 1)[1]: nodes[0] for key, nodes in captures.items() if key.startswith("definition.")}
        for key, nodes in captures.items():
            if key.startswith("name.definition."):
                category = key.rsplit(".", 1)[1]
                for node in nodes:
                    definitions.setdefault(node.start_byte, (node, category, whole.get(category, node)))
            elif key.startswith("name.reference."):
                references.extend((node, key.rsplit(".", 1)[1]) for node in nodes)

    def row_text(row: int) -> str:
        return _clip(text_lines[row]) if row < len(text_lines) else ""

    tags: list[Tag] = []
    scopes: list[tuple[int, tuple[int, str]]] = []  # (end byte, header line) of enclosing definitions
    for _, (name, category, node) in sorted(definitions.items(), key=lambda item: (item[1][2].start_byte, item[0])):
        while scopes and scopes[-1][0] <= node.start_byte:
            scopes.pop()
        first, last = _header_rows(node, name.start_point.row, source)
        own = tuple((row, row_text(row)) for row in range(first, last + 1))
        parents = tuple(header for _, header in scopes if header[0] < first)
        tags.append(Tag(path, _node_text(name), "def", category, name.start_point.row, parents + own))
        scopes.append((node.end_byte, own[0]))
    seen = set(definitions)
    for node, category in references:
        if node.start_byte not in seen:
            seen.add(node.start_byte)
            tags.append(Tag(path, _node_text(node), "ref", category, node.start_point.row))
    return tags


def _node_text(node) -> str:
    return node.text.decode("utf-8", "replace")
