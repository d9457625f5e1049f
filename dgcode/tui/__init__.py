"""dgcode's terminal UI (Textual): `run_tui` starts it.

This package's own top level stays light (no textual import), so the engine
child process can unpickle the small helpers in ``dgcode.tui.engine`` without
loading the UI.
"""

from __future__ import annotations

from pathlib import Path


def run_tui(root: Path, config, *, paths=(), resume: bool = False) -> int:
    """Run the app in the terminal for the repository at ``root`` with ``config`` (dgcode.config.Config);
    ``paths`` go in the context at start, ``resume`` shows the repository's latest session again."""
    from dgcode.tui.app import run_tui as run

    return run(root, config, paths=paths, resume=resume)


__all__ = ["run_tui"]
