"""The `dgcode` command line: each command a thin hand-off to the module that does the work."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from dgcode.cli.edit import register as register_range_edit_command
from dgcode.cli.edits import register as register_edit_commands
from dgcode.cli.fix import API_KEY_ENV_HELP, ENDPOINT_HELP, REMOTE_MODEL_HELP, remote_flags
from dgcode.cli.fix import register as register_fix_commands
from dgcode.cli.hook import register as register_hook_commands
from dgcode.cli.kernels import register as register_kernel_commands
from dgcode.cli.models import register as register_model_commands
from dgcode.cli.serve import register as register_serve_command
from dgcode.cli.style import Group
from dgcode.cli.trust import register as register_trust_command
from dgcode.workflows.exit_codes import ExitCode
from dgcode.workflows.model import NO_MODEL as MODEL_API_NO_MODEL


class RootGroup(Group):
    """``dgcode [PATHS]... [--model X] [--continue]`` or ``dgcode COMMAND ...``: the first word that is not an
    option names a command when one has that name (``dgcode fix`` is the command even beside a file called
    fix; ``./fix`` is the file); otherwise every such word is a path for the app's context."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        split = self._split(ctx, args)
        if split is None:  # a command: parsed as every group parses
            return super().parse_args(ctx, args)
        options, paths = split
        ctx.meta[PATHS_KEY] = paths
        return super().parse_args(ctx, options)

    def _split(self, ctx, args: list[str]) -> tuple[list[str], list[str]] | None:
        """The root's options and the words that are not options; None when the first such word is a command."""
        takes_value = {name for param in self.get_params(ctx) if getattr(param, "is_flag", None) is False
                       for name in param.opts}
        options, paths, rest = [], [], list(args)
        while rest:
            word = rest.pop(0)
            if word == "--":
                return options, paths + rest
            if word.startswith("-") and word != "-":
                options.append(word)
                if word in takes_value and rest:
                    options.append(rest.pop(0))
            elif not paths and word in self.commands:
                return None
            else:
                paths.append(word)
        return options, paths


PATHS_KEY = "dgcode.paths"
"""Where RootGroup leaves the PATHS given with no command (ctx.meta)."""
app = typer.Typer(cls=RootGroup, invoke_without_command=True,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  subcommand_metavar="[PATHS]... | COMMAND [ARGS]...",
                  help="dgcode: pair programming with a local diffusion language model. With no command, opens "
                       "the terminal app in the current folder, with PATHS (PATH[:RANGE], globs, folders, as "
                       "/add takes them) in its context.")
models_app = typer.Typer(no_args_is_help=True, help="Known diffusion models: list, pull, inspect, verify, remove.")
app.add_typer(models_app, name="models")
register_model_commands(models_app)
register_edit_commands(app)
register_range_edit_command(app)
register_fix_commands(app)
register_hook_commands(app)
register_trust_command(app)
register_serve_command(app)
register_kernel_commands(app)
err = Console(stderr=True, soft_wrap=True)  # an error is one line, however narrow the terminal
out = Console()

EXIT_FAILED, EXIT_USAGE = ExitCode.FAILED, ExitCode.USAGE  # short names for the many _fail calls below
NEEDS_TERMINAL = ("with no command dgcode opens its terminal app, which needs a terminal on stdin and stdout; "
                  "without one, use `dgcode fix`, `dgcode generate PROMPT` or see `dgcode --help`")
NO_MODEL = (f"{MODEL_API_NO_MODEL}. dgcode's embedded model only repairs Python syntax errors (`dgcode fix`); "
            "`dgcode bench --synthetic small` runs without a model.")


def _show_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"dgcode {version('dgcode')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("dgcode (version unknown: not installed)")
        raise typer.Exit()


@app.callback()
def open_app(ctx: typer.Context,
             _version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                           help="Print dgcode's version and exit."),
             model: Optional[str] = typer.Option(None, "--model", metavar="MODEL",
                                                 help="With no command: the model the app starts with (a GGUF "
                                                      "file or a pulled model's name)."),
             resume: bool = typer.Option(False, "--continue", help="With no command: resume this repository's "
                                                                   "last session (transcript, history, context)."),
             endpoint: Optional[str] = typer.Option(None, "--endpoint", metavar="URL", help=ENDPOINT_HELP),
             api_key_env: Optional[str] = typer.Option(None, "--api-key-env", metavar="VAR", help=API_KEY_ENV_HELP),
             remote_model: Optional[str] = typer.Option(None, "--remote-model", metavar="NAME",
                                                        help=REMOTE_MODEL_HELP),
             no_mouse: bool = typer.Option(False, "--no-mouse", help="With no command: leave the mouse to the "
                                           "terminal, so its own selection and copying work (setting `mouse`)."),
             ) -> None:
    """With no command: the Textual app in the current folder, PATHS in its context."""
    if ctx.invoked_subcommand is not None:
        return
    paths = list(ctx.meta.get(PATHS_KEY, []))
    for raw in paths:
        _check_path(raw, commands=getattr(ctx.command, "commands", {}))
    if not _has_terminal():  # before textual is imported: no escape codes, no wait
        _fail(NEEDS_TERMINAL, EXIT_USAGE)
    from dgcode.config import ConfigError, load_config
    from dgcode.tui import run_tui

    try:
        flags = {"model": model, **remote_flags(endpoint, api_key_env, remote_model),
                 "mouse": False if no_mouse else None}
        config = load_config(".", flags=flags)
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE)
    raise typer.Exit(run_tui(Path.cwd(), config, paths=paths, resume=resume))


def _has_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _check_path(raw: str, commands=()) -> None:
    """A PATH given to the app must exist (a glob is matched by the app, which says what it left out)."""
    from dgcode.context.errors import ContextError
    from dgcode.context.sources import parse_file_spec

    if any(char in raw for char in "*?["):
        return
    try:
        spec = parse_file_spec(raw)
    except ContextError as exc:
        _fail(str(exc), EXIT_USAGE)
    if not Path(spec.path).exists():
        hint = ("" if "/" in raw or raw in commands
                else f" (and `{raw}` names no command either; `dgcode --help` lists them)")
        _fail(f"{raw}: no such file or folder{hint}", EXIT_USAGE)


def _fail(message: str, code: int = EXIT_FAILED) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _chosen_model(flags: dict[str, object]):
    """The settings (config files, DGCODE_*, these flags) and the model they name, through the one model API."""
    from dgcode.config import ConfigError, load_config
    from dgcode.engine.errors import ModelFileError
    from dgcode.workflows.model import NoModelConfigured, choose_model

    try:
        config = load_config(Path.cwd(), flags=flags)
        return config, choose_model(config, embedded=False)
    except NoModelConfigured:
        _fail(NO_MODEL, EXIT_USAGE)
    except (ConfigError, ModelFileError) as exc:
        _fail(str(exc), EXIT_USAGE)


@app.command()
def bench(
    model: Optional[str] = typer.Option(None, "--model", metavar="MODEL", help="GGUF model to measure (a path "
                                        "or a pulled model's name)."),
    synthetic: Optional[str] = typer.Option(None, help="Random-weight model of a known shape: test, small, "
                                            "qwen2.5-0.5b, dream-7b, llada-8b."),
    quant: Optional[str] = typer.Option(None, help="Quantize the synthetic model (e.g. Q4_K_M, Q8_0)."),
    prompt_tokens: int = typer.Option(2048, help="Prompt length in tokens."),
    gen_tokens: int = typer.Option(256, help="Answer length in tokens."),
    steps: Optional[int] = typer.Option(None, help="Denoising steps for the answer (default gen-tokens/4)."),
    sub_block: int = typer.Option(32, help="Sub-block the engine denoises at a time."),
    mask_window: int = typer.Option(0, help="Each step proposes only the sub-block's first N masked positions "
                                    "(0: all of them)."),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: physical cores)."),
    modes: str = typer.Option("dgcode,diffusion-cli,ar", help="Comma-separated modes to run."),
    incremental: bool = typer.Option(False, "--incremental", help="Also run dgcode with the cheaper step "
                                     "(mode dgcode-incremental: committed tokens kept in the cache), "
                                     "side by side with dgcode."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per mode."),
) -> None:
    """Measure dgcode's engine against llama-diffusion-cli's algorithm and AR decoding, side by side."""
    from dgcode.engine.benchmark import BenchSpec, run_bench, speedups, synthetic_model
    from dgcode.engine.errors import EngineError, InvalidSettingsError, ModelFileError

    if (model is None) == (synthetic is None):
        _fail("give exactly one of --model PATH.gguf or --synthetic SHAPE", EXIT_USAGE)
    mask = None
    if model is not None:  # a path or a pulled name, through the one model API
        _config, choice = _chosen_model({"model": model})
        model, mask = choice.path, choice.mask_token_id
    spec = BenchSpec(prompt_tokens=prompt_tokens, gen_tokens=gen_tokens, steps=steps, sub_block=sub_block,
                     threads=threads, modes=tuple(m.strip() for m in modes.split(",") if m.strip())
                     + (("dgcode-incremental",) if incremental and "dgcode-incremental" not in modes else ()),
                     mask_window=mask_window, mask_token_id=mask)
    say = (lambda _m: None) if as_json else (lambda m: err.print(f"[dim]{m}[/]"))
    try:
        if synthetic:
            say(f"preparing synthetic model {synthetic}" + (f" ({quant})" if quant else ""))
            model = synthetic_model(synthetic, quant)
        rows = run_bench(model, spec, say)
    except (InvalidSettingsError, ModelFileError, ValueError) as exc:
        _fail(str(exc), EXIT_USAGE)
    except EngineError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    _print_bench_table(rows, speedups(rows), spec)


def _print_bench_table(rows: list[dict], ratios: dict[str, float], spec) -> None:
    from rich import box
    from rich.table import Table

    first = rows[0]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=f"{first['model']} ({first['file_type']}), prompt "
                  f"{spec.prompt_tokens}, answer {spec.gen_tokens} tokens, {first['threads']} threads")
    table.caption = ("prefill and step in ms; ratio = wall time / dgcode's; break-even = tokens per step at which "
                     f"a step costs what AR's tokens do; logits = MB to the host per step; confidence kernel: "
                     f"{first.get('confidence_kernel', '?')}; libllama: {first.get('libllama', '?')}")
    for col in ("mode", "wall s", "tok/s", "steps", "tok/st", "prefill", "step", "ratio", "break-even", "logits"):
        table.add_column(col, justify="left" if col == "mode" else "right", no_wrap=True)
    for r in rows:
        ratio = ratios.get(r["mode"])
        mode = r["mode"] + (f" ({r['forward_backend']})" if r["mode"] == "dgcode" and r.get("forward_backend")
                            not in (None, "cached") else "")
        table.add_row(mode, f"{r['wall_s']:.2f}", f"{r['tok_per_s']:.1f}", str(r["steps"]),
                      f"{r['tokens_per_step']:.2f}", f"{r['prefill_ms']:.0f}", f"{r['step_ms_mean']:.1f}",
                      "1.00" if r["mode"] == "dgcode" else (f"{ratio:.2f}" if ratio else ""),
                      f"{r['break_even_tokens_per_step']:.2f}" if "break_even_tokens_per_step" in r else "",
                      f"{r.get('logit_bytes_per_step', 0) / 1e6:.2f}")
    out.print(table)


@app.command()
def generate(
    prompt: str = typer.Argument(..., help="The prompt ('-' reads standard input)."),
    model: Optional[str] = typer.Option(None, "--model", metavar="MODEL",
                                        help="GGUF file or pulled model name (or $DGCODE_MODEL)."),
    chat: bool = typer.Option(True, help="Wrap the prompt in the model's chat template."),
    max_tokens: Optional[int] = typer.Option(None, help="Answer budget in tokens (default: max_tokens from the "
                                             "config, 512)."),
    schedule: Optional[str] = typer.Option(None, help="threshold | block | timestep (default: the model's "
                                           "registry recommendation, else threshold)."),
    steps: Optional[int] = typer.Option(None, help="Total steps (block and timestep schedules)."),
    threshold: Optional[float] = typer.Option(None, help="Commit every position above this confidence "
                                              "(default: the config's threshold, 0.9)."),
    algorithm: Optional[str] = typer.Option(None, help="confidence | margin | entropy | random | origin."),
    temperature: Optional[float] = typer.Option(None), top_k: Optional[int] = typer.Option(None),
    top_p: Optional[float] = typer.Option(None),
    seed: int = typer.Option(0), sub_block: Optional[int] = typer.Option(None),
    mask_token_id: Optional[int] = typer.Option(None, help="For block-diffusion models stored as AR."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer and its timings as JSON."),
) -> None:
    """Answer one prompt, showing the block crystallize as it is denoised."""
    import dataclasses

    from dgcode.engine.errors import EngineError, InvalidSettingsError, ModelFileError
    from dgcode.engine.worker import EngineClient
    from dgcode.workflows.fix.engine import RenderChat
    from dgcode.workflows.model import engine_options, sampler_settings

    config, choice = _chosen_model({"model": model, "mask_token_id": mask_token_id, "max_tokens": max_tokens,
                                    "threshold": threshold, "sub_block": sub_block})
    path = choice.path
    text = sys.stdin.read() if prompt == "-" else prompt
    given = {"schedule": schedule, "steps": steps, "algorithm": algorithm, "temperature": temperature,
             "top_k": top_k, "top_p": top_p}
    try:
        settings = dataclasses.replace(sampler_settings(config, choice), seed=seed,
                                       **{key: value for key, value in given.items() if value is not None})
        settings.validate()
    except InvalidSettingsError as exc:
        _fail(str(exc), EXIT_USAGE)
    live_view = not as_json and sys.stdout.isatty()
    try:
        with EngineClient(path, engine_options(config, choice)) as client:
            if not as_json:
                err.print(f"[dim]loading {path.name}…[/]")
            _start_with_progress(client, quiet=as_json)
            full_prompt = client.call(RenderChat([{"role": "user", "content": text}])) if chat else text
            result = _run_with_view(client, full_prompt, settings) if live_view else client.generate(
                full_prompt, settings)
    except (ModelFileError, InvalidSettingsError) as exc:
        _fail(str(exc), EXIT_USAGE)
    except EngineError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps({"text": result.text, "tokens": len(result.tokens), "steps": result.steps,
                          "stop_reason": result.stop_reason, "tokens_per_step": round(result.tokens_per_step, 3),
                          "tok_per_s": round(result.tok_per_s, 2), "prefill_ms": round(result.prefill_ms, 2),
                          "wall_s": round(result.wall_s, 4)}))
        return
    write_answer(result.text)
    err.print(f"[dim]{len(result.tokens)} tokens in {result.steps} steps ({result.tokens_per_step:.2f}/step), "
              f"{result.tok_per_s:.1f} tok/s, stopped: {result.stop_reason}[/]")


def write_answer(text: str) -> None:
    """The answer on stdout exactly as the model gave it (no wrapping, no markup), ending in one newline."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _start_with_progress(client, *, quiet: bool) -> None:
    """Start the engine; the first use of a large dream/llada file shows its one-time cache copy."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress("[dim]preparing a cached copy of the model[/]", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=err, transient=True, disable=quiet) as bar:
        task = None

        def on_progress(done: int, total: int) -> None:
            nonlocal task
            if task is None:
                task = bar.add_task("copy", total=total)
            bar.update(task, completed=done)

        client.start(on_progress=on_progress)


def _run_with_view(client, prompt, settings):
    from rich.live import Live

    from dgcode.render.canvas_view import render_canvas

    with Live(console=err, refresh_per_second=20, transient=True) as live:
        def on_step(event):
            rate = event.answer_final / event.elapsed_s if event.elapsed_s > 0 else None
            live.update(render_canvas(event, tokens_per_s=rate))

        try:
            return client.generate(prompt, settings, on_step)
        except KeyboardInterrupt:
            client.cancel()
            raise


@models_app.command("info")
def models_info(path: Path = typer.Argument(..., help="A GGUF file."),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Show what a GGUF's header says and whether dgcode's fast cached path applies."""
    from dgcode.engine import confidence_kernel, libllama
    from dgcode.engine.errors import ModelFileError
    from dgcode.engine.model_file import read_model_info

    try:
        info = read_model_info(path)
    except ModelFileError as exc:
        _fail(str(exc), EXIT_USAGE)
    facts = {
        "path": str(info.path), "name": info.name, "architecture": info.architecture,
        "relabelled_as": info.relabelled_as, "size_bytes": info.size_bytes, "file_type": info.file_type,
        "context_length": info.context_length,
        "n_vocab": info.n_vocab, "n_layer": info.n_layer, "n_embd": info.n_embd,
        "mask_token_id": info.mask_token_id, "eos_token_id": info.eos_token_id,
        "shift_logits": info.shift_logits, "diffusion": info.is_native_diffusion,
        "cached_path": info.cached_architecture is not None and (info.is_native_diffusion
                                                                 or info.mask_token_id is not None),
        "chat_template": info.chat_template is not None,
        "confidence_kernel": confidence_kernel.status().describe(),
        "libllama": libllama.choose().describe(),
    }
    if as_json:
        print(json.dumps(facts, indent=2))
        return
    for key, value in facts.items():
        out.print(f"[bold]{key:>17}[/]  {value}", highlight=False)
