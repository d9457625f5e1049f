"""The pre-commit hook without its command line: one run (``run``: check exactly what will be committed, let
the model fix it, put everything back, decide) and the script that starts it (``install``).

Beside ``run``, the two ways it fixes: ``command_fix`` (the check command, ``fix.cmd``, and the fix loop) and
``syntax_default`` (with no check command: the staged Python files must compile); ``outcome`` (the verdicts,
and the one ladder from model and budget trouble to them).  Its git plumbing lives here too, as only the hook
uses it: ``hookgit`` (git for the commit's own index), ``commit_state`` (what is staged, merges in progress),
``filestate`` and ``staged`` (setting unstaged changes aside and putting them back), ``aside_store`` (the lock
and the named folders), ``run_changes`` and ``check`` (the check command under the hook's budget).  Headless
like all of ``dgcode.workflows``: the core (config, edits, vcs, context, engine) and ``dgcode.workflows.fix``,
never typer, textual, rich or a front end.
"""
