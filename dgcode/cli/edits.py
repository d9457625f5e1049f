"""The `apply`, `undo` and `recover` commands: thin hand-offs to dgcode.edits, registered on the main app.

Exit codes: 0 when everything asked for was done (every edit applied, the
undo or recovery complete); 1 when something failed or was refused; 2 for
usage errors (missing response file, root not a folder).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from dgcode.render.diff import diff_text
from dgcode.workflows.exit_codes import ExitCode

if TYPE_CHECKING:  # the commands import dgcode.edits lazily, so `dgcode --help` stays fast
    from dgcode.edits.apply import ApplyReport
    from dgcode.edits.journal import FileRecovery

STATUS_STYLE = {"applied": "green", "refused": "yellow", "failed": "red"}


def _consoles() -> tuple[Console, Console]:
    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


def _usage_error(message: str) -> None:
    _consoles()[1].print(Text("error: ", style="bold red") + Text(message))
    raise typer.Exit(ExitCode.USAGE)


def _check_root(root: Path) -> Path:
    if not root.is_dir():
        _usage_error(f"--root {root} is not a folder")
    return root


def _print_apply(report: ApplyReport) -> None:
    out, err = _consoles()
    for result in report.edit_results():
        line = Text(f"edit {result['index']} ", style="bold") + Text(str(result["file"]))
        line.append(f" {result['status']}", style=STATUS_STYLE.get(str(result["status"]), ""))
        if result["level"] not in (None, "exact"):
            line.append(f" (matched with tolerance: {result['level']})", style="yellow")
        if result.get("note"):
            line.append(f" ({result['note']})", style="yellow")
        if result["reason"]:
            line.append(f": {result['reason']}")
        out.print(line)
    for problem in report.parse_problems:
        out.print(Text("response problem: ", style="yellow") + Text(problem))
    if report.ok:
        for change in report.changes:
            out.print(diff_text(change.path, change.old_bytes, change.new_bytes), end="")
    if report.snapshot is not None:
        out.print(Text(report.snapshot.note, style="dim"))
    if report.error:
        err.print(Text("error: ", style="bold red") + Text(report.error))
    if report.dry_run:
        out.print(Text("dry run: nothing was written", style="dim"))
    elif report.written:
        out.print(Text(f"wrote {len(report.written)} file(s); `dgcode undo` reverts them", style="green"))
    elif report.ok:
        out.print(Text("the edits change nothing; nothing was written", style="dim"))
    else:
        out.print(Text("nothing was written", style="red"))


def _print_files(files: Iterable[FileRecovery], problems: tuple[str, ...], message: str, ok: bool) -> None:
    out, err = _consoles()
    for item in files:
        out.print(Text(f"{item.path}: ") + Text(item.action, style="green" if ok else "yellow"))
    for problem in problems:
        err.print(Text("problem: ", style="yellow") + Text(problem))
    (out if ok else err).print(Text(message, style="" if ok else "bold red"))


def _echo_json(document: dict[str, object]) -> None:
    typer.echo(json.dumps(document, indent=2))


def register(app: typer.Typer) -> None:
    """Add the `apply`, `undo` and `recover` commands to ``app``."""

    @app.command("apply")
    def apply_command(
        response_file: Path = typer.Argument(..., help="File holding the model's response ('-' reads stdin)."),
        root: Path = typer.Option(Path("."), "--root", help="Folder the edit paths are relative to."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Check every edit and show the diff; write nothing."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON report instead of diffs."),
        whole_file: bool = typer.Option(False, "--whole-file", help="The response holds whole files, not "
                                        "SEARCH/REPLACE blocks."),
    ) -> None:
        """Apply the edits of a model response: all of them, or none."""
        from dgcode.edits.apply import apply_response

        _check_root(root)
        if str(response_file) == "-":
            response = sys.stdin.buffer.read()
        elif not response_file.is_file():
            _usage_error(f"response file {response_file} does not exist or is not a file")
        else:
            response = response_file.read_bytes()
        try:
            report = apply_response(root, response, mode="whole_file" if whole_file else "search_replace",
                                    dry_run=dry_run)
        except KeyboardInterrupt:
            _consoles()[1].print("interrupted; if files were being written, run `dgcode recover` to roll back")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        if as_json:
            _echo_json(report.to_json())
        else:
            _print_apply(report)
        raise typer.Exit(ExitCode.OK if report.ok else ExitCode.FAILED)

    @app.command("undo")
    def undo_command(
        root: Path = typer.Option(Path("."), "--root", help="Folder of the working tree."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
    ) -> None:
        """Revert dgcode's last apply, if its files are still as dgcode left them."""
        from dgcode.edits.apply import undo

        report = undo(_check_root(root))
        if as_json:
            _echo_json(report.to_json())
        else:
            _print_files(report.files, (), report.message, report.undone)
        raise typer.Exit(ExitCode.OK if report.undone and not report.recovery_needed else ExitCode.FAILED)

    @app.command("recover")
    def recover_command(
        root: Path = typer.Option(Path("."), "--root", help="Folder of the working tree."),
        finish: bool = typer.Option(False, "--finish", help="Complete the interrupted write instead of rolling "
                                    "it back."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
    ) -> None:
        """Roll back (or with --finish, complete) an apply or undo that was interrupted."""
        from dgcode.edits.journal import JournalError, recover
        from dgcode.vcs.snapshot import SnapshotError

        try:
            report = recover(_check_root(root), finish=finish)
        except (JournalError, SnapshotError) as error:
            _consoles()[1].print(Text("error: ", style="bold red") + Text(str(error)))
            raise typer.Exit(ExitCode.FAILED) from None
        if as_json:
            _echo_json(report.to_json())
        else:
            _print_files(report.files, report.problems, report.message, report.ok)
        raise typer.Exit(ExitCode.OK if report.ok else ExitCode.FAILED)
