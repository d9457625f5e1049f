"""Editor context: files, selections, git state and a tree-sitter repo map, assembled into a prompt.

May import the engine, edits, vcs and fsio; never workflows, a front end (cli, tui, render), typer or textual
(.importlinter).
"""
