"""The `edit` command: one range of a file rewritten in place by the model, reviewed, applied, undoable.

``register(app)`` adds ``dgcode edit TARGET -m TEXT``.  TARGET is
``FILE:START-END``, ``FILE:LINE`` or ``FILE::name`` (a function, class or
method, found with tree-sitter); the work is ``dgcode.workflows.edit``.  As
with ``fix``: progress on stderr, the diff and the result on stdout (or one
``--json`` document), and the rewrite is applied only with ``--yes`` or a yes
at the prompt when stdin is a terminal; ``dgcode undo`` reverts it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.text import Text

from dgcode.cli.confirm import diff_confirm, diff_lines
from dgcode.cli.fix import _consoles, _Progress, _usage_error, run_and_report
from dgcode.config import Config, ConfigError, load_config

if TYPE_CHECKING:  # the edit workflow loads tree-sitter and numpy: only when `dgcode edit` runs
    from dgcode.workflows.edit.report import EditReport

NOT_CONFIRMED = "not applied: stdin is not a terminal (or --json is on); rerun with --yes to apply this rewrite"
EDIT_HELP = """Rewrite one range of a file in place: TARGET is FILE:START-END, FILE:LINE or FILE::name.

The lines are masked and the model denoises new ones between the file's text before and after them, which \
stay byte for byte as they are. FILE::name names a function, class or method (Class.method) found with \
tree-sitter. The answer's budget is chosen from the span's length (see docs/edit.md) unless --budget is given. \
The diff is shown; the rewrite is applied with --yes, or when you confirm at the prompt; `dgcode undo` reverts it.

\b
Exit codes:
  0  applied, or (--dry-run) the rewrite would apply
  1  not applied: not confirmed, the model changed nothing, the
     file changed meanwhile, or the engine failed
  2  usage or configuration error: a bad target (no such file, a
     range outside the file, an unknown or ambiguous name), no
     model, a budget or file too large for the context
"""

OpenEngine = Callable[[Config, Callable[[str], None]], object]
"""Builds the engine from the settings and a progress callback (tests pass their own)."""


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _default_open_engine(config: Config, say: Callable[[str], None]):
    from dgcode.workflows.edit.engine import engine_from_config

    return engine_from_config(config, say)


def _print_report(report: EditReport, out, err) -> None:
    if report.status in ("proposed", "failed") and report.change is not None:
        out.print(diff_lines(report.change), end="")
    budget = report.budget
    if budget is not None:
        answer = report.attempts[-1].answer
        err.print(Text(f"span {budget.span_tokens} tokens, budget {budget.tokens} ({budget.source}), answer "
                       f"{answer.tokens} tokens, stopped: {answer.stop_reason}", style="dim"))
    for note in report.notes:
        err.print(Text("note: ", style="yellow") + Text(note))
    out.print(Text(report.message, style="green" if report.exit_code == 0 else "bold red"))


def _refuse_repair_model(path: Path) -> None:
    from dgcode.repair.repair_model import NotARepairModel, read_layout

    try:
        read_layout(path)
    except NotARepairModel:
        return
    _usage_error(f"{path.name} is dgcode's repair model: it repairs Python syntax errors and takes no "
                 "instructions; use a full model (--model PATH.gguf, `dgcode models list`)")


def register(app: typer.Typer, *, open_engine: OpenEngine | None = None) -> None:
    """Add `edit` to ``app``; ``open_engine(config, say)`` builds the engine (tests may pass their own)."""
    opener = open_engine or _default_open_engine

    @app.command("edit", help=EDIT_HELP)
    def edit_command(
        target: str = typer.Argument(..., metavar="TARGET", help="FILE:START-END, FILE:LINE or FILE::name."),
        message: str = typer.Option(..., "--message", "-m", help="What to do with the lines, in words."),
        model: Optional[str] = typer.Option(None, "--model", metavar="MODEL", help="GGUF diffusion model or a "
                                            "pulled model's name (or DGCODE_MODEL)."),
        budget: Optional[int] = typer.Option(None, "--budget", min=1, metavar="N", help="Answer tokens for the "
                                             "range (default: from the range's length, see docs/edit.md)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show the rewrite; write nothing."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Apply the rewrite without asking."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON report on stdout."),
    ) -> None:
        from dgcode.cli.trust import offer_trust
        from dgcode.context.errors import ContextError
        from dgcode.context.gitcli import repo_root
        from dgcode.engine.errors import InvalidSettingsError, ModelFileError
        from dgcode.workflows.edit.pipeline import EditRequest, run_edit
        from dgcode.workflows.edit.range_target import resolve_target
        from dgcode.workflows.model import choose_model, sampler_settings

        out, err = _consoles()
        cwd = Path(os.getcwd())
        if not message.strip():
            _usage_error("--message is empty: say what to do with the lines")
        flags = {"model": model}
        try:
            config = load_config(cwd, flags=flags)
        except ConfigError as error:
            _usage_error(str(error))
        config = offer_trust(config, cwd, err, interactive=not yes and not as_json and _stdin_is_terminal(),
                             flags=flags)
        try:
            root = repo_root(cwd)
            resolved = resolve_target(root, target, cwd)  # the target checked before anything about the model
            choice = choose_model(config, embedded=False)
            settings = sampler_settings(config, choice)
            settings.validate()
        except (ContextError, ModelFileError, InvalidSettingsError) as error:
            _usage_error(str(error))
        _refuse_repair_model(choice.path)
        refusal: list[str] = []
        confirm = diff_confirm(out, err, yes=yes, as_json=as_json, terminal=lambda: _stdin_is_terminal(),
                               question=lambda _changes: f"apply this rewrite of {resolved.describe()}?",
                               interrupted="interrupted at the prompt; the rewrite was not applied",
                               not_confirmed=NOT_CONFIRMED, refusal=refusal)

        progress = _Progress(err)
        engine = opener(config, progress.say)
        request = EditRequest(root, resolved, message, settings, budget, dry_run)
        run_and_report(lambda: run_edit(request, engine, confirm=confirm, say=progress.say, on_step=progress.on_step),
                       engine=engine, progress=progress, refusal=refusal, as_json=as_json, out=out, err=err,
                       print_report=_print_report)
