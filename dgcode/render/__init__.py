"""Rich renderables shared by the command line and the TUI: coloured diffs (``diff``), the one-shot canvas view
(``canvas_view``).

May import rich and the core (engine, edits); never typer, textual, ``dgcode.cli`` or ``dgcode.tui``.
``dgcode.workflows`` does not import this package (the pipelines stay free of front-end libraries).
"""
