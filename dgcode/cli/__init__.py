"""The `dgcode` command line (typer and rich), one module per command group: ``main`` (the root app with
``generate`` and ``bench``; the ``dgcode`` entry point is ``dgcode.cli.main:app``), ``edits``, ``fix``,
``hook``, ``models``, ``trust``.

May import ``dgcode.workflows``, ``dgcode.render`` and the core (config, trust, engine, edits, context, vcs,
models, repair); never textual, except that the no-command callback launches the TUI lazily.  This file
imports nothing, so ``python -m dgcode.cli.hook`` runs that module alone.
"""
