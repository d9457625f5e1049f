"""Helpers for driving the Textual app with its test pilot: wait for a condition, submit a line, run, read notes."""

from __future__ import annotations

import asyncio
import time


async def until(pilot, predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app run until ``predicate()`` holds; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


async def submit(pilot, text: str) -> None:
    """Put ``text`` in the prompt and press enter (typing every key is slow; one test types)."""
    pilot.app.main.prompt.set_text(text)
    await pilot.press("enter")


def run(scenario, timeout: float = 30) -> None:
    """Run an async pilot scenario to the end, failing it after ``timeout`` seconds."""
    asyncio.run(asyncio.wait_for(scenario(), timeout))


def notes(app, kind: str | None = None) -> list[str]:
    """The transcript's notes (of one kind: "ok", "warning", "error"), oldest first."""
    from dgcode.tui.widgets.transcript import Note

    return [n.text for n in app.main.transcript.query(Note) if kind is None or n.kind == kind]
