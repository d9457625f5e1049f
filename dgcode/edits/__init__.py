"""Model output to safe edits of the working tree: parsing, matching, planning, atomic writes, journal and undo.

May import vcs (snapshots before a write), engine errors and fsio; never context, workflows, a front end, typer
or textual (.importlinter).
"""
