"""The `fix` and `config show` commands: settings resolved, the fix pipeline run, diffs and progress shown.

``register(app)`` adds both to the main Typer app.  Progress (model load,
prefill, denoising rate) goes to stderr; diffs, results and ``--json``
documents go to stdout.  Edits are applied only when confirmed: ``--yes``,
or a yes at the prompt when stdin is a terminal (and ``--json`` is off),
hunk by hunk (y/n/a/q, as `git add -p`) when there is more than one
(cli/confirm.py); otherwise the diff is shown and the message says to rerun
with ``--yes``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.text import Text

from dgcode.cli.confirm import diff_confirm, diff_lines
from dgcode.config import KEYS, Config, ConfigError, load_config, shown_path
from dgcode.workflows.exit_codes import ExitCode
from dgcode.workflows.fix.report import FixReport

EMBEDDED_NOTE = ("using dgcode's embedded model: it repairs Python syntax errors only "
                 "(full models: `dgcode models list`)")
NOT_CONFIRMED = "not applied: stdin is not a terminal (or --json is on); rerun with --yes to apply these edits"
FIX_HELP = """Fix bugs in PATHS (default: the changed files) with the local model; with --cmd, until COMMAND passes.

With --cmd, dgcode runs COMMAND (your own command, through the shell); while it fails, the model sees its \
output and the files it names, dgcode applies the model's edits and runs COMMAND again, for at most --rounds \
rounds. dgcode never runs anything the model suggests. Edits are applied with --yes, or when you confirm at the \
prompt, hunk by hunk when there are several (y yes, n no, a this and all remaining, q quit: apply only those \
accepted so far; Ctrl+C applies nothing); `dgcode undo` reverts the last applied round.

\b
Exit codes:
  0  fixed, applied, nothing to do, or (--dry-run) the edits would apply
  1  could not fix: no usable edits, COMMAND still fails, edits not
     confirmed, or the engine failed
  2  usage or configuration error: bad flag or config file, no model,
     a path outside the repository, prompt too long for the context
"""


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


CANDIDATES_HELP = ("Draft K answers at once (one shared prefill), judge each with --cmd in a scratch copy of the "
                   "working tree, and offer the first that passes; every candidate's diff is saved under "
                   ".git/dgcode/candidates/.")
ENDPOINT_HELP = ("An OpenAI-compatible server (vLLM, SGLang, dgcode serve; the URL ends in /v1) that answers "
                 "instead of a local model (or DGCODE_ENDPOINT; docs/team.md).")
API_KEY_ENV_HELP = "The environment variable that holds --endpoint's API key."
REMOTE_MODEL_HELP = "The endpoint's model (default: the first one it lists)."


def remote_flags(endpoint: str | None, api_key_env: str | None, remote_model: str | None) -> dict[str, object]:
    """The remote-engine settings given on the command line, as config flags."""
    return {"endpoint": endpoint, "endpoint_api_key_env": api_key_env, "remote_model": remote_model}


def run_and_report(work: Callable[[], object], *, engine, progress, refusal: list[str], as_json: bool,
                   out: Console, err: Console, print_report: Callable[[object, Console, Console], None]) -> None:
    """Run a pipeline (`fix`, `edit`) and end the command with its report: set-up errors are usage errors
    (exit 2), Ctrl+C exits 130 pointing to `dgcode recover`, a declined confirmation is the report's message."""
    from dgcode.context.errors import ContextError
    from dgcode.engine.errors import EngineError

    try:
        report = work()
    except (ContextError, EngineError) as error:  # the model file or settings, a file or budget too large
        _usage_error(str(error))
    except KeyboardInterrupt:
        err.print("interrupted; if files were being written, run `dgcode recover` to roll back")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    finally:
        progress.close()
        engine.close()
    if refusal and report.status == "not_applied":
        report = replace(report, message=refusal[0])
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report, out, err)
    raise typer.Exit(report.exit_code)


def _consoles() -> tuple[Console, Console]:
    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


def _usage_error(message: str) -> None:
    _consoles()[1].print(Text("error: ", style="bold red") + Text(message))
    raise typer.Exit(ExitCode.USAGE)


class _Progress:
    """Progress on stderr: one line per event; a live denoising rate when stderr is a terminal."""

    def __init__(self, err: Console):
        self.err = err
        self.status = None

    def say(self, message: str) -> None:
        self._stop_status()
        self.err.print(Text(message, style="dim"))

    def on_step(self, event) -> None:
        if not self.err.is_terminal:
            return
        elapsed = getattr(event, "elapsed_s", 0.0)
        final = getattr(event, "answer_final", 0)
        rate = f", {final / elapsed:.1f} tok/s" if elapsed > 0 else ""
        who = f"candidate {event.candidate + 1}, " if isinstance(getattr(event, "candidate", None), int) else ""
        text = f"denoising: {who}step {getattr(event, 'step', '?')}, {final} tokens final{rate}"
        if self.status is None:
            self.status = self.err.status(text)
            self.status.start()
        else:
            self.status.update(text)

    def _stop_status(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def close(self) -> None:
        self._stop_status()


def _shown(value: object) -> str:
    if value is None:
        return "(not set)"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _print_report(report: FixReport, out: Console, err: Console) -> None:
    if report.status == "proposed" and report.rounds:
        for change in report.rounds[-1].changes:
            out.print(diff_lines(change), end="")
    for verdict in getattr(report, "candidates", ()):  # `--candidates K`: one line per candidate
        style = "green" if verdict.verdict == "passed" else "yellow" if verdict.verdict == "timed_out" else "red"
        saved = f"  ({verdict.diff_file})" if verdict.diff_file else ""
        out.print(Text(f"candidate {verdict.number}: ") + Text(verdict.describe(), style=style) +
                  Text(saved, style="dim"))
    for note in report.notes:
        err.print(Text("note: ", style="yellow") + Text(note))
    style = "green" if report.exit_code == 0 else "bold red"
    out.print(Text(report.message, style=style))


def _default_open_engine(config: Config, say: Callable[[str], None]):
    from dgcode.workflows.fix.engine import engine_from_config

    return engine_from_config(config, say)


OpenEngine = Callable[[Config, Callable[[str], None]], object]
"""Builds the engine the fix runs on from the settings and a progress callback."""


def register(app: typer.Typer, *, open_engine: OpenEngine | None = None) -> None:
    """Add `fix` and `config show` to ``app``; ``open_engine(config, say)`` builds the engine (tests pass a fake)."""
    opener = open_engine or _default_open_engine
    config_app = typer.Typer(no_args_is_help=True, help="dgcode's settings and where each one comes from.")
    app.add_typer(config_app, name="config")

    @config_app.command("show")
    def config_show(as_json: bool = typer.Option(False, "--json", help="Print the settings as JSON.")) -> None:
        """Print the effective settings and where each comes from (default, user file, repo file, env, flag)."""
        out, _err = _consoles()
        try:
            config = load_config(Path.cwd())
        except ConfigError as error:
            _usage_error(str(error))
        if as_json:
            typer.echo(json.dumps(config.to_json(), indent=2))
            return
        width = max(len(key) for key in KEYS)
        for key in config:
            setting = config.setting(key)
            out.print(Text(f"{key:<{width}}  ", style="bold") + Text(_shown(setting.value)) +
                      Text(f"  ({setting.describe_source()})", style="dim"))
        for kind, path in config.files.items():
            shown = shown_path(path) if path else "none found"
            out.print(Text(f"{kind} config file: {shown}", style="dim"))
        if config.untrusted is not None:
            out.print(Text("note: ", style="yellow") + Text(config.untrusted.describe()))

    @app.command("fix", help=FIX_HELP)
    def fix_command(
        paths: Optional[List[str]] = typer.Argument(None, help="Files to fix (PATH or PATH:START-END); "
                                                    "default: the changed and untracked files."),
        message: Optional[str] = typer.Option(None, "--message", "-m", help="What to fix, in words."),
        cmd: Optional[str] = typer.Option(None, "--cmd", metavar="COMMAND", help="Your check command (e.g. 'pytest -x'); default "
                                          "fix.cmd from the config."),
        rounds: Optional[int] = typer.Option(None, "--rounds", help="Most model attempts (default fix.rounds, 3)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show the first usable edits; write nothing."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Apply edits without asking."),
        candidates: int = typer.Option(1, "--candidates", min=1, max=16, metavar="K", help=CANDIDATES_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON report on stdout."),
        model: Optional[Path] = typer.Option(None, "--model", help="GGUF diffusion model (or DGCODE_MODEL)."),
        endpoint: Optional[str] = typer.Option(None, "--endpoint", metavar="URL", help=ENDPOINT_HELP),
        api_key_env: Optional[str] = typer.Option(None, "--api-key-env", metavar="VAR", help=API_KEY_ENV_HELP),
        remote_model: Optional[str] = typer.Option(None, "--remote-model", metavar="NAME", help=REMOTE_MODEL_HELP),
    ) -> None:
        from dgcode.context.errors import ContextError
        from dgcode.context.gitcli import repo_root
        from dgcode.engine.errors import InvalidSettingsError

        out, err = _consoles()
        cwd = Path(os.getcwd())
        try:
            flags = {"model": model, "fix.cmd": cmd, "fix.rounds": rounds, **remote_flags(endpoint, api_key_env,
                                                                                      remote_model)}
            config = load_config(cwd, flags=flags)
        except ConfigError as error:
            _usage_error(str(error))
        from dgcode.cli.trust import offer_trust

        config = offer_trust(config, cwd, err, interactive=not yes and not as_json and _stdin_is_terminal(),
                             flags=flags)
        from dgcode.engine.errors import ModelFileError
        from dgcode.workflows.model import choose_model, remote_endpoint, sampler_settings
        from dgcode.workflows.remote_engine import RemoteError

        try:
            remote = remote_endpoint(config) is not None  # an endpoint answers instead of a local model
            choice = None if remote else choose_model(config)
        except (ModelFileError, RemoteError) as error:  # none configured and none embedded, a name not pulled,
            _usage_error(str(error))                      # no such file, an endpoint's key variable not set
        model_file = choice.path if choice is not None else None
        from dgcode.context.sources import readable_named_files

        try:  # the settings and the named paths are checked before anything about the model is said or started
            root = repo_root(cwd)
            settings = sampler_settings(config, choice)
            settings.validate()
            readable_named_files(root, tuple(paths or ()), cwd)
        except (ContextError, InvalidSettingsError) as error:
            _usage_error(str(error))
        progress = _Progress(err)
        from dgcode.workflows.fix.engine import repairer_for

        repairer = repairer_for(model_file, config, progress.say) if model_file is not None else None
        engine = None
        if repairer is None and not config.fix.cmd and candidates == 1:
            # the model is needed for sure: start loading it now, while the rest is checked and the context
            # gathered (the pipeline's imports alone take longer than spawning the engine)
            engine = opener(config, progress.say)
            if hasattr(engine, "start_soon"):
                engine.start_soon()
        try:
            from dgcode.workflows.fix.pipeline import FixRequest, run_fix
            from dgcode.workflows.fix.syntax import run_syntax_fix

            request = FixRequest(root, tuple(paths or ()), message or "", config.fix.cmd, config.fix.rounds,
                                 config.fix.timeout_s, dry_run, settings, cwd, candidates=candidates)
            if candidates > 1 and not request.command:
                _usage_error("--candidates needs a check command to judge them: --cmd COMMAND (or fix.cmd)")
            if repairer is not None and candidates > 1:
                _usage_error(f"{model_file.name} is dgcode's repair model, which gives one repair: drop --candidates")
            if repairer is not None and message:
                _usage_error(f"{model_file.name} is dgcode's repair model: it repairs Python syntax errors and "
                             "takes no instructions; drop --message, or use a full model (--model PATH.gguf)")
        except BaseException:
            if engine is not None:
                engine.close()  # a usage error after the early start: the engine child goes with it
            raise
        refusal: list[str] = []
        confirm = diff_confirm(out, err, yes=yes, as_json=as_json, terminal=lambda: _stdin_is_terminal(),
                               question=lambda changes: f"apply these edits to {len(changes)} file(s)?",
                               interrupted="interrupted at the prompt; these edits were not applied",
                               not_confirmed=NOT_CONFIRMED, refusal=refusal)
        if request.command and config.setting("fix.cmd").source != "flag":
            progress.say(f"check command `{request.command}` from {config.setting('fix.cmd').describe_source()}")
        if repairer is not None and not as_json:
            err.print(Text(EMBEDDED_NOTE, style="dim"))
        if repairer is not None:
            engine = repairer
        elif engine is None:
            engine = opener(config, progress.say)

        def work():
            if repairer is not None:
                return run_syntax_fix(request, repairer, confirm=confirm, say=progress.say)
            if request.candidates > 1:
                from dgcode.workflows.fix.candidates import run_candidates

                return run_candidates(request, engine, confirm=confirm, say=progress.say, on_step=progress.on_step)
            return run_fix(request, engine, confirm=confirm, say=progress.say, on_step=progress.on_step)

        run_and_report(work, engine=engine, progress=progress, refusal=refusal, as_json=as_json, out=out, err=err,
                       print_report=_print_report)
