"""The canvas layout a repair GGUF records under dgcode.repair.*: which keys each layout version has, and reading them.

A repair model is a `dream` GGUF whose header says which canvas it was
trained on (canvas.py), so inference rebuilds exactly that canvas:

- version 2: `canvas`, `slot`, `after_budget`, `error_budget` and
  `lines_before_error`; the window is always the reported line and the one
  before it (a version 2 file that says otherwise is refused);
- version 3: the same and `lines_after_error`, `reach_before`,
  `reach_after` and `reach_slot`: the core's lines before and after the
  reported line, and the reach around the core (window.py), are the file's
  own (canvas.CanvasSpec).

Version 1 (the window rewritten token by token) and versions newer than this
dgcode knows are refused with a message naming the file and the versions, as
is a layout whose numbers do not make a canvas (canvas.spec_problem).
training/export.py writes the oldest version that describes a spec, so a
model with version 2's window stays readable by older dgcode.
"""

from __future__ import annotations

import os
from pathlib import Path

from dgcode.repair.canvas import V2_WINDOW, CanvasSpec, spec_problem

LAYOUT_KEY = "dgcode.repair."
LAYOUT_VERSION = 3
"""The newest layout this dgcode reads and writes (2: one edit operation per broken byte; 3: the window's shape,
and a reach of lines around it, are the file's own)."""
OLDEST_LAYOUT_VERSION = 2
V2_KEYS = ("canvas", "slot", "after_budget", "error_budget", "lines_before_error")
LAYOUT_KEYS = {2: V2_KEYS, 3: V2_KEYS + ("lines_after_error", "reach_before", "reach_after", "reach_slot")}
"""The dgcode.repair.* keys (besides `version`) each layout version writes and requires."""
V2_IMPLICIT = {"lines_after_error": V2_WINDOW[1], "reach_before": 0, "reach_after": 0, "reach_slot": 0}
"""What a version 2 file leaves unsaid: version 2's window has no line after the reported one, and no reach."""


class NotARepairModel(ValueError):
    """The GGUF is not a dgcode repair model of a layout this version reads."""


def layout_values(spec: CanvasSpec) -> dict[str, int]:
    """What export writes under LAYOUT_KEY: `version` (spec.layout_version) and that version's keys."""
    problem = spec_problem(spec)
    if problem is not None:
        raise ValueError(f"not a usable canvas layout: {problem}")
    version = spec.layout_version
    return {"version": version, **{key: int(getattr(spec, key)) for key in LAYOUT_KEYS[version]}}


def read_layout(path: str | os.PathLike[str]) -> CanvasSpec:
    """The canvas layout a repair model was trained with; NotARepairModel when it has none, one of a layout
    version this dgcode does not read, or one whose numbers do not make a canvas.

    Read with dgcode's bounded header reader (engine/gguf_header.py), which skips the token arrays: milliseconds
    even on a 152k-token vocabulary, where gguf's full reader took seconds.
    """
    from dgcode.engine.errors import ModelFileError
    from dgcode.engine.gguf_header import INTEGER_TYPES, read_gguf_header

    try:
        header = read_gguf_header(Path(path).expanduser())
    except ModelFileError as error:
        raise NotARepairModel(f"{path}: cannot read it as GGUF ({error})") from None

    def number(key: str) -> int | None:
        name = LAYOUT_KEY + key
        if name not in header.values or header.types[name] not in INTEGER_TYPES:
            return None
        return int(header.values[name])

    version = number("version")
    if version is None:
        raise NotARepairModel(f"{path}: no {LAYOUT_KEY}version; not a dgcode repair model")
    readable = f"this dgcode reads repair layout versions {OLDEST_LAYOUT_VERSION} to {LAYOUT_VERSION}"
    if version < OLDEST_LAYOUT_VERSION:
        raise NotARepairModel(f"{path}: repair layout version {version} is older than {readable}; "
                              "retrain or re-export the model with this dgcode's training/")
    if version > LAYOUT_VERSION:
        raise NotARepairModel(f"{path}: repair layout version {version} is newer than {readable}; "
                              "a newer dgcode is needed for this model")
    values = {}
    for key in LAYOUT_KEYS[version]:
        value = number(key)
        if value is None:
            raise NotARepairModel(f"{path}: no {LAYOUT_KEY}{key} for layout version {version}; "
                                  "the repair model is incomplete")
        values[key] = value
    if version == 2:
        after = number("lines_after_error")
        window = (values["lines_before_error"], 0 if after is None else after)
        if window != V2_WINDOW:
            raise NotARepairModel(f"{path}: repair layout version 2 with a window of {window[0]} line(s) before "
                                  f"and {window[1]} after the reported line; version 2's window is "
                                  f"{V2_WINDOW[0]} before and {V2_WINDOW[1]} after (another window is version 3)")
        if number("reach_slot"):
            raise NotARepairModel(f"{path}: repair layout version 2 with a reach slot; a reach is version 3")
        values.update(V2_IMPLICIT)
    spec = CanvasSpec(**values)
    problem = spec_problem(spec)
    if problem is not None:
        raise NotARepairModel(f"{path}: repair layout version {version} is inconsistent: {problem}")
    return spec
