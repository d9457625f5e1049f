"""The `dgcode hook` commands: install, uninstall, run, restore.

``register(app)`` adds them to the main command line as ``dgcode hook ...``.
The installed hook script runs ``python -m dgcode.workflows.hook.run`` (the
same as ``dgcode hook run`` without typer, whose import would add ~0.1 s to every
commit); ``python -m dgcode.cli.hook`` runs this sub-app on its own.
Everything goes to stderr (git shows a hook's output as it runs).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from dgcode.workflows.exit_codes import ExitCode

RUN_HELP = """Check the staged files with the configured check command (fix.cmd) and fix what fails.

With no fix.cmd, the staged Python files must compile: those that do not are repaired by the configured \
model (a full model is asked for edits, which must compile before they are written), or by dgcode's embedded \
repair model when none is configured, and the commit stops for you to review the fix.

Unstaged changes are set aside while the check runs on exactly what will be committed, and put back \
afterwards. If dgcode changes files, the commit stops so you can review and stage them; dgcode never stages \
anything. Problems around the check (a configured model missing or broken, engine crash, time budget) only warn, unless --strict or \
hook.strict. SKIP=dgcode skips it; it does nothing during a merge, rebase or cherry-pick.

\b
Exit codes:
  0    the check passes, nothing to do, skipped, or a warning (fail open)
  1    dgcode modified files, the check fails and could not be fixed,
       a strict hook's infrastructure error, or unstaged changes that
       could not be put back (the message says how to restore them)
  130  interrupted (your files were put back)
"""

hook_app = typer.Typer(no_args_is_help=True, add_completion=False,
                       help="The pre-commit hook: check the staged files and fix what fails.")


def _say(message: str) -> None:
    typer.echo(f"dgcode: {message}", err=True)


def _fail(message: str) -> None:
    typer.echo(f"dgcode: error: {message}", err=True)
    raise typer.Exit(ExitCode.FAILED)


@hook_app.command("install")
def install_command(
    strict: bool = typer.Option(False, "--strict", help="Stop the commit on infrastructure errors too."),
    force: bool = typer.Option(False, "--force", help="Install even if another pre-commit hook is there: it is "
                               "kept as pre-commit.dgcode-chained and run first."),
) -> None:
    """Install dgcode's pre-commit hook (core.hooksPath respected) using this Python."""
    from dgcode.workflows.hook.install import HookInstallError, install

    try:
        change = install(Path.cwd(), strict=strict, force=force)
    except (HookInstallError, OSError) as error:
        _fail(str(error))
    typer.echo(change.message, err=True)


@hook_app.command("uninstall")
def uninstall_command() -> None:
    """Remove dgcode's pre-commit hook, putting back a hook it chained."""
    from dgcode.workflows.hook.install import HookInstallError, uninstall

    try:
        change = uninstall(Path.cwd())
    except (HookInstallError, OSError) as error:
        _fail(str(error))
    typer.echo(change.message, err=True)


@hook_app.command("run", help=RUN_HELP)
def run_command(
    files: list[str] | None = typer.Argument(None, help="Files to fix (the pre-commit framework passes "
                                                "them); default: the staged files."),
    strict: bool = typer.Option(False, "--strict", help="Stop the commit on infrastructure errors too."),
) -> None:
    from dgcode.workflows.hook.run import HookRequest, report

    raise typer.Exit(report(HookRequest(Path(os.getcwd()), tuple(files or ()), True if strict else None)))


@hook_app.command("restore")
def restore_command() -> None:
    """Put back unstaged changes an interrupted hook run left set aside (in .git/dgcode/hook/)."""
    from dgcode.workflows.hook.aside_store import StoreError, hook_lock
    from dgcode.workflows.hook.hookgit import HookGitError, locate, shown
    from dgcode.workflows.hook.staged import restore_pending

    try:
        root, git_dir = locate(Path.cwd())
        with hook_lock(git_dir):
            done = restore_pending(root, git_dir)
    except (HookGitError, StoreError, OSError) as error:
        _fail(str(error))
    if not done:
        typer.echo("dgcode: no interrupted hook run; nothing to restore", err=True)
    failed = False
    for record, result in done:
        typer.echo(f"dgcode: {record.folder}: put back {len(result.restored)} file(s)", err=True)
        for path in result.left:
            index = next(i for i, e in enumerate(record.entries) if e.path == path)
            typer.echo(f"  {shown(path)} changed since; left as it is (your version: "
                       f"{record.blob_path(index, 'user')})", err=True)
        for problem in result.problems:
            failed = True
            typer.echo(f"  error: {problem}", err=True)
    raise typer.Exit(ExitCode.FAILED if failed else ExitCode.OK)


def register(app: typer.Typer) -> None:
    """Add ``dgcode hook install|uninstall|run|restore`` to ``app``."""
    app.add_typer(hook_app, name="hook")


def main() -> None:  # pragma: no cover - the installed hook's entry
    hook_app(prog_name="dgcode hook")


if __name__ == "__main__":  # pragma: no cover
    main()
