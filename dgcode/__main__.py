"""`python -m dgcode` runs the command line."""

from dgcode.cli.main import app

app()
