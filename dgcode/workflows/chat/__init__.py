"""The TUI's conversation without the UI: the session and its prompts (``session``), proposed edits planned
in a dry run (``proposal``), the tokens an answer committed and their confidence (``remask``), ``@`` mentions
(``mentions``), the slash commands' names, help and completion (``commands``) and the K-candidate turn
judged in scratch copies (``candidates_turn``).

Pure Python, tested without textual; ``dgcode.tui`` draws it.  Headless like all of ``dgcode.workflows``:
it may import the core (today edits and context), ``dgcode.workflows.fix.report`` and ``.scratch_tree``, never textual, typer,
rich or a front end.  Package data: ``prompts/run_output.txt`` (the /run output as the model reads it).
"""
