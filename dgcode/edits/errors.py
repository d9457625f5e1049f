"""EditError: the one exception the edits package raises, with a user-facing message.

Every refusal (unsafe path, binary file, bad encoding, ambiguous or missing
SEARCH text, stale file, failed write) is an ``EditError``.  Its ``str()`` is
written for the person at the terminal and for the model asked to retry; its
``code`` lets callers sort refusals without parsing the text.
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    """Why an edit could not go ahead."""

    UNSAFE_PATH = "unsafe_path"
    """The path leaves the repository, goes through a symlink, or into .git/."""
    BINARY = "binary"
    """The file has a NUL byte in its first 8,000 bytes."""
    TOO_LARGE = "too_large"
    """The file is over the size cap."""
    ENCODING = "encoding"
    """The file is not valid UTF-8."""
    MISSING_FILE = "missing_file"
    """A non-empty SEARCH names a file that does not exist."""
    NOT_EMPTY = "not_empty"
    """An empty SEARCH (create) names a file that already has content."""
    NO_MATCH = "no_match"
    """The SEARCH text is not in the file at any tolerance level."""
    AMBIGUOUS = "ambiguous"
    """The SEARCH text matches more than one place."""
    STALE = "stale"
    """The file changed since dgcode read it."""
    NOT_APPLICABLE = "not_applicable"
    """A plan with a failed or refused edit was asked to apply."""
    IO_FAILED = "io_failed"
    """The operating system refused a read or a write."""
    READ_ONLY = "read_only"
    """The file is not writable for the user (or has no write bit at all); dgcode does not replace it."""
    EMPTY_CONTENT = "empty_content"
    """A whole-file edit would empty a file that has text."""
    DUPLICATE_FILE = "duplicate_file"
    """A response gives more than one whole-file version of the same file."""


class EditError(Exception):
    """An edit was refused; ``str(error)`` is the message to show the user."""

    def __init__(self, message: str, *, code: ErrorCode, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.path = path

    def __str__(self) -> str:
        return self.message
