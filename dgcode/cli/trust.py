"""The `dgcode trust` command, and the trust question `dgcode fix` asks: allow a repository's own config.

``dgcode trust`` shows the repository's ``.dgcode.toml`` (control characters
escaped), names the settings in it that run commands, and records trust of
exactly the bytes it showed once the user says yes (or passes ``--yes``).
``--revoke`` forgets it.  ``offer_trust`` is the same question asked inside
an interactive ``dgcode fix``; a run with ``--yes``, without a terminal, or
with ``--json`` never trusts implicitly: it says what was ignored and how to
trust it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from dgcode.config import (
    KEYS,
    Config,
    ConfigError,
    find_repo_file,
    load_config,
    printable,
    read_config_file_and_digest,
    shown_path,
)
from dgcode.trust import TrustStoreError, config_digest, is_trusted, revoke_config_file, trust_config_file
from dgcode.workflows.exit_codes import ExitCode

TRUST_HELP = """Trust this repository's .dgcode.toml, so the commands it sets (fix.cmd) may run.

A repository's config comes with the code, so whoever wrote it could make dgcode run anything. Until you \
trust it, dgcode ignores the settings in it that run commands (and says so); the rest still applies. Trust is \
recorded outside the repository for the file's exact contents: if the file changes, it must be trusted again. \
The commit hook and `dgcode fix --yes` never trust a config on their own.
"""


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _usage_error(message: str) -> None:
    _err().print(Text("error: ", style="bold red") + Text(message))
    raise typer.Exit(ExitCode.USAGE)


def ask(question: str, err: Console, *, interrupted: str = "interrupted; nothing was changed") -> bool:
    """A yes/no question on stderr (default no); Ctrl+C exits 130 with ``interrupted``, end of input is a no."""
    try:
        return typer.confirm(question, default=False, err=True)
    except typer.Abort as abort:  # click turns both Ctrl+C and end of input into Abort
        if isinstance(abort.__context__, EOFError):
            err.print()
            return False
        err.print()
        err.print(Text(interrupted))
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def show_config_text(data: bytes, console: Console) -> None:
    """The config file's text as it will be trusted, line by line, with the command-running keys marked."""
    text = data.decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.split("=", 1)[0].strip()
        marked = any(key == name or key == name.rsplit(".", 1)[-1] for name, spec in KEYS.items()
                     if spec.needs_trust) and "=" in line
        console.print(Text(f"{number:>4}  ", style="dim") + Text(printable(line), style="bold yellow" if marked
                                                                  else ""))


def offer_trust(config: Config, cwd: Path, err: Console, *, interactive: bool,
                flags: dict[str, object] | None = None) -> Config:
    """``config`` as it is, or reloaded after the user trusted its repository file when asked.

    Asks only when ``interactive``; otherwise, and on a no, prints what was
    ignored and how to trust it.
    """
    untrusted = config.untrusted
    if untrusted is None:
        return config
    if interactive:
        err.print(Text(f"{shown_path(untrusted.file)} (this repository's config) sets commands dgcode would run:",
                       style="yellow"))
        for key, value in untrusted.values.items():
            err.print(Text(f"  {key} = {printable(str(value))}"))
        if ask("trust this config and let dgcode run them?", err):
            try:
                trust_config_file(untrusted.file, untrusted.digest)
            except TrustStoreError as error:
                _usage_error(str(error))
            try:
                return load_config(cwd, flags=flags)
            except ConfigError as error:
                _usage_error(str(error))
    err.print(Text("note: ", style="yellow") + Text(untrusted.describe()))
    return config


def register(app: typer.Typer) -> None:
    """Add `trust` to ``app``."""

    @app.command("trust", help=TRUST_HELP)
    def trust_command(
        yes: bool = typer.Option(False, "--yes", "-y", help="Trust without asking (after reading the file)."),
        revoke: bool = typer.Option(False, "--revoke", help="Forget the trust of this repository's config."),
    ) -> None:
        err = _err()
        config_file = find_repo_file(Path(os.getcwd()))
        if config_file is None:
            _usage_error("no .dgcode.toml here: dgcode looks from this folder up to the repository's top folder")
        if revoke:
            try:
                forgotten = revoke_config_file(config_file)
            except TrustStoreError as error:
                _usage_error(str(error))
            err.print(f"{shown_path(config_file)}: " + ("no longer trusted" if forgotten else "was not trusted"))
            return
        try:
            data = config_file.read_bytes()
        except OSError as error:
            _usage_error(f"{shown_path(config_file)}: cannot be read: {error.strerror or error}")
        try:
            _values, read_digest = read_config_file_and_digest(config_file)  # one dgcode cannot use: not trusted
        except ConfigError as error:
            _usage_error(str(error))
        digest = config_digest(data)
        if digest != read_digest:
            _usage_error(f"{shown_path(config_file)} changed while it was being read; run `dgcode trust` again")
        if is_trusted(config_file, digest):
            err.print(f"{shown_path(config_file)} is already trusted as it is")
            return
        err.print(Text(f"{shown_path(config_file)}:", style="bold"))
        show_config_text(data, err)
        if not yes:
            if not sys.stdin.isatty():
                _usage_error("stdin is not a terminal: read the file above, then run `dgcode trust --yes`")
            if not ask("trust this config (dgcode may run the commands it sets)?", err):
                err.print("not trusted")
                raise typer.Exit(ExitCode.FAILED)
        try:
            trust_config_file(config_file, digest)
        except TrustStoreError as error:
            _usage_error(str(error))
        err.print(f"trusted {shown_path(config_file)} (sha256 {digest[:12]}); if it changes, trust it again")
