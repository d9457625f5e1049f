"""dgcode's own repair model: its canvas, byte edit operations, and running it to repair a file.

May import the engine; never workflows, a front end, typer or textual (.importlinter).
"""
