"""Asking before edits are applied: the whole change y/n, or hunk by hunk as `git add -p` does (y/n/a/q/?).

``diff_confirm`` builds the confirm step that `fix` and `edit` hand their
pipelines; ``ask_hunks`` asks per hunk and returns exactly the accepted
hunks.  Nothing is written here: the pipeline applies what was accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from dgcode.edits.diff import FileChange
from dgcode.workflows.exit_codes import ExitCode

if TYPE_CHECKING:  # edits.hunks loads the apply path: only when something is confirmed
    from dgcode.edits.hunks import Accepted, Hunk

HUNK_HELP = """y - apply this hunk
n - do not apply this hunk
a - apply this hunk and every remaining one
q - quit: apply no more hunks (those accepted so far are applied)
? - print this help"""


def diff_confirm(out: Console, err: Console, *, yes: bool, as_json: bool, terminal: Callable[[], bool],
                 question: Callable[[tuple[FileChange, ...]], str], interrupted: str, not_confirmed: str,
                 refusal: list[str]) -> Callable[[tuple[FileChange, ...]], Accepted]:
    """The confirm step `fix` and `edit` give their pipelines; why nothing was applied goes into ``refusal``.

    With --yes: show each diff, apply all.  In a terminal (no --json): a change
    of one hunk is shown and asked y/n; a larger one is asked hunk by hunk, as
    `git add -p` does (``ask_hunks``), and exactly the accepted hunks are
    applied.  Otherwise: show each diff and refuse.
    """
    from dgcode.cli.trust import ask

    def confirm(changes: tuple[FileChange, ...]) -> Accepted:
        from dgcode.edits.hunks import is_everything, split_hunks

        asking = not yes and not as_json and terminal()
        if asking and sum(len(split_hunks(change)) for change in changes) > 1:
            accepted = ask_hunks(changes, out, err, interrupted=interrupted)
            if not accepted:
                refusal.append("not applied: you declined every hunk")
                return False
            return True if is_everything(changes, accepted) else accepted
        if not as_json:
            for change in changes:
                out.print(diff_lines(change), end="")
        if yes:
            return True
        if asking:
            if ask(question(changes), err, interrupted=interrupted):
                return True
            refusal.append("not applied: you declined")
            return False
        refusal.append(not_confirmed)
        return False

    return confirm


def _hunk_text(hunk: Hunk) -> Text:
    text = Text()
    for line in hunk.diff_lines():
        style = ("cyan" if line.startswith("@@") else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "dim" if line.startswith("\\") else "")
        text.append(line, style=style)
    return text


def _hunk_answer(prompt: str, err: Console, interrupted: str) -> str:
    """One answer at the hunk prompt: y, n, a, q or ?; end of input is q, Ctrl+C exits 130 with ``interrupted``."""
    try:
        return typer.prompt(prompt, default="", show_default=False, err=True, prompt_suffix="? ").strip().lower()
    except typer.Abort as abort:  # click turns both Ctrl+C and end of input into Abort
        err.print()
        if isinstance(abort.__context__, EOFError):
            return "q"
        err.print(Text(interrupted))
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def ask_hunks(changes: tuple[FileChange, ...], out: Console, err: Console, *,
              interrupted: str) -> tuple[FileChange, ...]:
    """Ask per hunk, as `git add -p`: y yes, n no, a this and all remaining, q quit (no more; those accepted so far
    stay accepted), ? help.  Returns the accepted changes, each with only its accepted hunks (none: nothing).

    Nothing is written here: the pipeline applies the result.  Ctrl+C exits 130 and nothing is applied.
    """
    from dgcode.edits.hunks import reduced, split_hunks

    split = [(change, split_hunks(change)) for change in changes]
    total = sum(len(hunks) for _change, hunks in split)
    number, kept, rest, stop = 0, 0, False, False
    accepted = []
    for change, hunks in split:
        chosen: set[int] = set()
        for hunk in hunks:
            number += 1
            if stop:
                break
            if rest:
                chosen.add(hunk.index)
                kept += 1
                continue
            if hunk.index == 0:
                out.print(Text(f"--- {'/dev/null' if change.created else 'a/' + change.path}\n"
                               f"+++ b/{change.path}\n", style="bold"), end="")
            out.print(_hunk_text(hunk), end="")
            while True:
                answer = _hunk_answer(f"({number}/{total}) apply this hunk [y,n,a,q,?]", err, interrupted)
                if answer in ("y", "n", "a", "q"):
                    break
                err.print(Text(HUNK_HELP, style="yellow"))
            if answer in ("y", "a"):
                chosen.add(hunk.index)
                kept += 1
            rest, stop = answer == "a", answer == "q"
        smaller = reduced(change, chosen)
        if smaller is not None:
            accepted.append(smaller)
    if accepted:
        err.print(Text(f"applying {kept} of {total} hunk(s)", style="dim"))
    return tuple(accepted)


def diff_lines(change: FileChange) -> Text:
    """One file's unified diff, coloured."""
    from dgcode.render.diff import diff_text

    return diff_text(change.path, change.old_bytes, change.new_bytes)
