"""`dgcode fix` without its command line: the model loop (``pipeline``), the engine seam (``engine``), the
syntax-repair pipeline over the embedded model (``syntax``) and what a run did (``report``).

Headless like all of ``dgcode.workflows``: the core and ``dgcode.workflows.user_command``, never a front end.
"""
