"""The `models list / pull / verify / rm` commands: thin hand-offs to dgcode.models, registered on `models`.

``register(models_app)`` adds them to the existing ``models`` sub-app.
Progress and messages go to stderr; results (``--json`` documents, the path
``pull`` produced) go to stdout. Exit codes: 0 done; 1 failed (download
error, verification problems, removal not confirmed); 2 usage (unknown model
or quantization, broken registry); 130 interrupted (nothing is left under the
model's name; the next pull starts over).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.filesize import decimal as human_size
from rich.text import Text

from dgcode.workflows.exit_codes import ExitCode


def _consoles() -> tuple[Console, Console]:
    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _fail(message: str, code: ExitCode = ExitCode.FAILED) -> None:
    _consoles()[1].print(Text("error: ", style="bold red") + Text(message))
    raise typer.Exit(code)


def _registry():
    from dgcode.models.registry import RegistryError, load_registry

    try:
        return load_registry()
    except RegistryError as exc:
        _fail(str(exc), ExitCode.USAGE)


def _progress_bar(console: Console, label: str):
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    return Progress(TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=console, transient=True, disable=not console.is_terminal)


def _progress_callback(bar):
    task = None

    def update(done: int, total: int | None) -> None:
        nonlocal task
        if task is None:
            task = bar.add_task("transfer", total=total)
        bar.update(task, completed=done, total=total)

    return update


def models_list(as_json: bool = typer.Option(False, "--json", help="Print a JSON document.")) -> None:
    """List the models dgcode knows and which of them are downloaded."""
    from dgcode.models import store

    registry = _registry()
    rows = []
    for entry in registry:
        files = store.local_files(entry)
        rows.append({
            "name": entry.name, "display_name": entry.display_name, "aliases": list(entry.aliases),
            "architecture": entry.architecture, "mask_token_id": entry.mask_token_id,
            "upstream": entry.upstream, "repo": entry.repo, "revision": entry.revision,
            "verified": entry.verified, "default_quant": entry.default_quant, "quants": list(entry.files),
            "downloaded": [f.to_json() for f in files if f.complete],
            "partial": [f.to_json() for f in files if not f.complete], "note": entry.note,
        })
    if as_json:
        print(json.dumps({"models_dir": str(store.models_dir()), "models": rows}, indent=2))
        return
    _print_list(rows, store.models_dir())


def _print_list(rows: list[dict], folder: Path) -> None:
    from rich import box
    from rich.table import Table

    out, _ = _consoles()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("name", "arch", "quantizations", "downloaded", "source"):
        table.add_column(column, no_wrap=column in ("name", "arch"))
    for row in rows:
        quants = " ".join(f"[bold]{q}[/]" if q == row["default_quant"] else q for q in row["quants"]) or "-"
        have = [f"{f['quant']} {human_size(f['size_bytes'])}" for f in row["downloaded"]]
        have += [f"{f['quant']} partial {human_size(f['size_bytes'])}" for f in row["partial"]]
        source = "no GGUF known" if not row["repo"] else ("checked" if row["verified"] else "unverified")
        table.add_row(row["name"], row["architecture"], quants, ", ".join(have) or "-", source)
    out.print(table)
    out.print(f"[dim]models folder: {folder}; `dgcode models pull NAME` downloads the bold quantization[/]")


def models_pull(
    name: str = typer.Argument(..., help="Registry name or alias (NAME or NAME:QUANT)."),
    quant: str | None = typer.Option(None, "--quant", "-q", help="Quantization, e.g. Q4_K_M, Q8_0."),
    force: bool = typer.Option(False, "--force", help="Download again even if the file is present."),
) -> None:
    """Download a registry model through the Hugging Face cache, check its sha256 and GGUF header; print its path."""
    from dgcode.engine.errors import ModelFileError
    from dgcode.models.download import DownloadError
    from dgcode.models.pull import pull
    from dgcode.models.registry import RegistryError

    out, err = _consoles()
    registry = _registry()
    try:
        entry, spec_quant = registry.parse_spec(name)
        quant = entry.file_for(quant or spec_quant).quant
    except RegistryError as exc:
        _fail(str(exc), ExitCode.USAGE)
    bar = _progress_bar(err, f"{entry.name} {quant}")

    def on_start(remote) -> None:
        if not entry.verified:
            err.print(Text("note: ", style="yellow") + Text(f"the file names of {entry.name} are not verified: "
                                                             f"{entry.note}"))
        size = human_size(remote.size) if remote.size else "unknown size"
        if remote.cached:
            err.print(f"{entry.files[quant].file} ({size}) is in the Hugging Face cache: nothing to download",
                      markup=False)
        else:
            err.print(f"downloading {entry.files[quant].file} ({size}) from {remote.url}", markup=False)
        bar.start()

    try:
        result = pull(entry, quant, force=force, progress=_progress_callback(bar), on_start=on_start,
                      verify_progress=_progress_callback(bar))
    except KeyboardInterrupt:
        bar.stop()
        _fail("interrupted; nothing was put under the model's name: run the same command again",
              ExitCode.INTERRUPTED)
    except (DownloadError, ModelFileError, OSError) as exc:
        bar.stop()
        _fail(str(exc))
    finally:
        bar.stop()
    if result.already_present:
        err.print(f"{entry.name} {quant} is already downloaded (use --force to download it again)")
    else:
        source = "taken from the Hugging Face cache" if result.from_hf_cache else "downloaded"
        checked = f"sha256 checked against the {result.checked_against}" if result.checked_against else \
            "no sha256 known"
        err.print(f"{source}: {human_size(result.size_bytes)}; {checked}; GGUF header OK "
                  f"({result.info.architecture}, {result.info.file_type})")
    for note in result.notes:
        err.print(Text(f"note: {note}", style="dim"))
    out.print(str(result.path), markup=False)


def models_verify(
    model: str = typer.Argument(..., help="A GGUF path, or a registry name (NAME or NAME:QUANT) that is pulled."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
) -> None:
    """Check a model file: GGUF header, diffusion usability, and sha256 against the registry or download record."""
    from dgcode.engine.errors import ModelFileError
    from dgcode.models.pull import verify
    from dgcode.models.registry import RegistryError
    from dgcode.models.store import resolve_model

    out, err = _consoles()
    try:
        resolved = resolve_model(model, _registry())
    except (RegistryError, ModelFileError) as exc:
        _fail(str(exc), ExitCode.USAGE)
    with _progress_bar(err, "sha256") as bar:
        report = verify(resolved.path, resolved.entry, resolved.quant, progress=_progress_callback(bar))
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for problem in report.problems:
            err.print(Text("problem: ", style="bold red") + Text(problem))
        for warning in report.warnings:
            err.print(Text("warning: ", style="yellow") + Text(warning))
        if report.ok:
            checked = f", sha256 matches the {report.expected_from}" if report.expected_from else ""
            out.print(f"ok: {report.path}{checked}", markup=False)
    if not report.ok:
        raise typer.Exit(ExitCode.FAILED)


def models_rm(
    name: str = typer.Argument(..., help="Registry name or alias (NAME or NAME:QUANT)."),
    quant: str | None = typer.Option(None, "--quant", "-q", help="Remove only this quantization."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a downloaded model, its partial downloads, and the engine's aliased cache copies of it."""
    from dgcode.engine.errors import ModelFileError
    from dgcode.models import store
    from dgcode.models.registry import RegistryError

    out, err = _consoles()
    registry = _registry()
    try:
        entry, spec_quant = registry.parse_spec(name)
        quant = entry.file_for(quant or spec_quant).quant if (quant or spec_quant) else None
    except RegistryError as exc:
        _fail(str(exc), ExitCode.USAGE)
    plan = store.removal_plan(entry, quant)
    sized = [(path, path.stat().st_size) for path in plan if path.exists()]
    if not any(path.suffix in (".gguf", ".part") for path, _ in sized):
        _fail(f"{entry.name}{' ' + quant if quant else ''} is not downloaded; nothing to remove")
    total = sum(size for _, size in sized)
    for path, size in sized:
        err.print(f"  {path}  ({human_size(size)})", markup=False)
    if not yes:
        if not _stdin_is_terminal():
            _fail(f"not removed: confirm with --yes ({len(sized)} files, {human_size(total)})")
        if not typer.confirm(f"Delete these {len(sized)} files ({human_size(total)})?", default=False):
            _fail("not removed")
    try:
        deleted, freed = store.remove(entry, quant)
    except ModelFileError as exc:
        _fail(str(exc))
    out.print(f"removed {len(deleted)} files, {human_size(freed)} freed", markup=False)


def register(models_app: typer.Typer) -> None:
    """Add list, pull, verify and rm to the `models` sub-app."""
    models_app.command("list")(models_list)
    models_app.command("pull")(models_pull)
    models_app.command("verify")(models_verify)
    models_app.command("rm")(models_rm)
