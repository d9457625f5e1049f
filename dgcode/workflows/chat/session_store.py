"""Saved chat sessions: one JSON file per session in dgcode's data folder, never in the repository.

Pure Python (no textual). A repository's sessions live under
``data_dir()/sessions/<name>-<hash>/`` (the hash is of the repository's real
path, the name only helps a person find the folder), one ``<id>.json`` each,
holding a format version, the repository path, created/updated times, the
transcript entries needed to show it again, the conversation history the
model sees and the context (file labels and ranges). Files are written
atomically (a temporary file, then a rename). A file this version cannot
read (invalid JSON, another format version, wrong fields) is renamed aside
to ``<file>.corrupt-<time>`` and reported as a SessionFileError: never fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dgcode.fsio import write_text_atomic

FORMAT_VERSION = 1
"""The session file format this version writes and reads."""
ENTRY_KINDS = ("user", "answer", "note", "markdown")
FIRST_REQUEST_CHARS = 60
"""/history shows a session's first request cut to this many characters."""


class SessionFileError(Exception):
    """A session file could not be read; it was set aside (``moved_to``) and the app starts a fresh session."""

    def __init__(self, message: str, moved_to: Path | None = None):
        super().__init__(message)
        self.moved_to = moved_to


@dataclass(frozen=True)
class Entry:
    """One transcript entry: ``kind`` is user, answer, note or markdown; ``style`` a note's kind (or "cancelled")."""

    kind: str
    text: str
    style: str = ""


@dataclass
class SavedSession:
    """Everything needed to show a session again and go on with it."""

    id: str
    repo: str
    created: str
    updated: str
    entries: list[Entry] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    """The context's file labels: ``path`` or ``path:START-END``, repository-relative."""
    attachments: list[dict[str, str]] = field(default_factory=list)
    """What goes with the next message (a /run's output): ``{"label": ..., "text": ...}`` each."""

    @property
    def turns(self) -> int:
        return sum(1 for e in self.entries if e.kind == "user")

    @property
    def first_request(self) -> str:
        first = next((e.text for e in self.entries if e.kind == "user"), "")
        line = " ".join(first.split())
        return line if len(line) <= FIRST_REQUEST_CHARS else line[:FIRST_REQUEST_CHARS - 1] + "…"

    def to_json(self) -> dict:
        return {"format": FORMAT_VERSION, "id": self.id, "repo": self.repo, "created": self.created,
                "updated": self.updated,
                "transcript": [{"kind": e.kind, "text": e.text, **({"style": e.style} if e.style else {})}
                               for e in self.entries],
                "history": self.history, "context": self.context, "attachments": self.attachments}


def now_text() -> str:
    """The local time with its offset, to the second (how session files record times)."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def shown_time(text: str) -> str:
    """A recorded time as /history shows it (local, to the minute)."""
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


def repo_key(repo: Path) -> str:
    """The folder name of a repository's sessions: a readable name and a hash of its real path."""
    real = os.path.realpath(repo)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(real).name).strip("._") or "root"
    return f"{name[:40]}-{digest}"


def parse_session(data: object) -> SavedSession:
    """A session file's JSON as a SavedSession; ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    version = data.get("format")
    if version != FORMAT_VERSION:
        raise ValueError(f"format version {version!r}, and this dgcode reads version {FORMAT_VERSION}")
    texts = {key: data.get(key) for key in ("id", "repo", "created", "updated")}
    for key, value in texts.items():
        if not isinstance(value, str):
            raise ValueError(f"{key!r} is missing or not text")
    entries = []
    for item in _list(data, "transcript"):
        if not (isinstance(item, dict) and item.get("kind") in ENTRY_KINDS and isinstance(item.get("text"), str)
                and isinstance(item.get("style", ""), str)):
            raise ValueError(f"a transcript entry is malformed: {str(item)[:80]}")
        entries.append(Entry(item["kind"], item["text"], item.get("style", "")))
    history = _list(data, "history")
    if not all(isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
               for m in history):
        raise ValueError("a history message is malformed")
    context = _list(data, "context")
    if not all(isinstance(label, str) and label for label in context):
        raise ValueError("a context label is malformed")
    history = [{"role": m["role"], "content": m["content"]} for m in history]
    attachments = _list(data, "attachments")  # absent in files written before attachments were saved
    if not all(isinstance(a, dict) and isinstance(a.get("label"), str) and isinstance(a.get("text"), str)
               for a in attachments):
        raise ValueError("an attachment is malformed")
    return SavedSession(texts["id"], texts["repo"], texts["created"], texts["updated"], entries, history,
                        list(context), [{"label": a["label"], "text": a["text"]} for a in attachments])


def _list(data: dict, key: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{key!r} is not a list")
    return value


class SessionStore:
    """The saved sessions of one repository."""

    def __init__(self, repo: Path, base: Path | None = None):
        self.repo = Path(os.path.realpath(repo))
        if base is None:
            from dgcode.models.store import data_dir

            base = data_dir()
        self.folder = Path(base) / "sessions" / repo_key(self.repo)

    def new(self) -> SavedSession:
        """A fresh, empty session (not written until saved)."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        when = now_text()
        return SavedSession(f"{stamp}-{secrets.token_hex(2)}", str(self.repo), when, when)

    def path_of(self, session_id: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", session_id) or session_id.startswith("."):
            raise ValueError(f"not a session id: {session_id!r}")
        return self.folder / f"{session_id}.json"

    def save(self, session: SavedSession) -> Path:
        """Write ``session`` atomically (temporary file, fsync, rename); its ``updated`` time becomes now."""
        session.updated = now_text()
        text = json.dumps(session.to_json(), ensure_ascii=False, indent=1) + "\n"
        return write_text_atomic(self.path_of(session.id), text)

    def files(self) -> list[Path]:
        """The session files, most recently written first."""
        try:
            found = [p for p in self.folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
        except OSError:
            return []
        return sorted(found, key=lambda p: (_modified(p), p.name), reverse=True)

    def load_file(self, path: Path) -> SavedSession:
        """Read one session file; SessionFileError (the file set aside) when it cannot be used."""
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as error:
            raise SessionFileError(f"session file {path.name} cannot be read ({error.strerror or error})") from error
        try:
            return parse_session(json.loads(raw))
        except (ValueError, RecursionError) as error:  # json.JSONDecodeError is a ValueError
            why = "is not valid JSON" if isinstance(error, json.JSONDecodeError) else f"cannot be used: {error}"
            moved = self.set_aside(path)
            where = f"set aside as {moved.name}" if moved else "left in place (it could not be renamed)"
            raise SessionFileError(f"session file {path.name} {why}; {where}, starting a new session",
                                   moved) from error

    def load(self, session_id: str) -> SavedSession:
        return self.load_file(self.path_of(session_id))

    def latest(self) -> SavedSession | None:
        """The most recently written session (None: there is none); SessionFileError if it cannot be read."""
        files = self.files()
        return self.load_file(files[0]) if files else None

    def sessions(self) -> tuple[list[SavedSession], list[str]]:
        """Every readable session, newest first, and a note for each file that was set aside."""
        found, notes = [], []
        for path in self.files():
            try:
                found.append(self.load_file(path))
            except SessionFileError as error:
                notes.append(str(error).removesuffix(", starting a new session"))
        return found, notes

    def set_aside(self, path: Path) -> Path | None:
        """Rename an unreadable file to ``<name>.corrupt-<time>`` so it is kept but never read again."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        counter = 1
        while target.exists():
            counter += 1
            target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        try:
            os.replace(path, target)
        except OSError:
            return None
        return target


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
