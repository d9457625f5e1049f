"""The `serve` command: a thin hand-off to dgcode.serve (an OpenAI-compatible API over the local model).

``register(app)`` adds it.  Messages go to stderr.  Exit codes: 0 stopped by
Ctrl-C; 1 the model could not load or the port is taken; 2 usage (no chat
model configured, a non-loopback address without an API key, bad settings).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from dgcode.serve.clients import client_snippets
from dgcode.workflows.exit_codes import ExitCode

HELP = ("Serve the local diffusion model over an OpenAI-compatible HTTP API (/v1/chat/completions, "
        "/v1/completions, /v1/responses, /v1/models; /health) for coding tools. Loopback only unless an API key is set; "
        "one generation at a time, the others wait in order.\n\n"
        + "\n\n".join("\b\n" + escape(block) for block in client_snippets().split("\n\n")))


def register(app: typer.Typer) -> None:
    @app.command(help=HELP)
    def serve(
        model: Optional[str] = typer.Option(None, "--model", "-m", help="GGUF chat model: a path or a pulled "
                                            "model's name (default: $DGCODE_MODEL or the config's model)."),
        host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback needs "
                                 "--api-key."),
        port: int = typer.Option(8765, help="Port to listen on (0: any free port)."),
        api_key: Optional[str] = typer.Option(None, "--api-key", envvar="DGCODE_SERVE_API_KEY",
                                              help="Require 'Authorization: Bearer KEY' on every /v1 request "
                                              "(or $DGCODE_SERVE_API_KEY).", show_envvar=False),
    ) -> None:
        from dgcode.config import ConfigError, load_config
        from dgcode.serve import ServeError, check_bind, open_service
        from dgcode.serve.launch import bind
        from dgcode.serve.launch import serve as run_server

        err = Console(stderr=True, highlight=False, soft_wrap=True)

        def fail(message: str, code: int) -> None:
            err.print(Text("error: ", style="bold red") + Text(message))
            raise typer.Exit(code)

        def say(message: str) -> None:
            err.print(Text(message, style="dim"))

        api_key = api_key or os.environ.get("DGCODE_SERVE_API_KEY") or None
        try:
            check_bind(host, api_key)  # before loading anything
            config = load_config(Path.cwd(), flags={"model": model})
            sock = bind(host, port)
            try:
                service = open_service(config, say)
            except BaseException:
                sock.close()
                raise
            run_server(service, host, port, api_key, say, sock=sock)
        except ConfigError as exc:
            fail(str(exc), ExitCode.USAGE)
        except ServeError as exc:
            fail(str(exc), exc.code)
        except KeyboardInterrupt:
            raise typer.Exit(ExitCode.OK) from None
