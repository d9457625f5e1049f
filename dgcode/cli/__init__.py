"""The `dgcode` command line (typer and rich), one module per command group: ``app`` (the root app with
``generate`` and ``bench``), ``edits``, ``fix``, ``hook``, ``models``, ``trust``.

May import ``dgcode.workflows``, ``dgcode.render`` and the core (config, trust, engine, edits, context, vcs,
models, repair); never textual, except that the no-command callback launches the TUI lazily.
"""

import warnings

# `python -m dgcode.cli.hook` runs a module this package has already imported (the root app registers it);
# that is intended, so runpy's warning about it would only be noise on the hook's stderr.
warnings.filterwarnings("ignore", message=r"'dgcode\.cli\.hook' found in sys\.modules", category=RuntimeWarning)

from dgcode.cli.app import app  # noqa: E402

__all__ = ["app"]
