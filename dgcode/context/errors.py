"""ContextError: the one exception the context package raises, with a message for the person at the terminal.

A bad request (a line range that does not parse or lies past the end of the
file, a path outside the repository, a missing file, a failing git command)
raises it.  Content that is merely unsuitable (binary, huge, not UTF-8,
ignored) is not an error: it is left out with a note (see sources.py).
"""

from __future__ import annotations


class ContextError(Exception):
    """Editor context could not be gathered; ``str(error)`` says why and what to do."""
