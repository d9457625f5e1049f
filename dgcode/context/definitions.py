"""Definitions by name: where a function, class or method named NAME starts and ends in a source file.

The tags queries (``prompts/queries/<language>-tags.scm``, see tags.py) mark
the identifier of a definition with ``@name.definition.KIND`` and the whole
definition with ``@definition.KIND``; ``find_definitions`` runs the same
query and returns, for every definition called NAME, its first and last line
(1-based, inclusive).  A Python definition's decorators belong to it.

A name may be qualified with dots: ``Parser.parse`` is a ``parse`` defined
inside ``Parser`` (a class, or for Rust an ``impl Parser`` block); a bare
``parse`` matches a definition of that name at any depth.
``resolve_definition`` wants exactly one: none, several (listed with their
lines) and a file in a language without a grammar are ``ContextError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter

from dgcode.context.errors import ContextError
from dgcode.context.tags import GRAMMARS, _tools, language_for

WRAPPERS = {"decorated_definition"}
"""Parent nodes that belong to the definition they wrap (a Python definition's decorators)."""
SCOPE_NAME_FIELDS = {"impl_item": "type"}
"""Nodes that are not definitions but scope the ones inside (Rust ``impl T``), with the field naming them."""
MAX_LISTED = 12


@dataclass(frozen=True)
class Definition:
    """One definition in a file: its qualified name, what the query calls it, its lines (1-based, inclusive)."""

    name: str
    """Dotted with the names of the definitions around it: ``Parser.parse``."""
    category: str
    start: int
    end: int

    def describe(self) -> str:
        return f"{self.category} {self.name} (lines {self.start}-{self.end})"


def _text(node) -> str:
    return node.text.decode("utf-8", "replace")


def _last_row(node) -> int:
    """The 0-based row of the definition's last character (a node ending at column 0 ends on the row before)."""
    end = node.end_point
    return end.row - 1 if end.column == 0 and end.row > node.start_point.row else end.row


def list_definitions(path: str, source: bytes, language: str | None = None) -> list[Definition]:
    """Every definition of ``source`` (a file at ``path``) in file order; empty for a language dgcode does not know."""
    language = language or language_for(path)
    if language is None:
        return []
    parser, query = _tools(language)
    tree = parser.parse(source)
    found: dict[int, tuple] = {}  # definition node id -> (node, name node, category)
    for _, captures in tree_sitter.QueryCursor(query).matches(tree.root_node):
        wholes = {key.split(".", 1)[1]: nodes[0] for key, nodes in captures.items() if key.startswith("definition.")}
        for key, nodes in captures.items():
            if not key.startswith("name.definition."):
                continue
            category = key.rsplit(".", 1)[1]
            whole = wholes.get(category)
            if whole is not None and nodes:
                found.setdefault(whole.id, (whole, nodes[0], category))
    names = {node_id: _text(name) for node_id, (_node, name, _category) in found.items()}
    definitions = []
    for node_id, (node, _name, category) in sorted(found.items(), key=lambda item: item[1][0].start_byte):
        scopes = []
        parent = node.parent
        while parent is not None:
            if parent.id in names:
                scopes.append(names[parent.id])
            elif parent.type in SCOPE_NAME_FIELDS:
                named = parent.child_by_field_name(SCOPE_NAME_FIELDS[parent.type])
                if named is not None:
                    scopes.append(_text(named))
            parent = parent.parent
        outer = node.parent if node.parent is not None and node.parent.type in WRAPPERS else node
        qualified = ".".join([*reversed(scopes), names[node_id]])
        definitions.append(Definition(qualified, category, outer.start_point.row + 1, _last_row(outer) + 1))
    return definitions


def find_definitions(path: str, source: bytes, name: str, language: str | None = None) -> list[Definition]:
    """The definitions called ``name``: its full dotted name, or the end of one (``parse`` finds ``Parser.parse``)."""
    wanted = name.strip()
    return [d for d in list_definitions(path, source, language)
            if d.name == wanted or d.name.endswith("." + wanted)]


def resolve_definition(path: str, source: bytes, name: str) -> Definition:
    """The one definition called ``name`` in ``source``; ContextError when there is none, several, or no grammar."""
    language = language_for(path)
    if language is None or language not in GRAMMARS:
        known = ", ".join(sorted(GRAMMARS))
        raise ContextError(f"{path}::{name}: dgcode has no grammar for this kind of file, so it cannot find "
                           f"definitions by name (it knows {known}); name the lines instead: {path}:START-END")
    try:
        matches = find_definitions(path, source, name, language)
    except ImportError:  # the grammar wheel is not installed
        raise ContextError(f"{path}::{name}: the tree-sitter grammar for {language} is not installed "
                           f"({GRAMMARS[language][0]}); name the lines instead: {path}:START-END") from None
    if not matches:
        known = [d.name for d in list_definitions(path, source, language)]
        shown = ", ".join(known[:MAX_LISTED]) + (f", ... ({len(known)} in all)" if len(known) > MAX_LISTED else "")
        raise ContextError(f"{path}::{name}: no function, class or other definition of that name in {path}"
                           + (f"; it defines {shown}" if known else "; it defines nothing dgcode can name"))
    exact = [d for d in matches if d.name == name.strip()]
    if len(matches) > 1 and len(exact) == 1:
        return exact[0]
    if len(matches) > 1:
        listed = "; ".join(d.describe() for d in matches[:MAX_LISTED])
        raise ContextError(f"{path}::{name} is ambiguous: {len(matches)} definitions have that name: {listed}; "
                           "qualify it (Class.method) or name the lines: "
                           f"{path}:{matches[0].start}-{matches[0].end}")
    return matches[0]
