"""`python -m dgcode` runs the command line."""

from dgcode.cli import app

app()
