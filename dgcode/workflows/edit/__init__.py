"""`dgcode edit FILE:START-END -m TEXT` without its command line: one range of a file masked and re-denoised.

The target (``range_target``: ``FILE:START-END``, ``FILE:LINE``, ``FILE::name``
resolved with tree-sitter), the answer budget for the span (``budget``), the
engine seam (``engine``), the run itself (``pipeline``) and what it did
(``report``).  Headless like all of ``dgcode.workflows``: no front end.
"""
