"""Reusable widgets of the dgcode TUI (each module: one widget and its DEFAULT_CSS)."""
