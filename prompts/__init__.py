"""Prompt templates as data files (installed as the package `dgcode.prompts`)."""
