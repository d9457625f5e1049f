"""Slash commands: their names, arguments and help, parsing a typed line, and completing it.

Pure Python (no textual): the main screen runs the commands; this module only
knows what they are called and what the person may be about to type.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MAX_COMPLETIONS = 8
MAX_ADDED_FILES = 40
"""The most files one glob or folder given to /add puts in the context (the rest are named as left out)."""
GLOB_CHARS = frozenset("*?[")
THEMES = {"dark": "textual-dark", "light": "textual-light"}
"""/theme's choices and the Textual theme each one is."""


@dataclass(frozen=True)
class CommandSpec:
    """One slash command as /help lists it."""

    name: str
    args: str
    help: str
    completes: str = ""
    """What its argument completes to: "path", "context" (files in context), "models" (the registry's names),
    "choices" or "" (nothing)."""
    choices: tuple[str, ...] = ()
    """The words its argument may be, when it completes to "choices"."""

    @property
    def usage(self) -> str:
        return f"/{self.name}" + (f" {self.args}" if self.args else "")


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("add", "PATH[:RANGE] | GLOB | FOLDER ...", "put files, line ranges (src/a.py:10-40), globs "
                "(src/*.py, **/*.py) or folders in the context", "path"),
    CommandSpec("drop", "[PATH | run]", "take a file or /run output out of the context (no PATH: all files)",
                "context"),
    CommandSpec("ls", "", "list what is in the context"),
    CommandSpec("run", "[COMMAND]", "run your own command (no COMMAND: the configured fix.cmd); its output goes "
                "with your next message"),
    CommandSpec("trust", "", "trust this repository's .dgcode.toml so the command it sets (fix.cmd) may run"),
    CommandSpec("diff", "", "show uncommitted changes (git diff)"),
    CommandSpec("undo", "", "revert dgcode's last applied edits"),
    CommandSpec("edit", "[PATH:RANGE | PATH::name] INSTRUCTION", "rewrite those lines in place (a function or "
                "class by name; no target: the one line range in the context), then review the diff", "path"),
    CommandSpec("candidates", "K INSTRUCTION", "draft K answers together (shown side by side), judge each with "
                "the check command (fix.cmd) in a scratch copy, and review the first that passes"),
    CommandSpec("remask", "[THRESHOLD]", "re-denoise the last answer's least confident span (tokens committed "
                "below THRESHOLD, default 0.9)"),
    CommandSpec("copy", "[N]", "put the last answer (with N: its N-th code block) on the clipboard by OSC 52, "
                "and in clipboard.txt in dgcode's data folder (for terminals that ignore OSC 52)"),
    CommandSpec("model", "[PATH.gguf]", "show the model; with a path (or a pulled model's NAME), switch to it",
                "path"),
    CommandSpec("models", "", "list the models dgcode can download (/pull) and which are downloaded"),
    CommandSpec("pull", "NAME[:QUANT]", "download a model from the registry (esc cancels); then /model NAME",
                "models"),
    CommandSpec("theme", "[light | dark]", "switch between the light and the dark theme", "choices",
                ("light", "dark")),
    CommandSpec("clear", "", "start a new session: clear the transcript and the conversation history (files "
                "stay in context; the old session stays saved)"),
    CommandSpec("history", "[N | ID]", "list this repository's saved sessions; with N or an id, switch to one"),
    CommandSpec("help", "", "list commands and keys"),
    CommandSpec("quit", "", "leave dgcode (the session is saved; `dgcode --continue` resumes it)"),
    CommandSpec("exit", "", "leave dgcode, like /quit"),
)
BY_NAME = {spec.name: spec for spec in COMMANDS}


@dataclass(frozen=True)
class CommandLine:
    """A typed slash command: its (lower-case) name and the rest of the line."""

    name: str
    arg: str

    @property
    def spec(self) -> CommandSpec | None:
        return BY_NAME.get(self.name)


@dataclass(frozen=True)
class Completion:
    """A candidate for what is typed: the whole new input, and how the list shows it."""

    value: str
    label: str
    help: str = ""
    cursor: int | None = None
    """Where the cursor goes in ``value`` once it is taken (None: at its end)."""
    add: str = ""
    """A file to put in the context when it is taken (an @mention)."""


def parse_command(text: str) -> CommandLine | None:
    """``/add a.py`` as CommandLine("add", "a.py"); None when the text is not a command."""
    stripped = text.strip()
    if not stripped.startswith("/") or stripped.startswith("//"):
        return None
    name, _, arg = stripped[1:].partition(" ")
    return CommandLine(name.lower(), arg.strip())


def theme_label(theme: str) -> str:
    """How the context panel names a Textual theme: "dark", "light", or the theme's own name."""
    return next((label for label, name in THEMES.items() if name == theme), theme)


def help_text() -> str:
    width = max(len(spec.usage) for spec in COMMANDS)
    return "\n".join(f"{spec.usage:<{width}}  {spec.help}" for spec in COMMANDS)


def complete(text: str, root: Path, context_labels: Iterable[str] = ()) -> list[Completion]:
    """What the one-line input ``text`` may become: command names, then paths or context entries."""
    if "\n" in text or not text.startswith("/"):
        return []
    head, space, rest = text.partition(" ")
    name = head[1:].lower()
    if not space:
        return [Completion(f"/{spec.name}" + (" " if spec.args else ""), spec.usage, spec.help)
                for spec in COMMANDS if spec.name.startswith(name)][:MAX_COMPLETIONS]
    spec = BY_NAME.get(name)
    if spec is None or not spec.completes:
        return []
    before, _, word = rest.rpartition(" ")
    prefix = f"{head} {before} " if before else f"{head} "
    if spec.completes == "path":
        return [Completion(prefix + path, path) for path in complete_path(root, word)]
    if spec.completes == "models":
        choices = model_names()
    else:
        choices = [*context_labels, "run"] if spec.completes == "context" else list(spec.choices)
    return [Completion(prefix + choice, choice) for choice in choices if choice.startswith(word)][:MAX_COMPLETIONS]


def model_names() -> list[str]:
    """The registry's model names (none when the registry cannot be read)."""
    from dgcode.models.registry import RegistryError, load_registry

    try:
        return [entry.name for entry in load_registry()]
    except RegistryError:
        return []


def complete_path(root: Path, partial: str) -> list[str]:
    """Files and folders (with a trailing /) under ``root`` that start with ``partial``; never inside .git."""
    folder, _, stem = partial.rpartition("/")
    base = root / folder if folder else root
    try:
        entries = sorted(os.scandir(base), key=lambda e: (not e.is_dir(), e.name))
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.name.startswith(stem) or entry.name == ".git":
            continue
        if entry.name.startswith(".") and not stem.startswith("."):
            continue
        shown = f"{folder}/{entry.name}" if folder else entry.name
        found.append(shown + "/" if entry.is_dir() else shown)
        if len(found) >= MAX_COMPLETIONS:
            break
    return found


def is_pattern(word: str) -> bool:
    """Whether an /add argument is a glob (``*``, ``?``, ``[``) rather than one path."""
    return any(char in GLOB_CHARS for char in word)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob over ``/``-separated paths: ``*`` ``?`` ``[...]`` stay inside a folder, ``**`` spans folders."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body[0] in "!^" else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def expand_add(word: str, root: Path, repo: Path, files: Iterable[str]) -> list[str] | None:
    """The repository files (repo-relative) a glob or folder names, from ``files`` (the listable ones);
    None when ``word`` is neither (one PATH[:RANGE], which /add checks itself)."""
    folder = not is_pattern(word) and (root / word).is_dir()
    if not (folder or is_pattern(word)):
        return None
    real_root, real_repo = Path(os.path.realpath(root)), Path(os.path.realpath(repo))
    if folder:
        base = Path(os.path.realpath(root / word))
        if base != real_repo and real_repo not in base.parents:
            return []
        inside = base.relative_to(real_repo).as_posix()
        prefix = "" if inside == "." else inside + "/"
        return [path for path in files if path.startswith(prefix)]
    if real_root != real_repo and real_repo not in real_root.parents:
        return []
    here = real_root.relative_to(real_repo).as_posix()
    here = "" if here == "." else here + "/"
    wanted = glob_regex(word.removeprefix("./").rstrip("/"))
    return [path for path in files if path.startswith(here) and wanted.match(path[len(here):])]
