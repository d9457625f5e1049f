"""dgcode's exit codes, one ``IntEnum`` for every front end (the command line, the pre-commit hook, the TUI).

==========  ====  ================================================================================
code        exit  meaning
==========  ====  ================================================================================
OK          0     the command line: everything asked for was done (fixed, applied, nothing to do,
                  a dry run whose edits would apply); the hook: the commit goes ahead (the check
                  passes, or an infrastructure failure fails open); the TUI: it was closed (unless the app set
                  another code)
FAILED      1     the command line: the work could not be done (no usable edits, the check still
                  fails, edits not confirmed, the engine or a download failed, an undo refused);
                  the hook: stop the commit (files modified for review, the check fails and
                  could not be fixed, a strict infrastructure failure, files not put back)
USAGE       2     the command line only: a usage or configuration error (bad flag or config file,
                  no model, a path outside the repository, a prompt too long for the context),
                  found before any work starts
INTERRUPTED 130   Ctrl-C (128 + SIGINT, as the shell reports it): the command line stopped; the
                  hook put the person's files back first
==========  ====  ================================================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """How a dgcode command ends; see the module docstring for what each means per front end."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 130
