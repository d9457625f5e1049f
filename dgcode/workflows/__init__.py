"""The headless pipelines the front ends share: ``fix`` (`dgcode fix`), ``hook`` (the pre-commit hook),
``chat`` (the TUI's textual-free parts) and ``user_command`` (the person's own check command, bounded).

May import the core: config, trust, engine, edits, context, vcs, models, repair.  Never typer, textual, rich,
``dgcode.cli``, ``dgcode.tui`` or ``dgcode.render``: the command line and the TUI call in here, not the
other way round.
"""
