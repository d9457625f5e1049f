"""Exists only so that hooks installed by earlier versions keep working: their script runs
``python -m dgcode.hook_run``.  New installs run ``python -m dgcode.workflows.hook.run``, whose ``main`` this
runs the same way."""

import sys

from dgcode.workflows.hook.run import main

if __name__ == "__main__":  # pragma: no cover - the entry of hook scripts installed by earlier versions
    sys.exit(main())
