"""The screens of the dgcode TUI; each has its .tcss beside it."""
