"""The `kernels` commands: build dgcode's libllama (`kernels build`) and say which library and kernels are active.

``register(app)`` adds the group.  `kernels build` runs
workflows/libllama_build.py (kernels/llama/build.sh, then a load check) and
prints the script's progress; `kernels status` prints what
engine/libllama.py chooses and the confidence kernel in use.  Exit codes: 0
done; 1 the build failed or does not load (nothing is left installed);
2 usage (a missing --sdist file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.text import Text

from dgcode.workflows.exit_codes import ExitCode

BUILD_HELP = ("Build dgcode's libllama: the llama.cpp that the installed llama-cpp-python vendors, with "
              "kernels/llama/*.patch (today: Dream and LLaDA models get a KV cache as they are, so no relabelled "
              "copy of the file is made). Downloads the matching sdist from PyPI unless --sdist is given; "
              "CMAKE_ARGS passes through (e.g. -DGGML_CUDA=on). A few minutes; DGCODE_LIBLLAMA=stock turns it off.")


def register(app: typer.Typer) -> None:
    kernels_app = typer.Typer(no_args_is_help=True, help="dgcode's own kernels and libllama build.")
    app.add_typer(kernels_app, name="kernels")

    @kernels_app.command("build", help=BUILD_HELP)
    def kernels_build(sdist: Optional[Path] = typer.Option(None, "--sdist", help="A llama-cpp-python sdist "
                                                           "(.tar.gz) of the installed version, instead of "
                                                           "downloading it."),
                      into: Optional[Path] = typer.Option(None, "--into", metavar="FOLDER", help="Install here "
                                                          "instead of dgcode's cache (then DGCODE_LIBLLAMA=FOLDER "
                                                          "selects it).")) -> None:
        from dgcode.workflows.libllama_build import BuildError, build

        out, err = Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)
        if sdist is not None and not sdist.is_file():
            err.print(Text("error: ", style="bold red") + Text(f"--sdist {sdist}: no such file"))
            raise typer.Exit(ExitCode.USAGE)
        try:
            folder = build(sdist, into, say=lambda line: err.print(Text(line, style="dim")))
        except BuildError as error:
            err.print(Text("error: ", style="bold red") + Text(str(error)))
            raise typer.Exit(ExitCode.FAILED) from None
        how = ("the engine uses it from now on (DGCODE_LIBLLAMA=stock: llama-cpp-python's own)" if into is None
               else f"DGCODE_LIBLLAMA={folder} selects it")
        out.print(Text(f"dgcode's libllama is installed at {folder}; {how}", style="green"))

    @kernels_app.command("status")
    def kernels_status() -> None:
        """Which libllama and which confidence kernel the engine uses here."""
        from dgcode.engine import confidence_kernel, libllama

        out = Console(highlight=False, soft_wrap=True)
        _module, choice = libllama.load_llama_cpp()
        out.print(f"libllama           {choice.describe()}")
        out.print(f"confidence kernel  {confidence_kernel.status().describe()}")
