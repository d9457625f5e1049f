"""Infill edits: the engine fills a masked line range between fixed code; the edit applies safely."""

from __future__ import annotations

import subprocess

import pytest

from dgcode.edits.errors import EditError
from dgcode.edits.infill import apply_infill, infill_edit, request_infill
from dgcode.edits.plan import apply_plan, plan_edits
from dgcode.edits.textfile import TextFile
from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.unmasking import SamplerSettings

SOURCE = b"import os\r\n\r\ndef f(x):\r\n    if x = 1\r\n        return 2\r\n\treturn 3\r\n"


def test_infill_with_the_real_engine_changes_only_the_span(tmp_path, models):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    target = tmp_path / "m.py"
    target.write_bytes(SOURCE)
    request = request_infill("m.py", TextFile.from_bytes(SOURCE, name="m.py"), 4, 4)
    assert request.span == "    if x = 1\n" and request.before.endswith("def f(x):\n")
    with Engine(models["dream"], EngineOptions(n_ctx=256)) as engine:
        settings = SamplerSettings(max_tokens=12, sub_block_size=16, canvas_size=16)
        result = engine.generate(request.before, settings, suffix=request.after)
    answer = result.text.replace("\n", " ").replace("\r", " ") or "pass"  # random weights: keep it one line
    plan = plan_edits(tmp_path, [infill_edit(request, answer)])
    assert plan.applicable, plan.problems
    apply_plan(plan)
    new = target.read_bytes().split(b"\r\n")
    old = SOURCE.split(b"\r\n")
    assert new[:3] == old[:3] and new[4:] == old[4:]  # every other line byte-identical, CRLF kept
    assert new[3] == answer.encode() and len(new) == len(old)


def test_infill_refuses_a_range_that_changed():
    text = TextFile.from_bytes(SOURCE, name="m.py")
    request = request_infill("m.py", text, 4, 5)
    changed = TextFile.from_bytes(SOURCE.replace(b"return 2", b"return 9"), name="m.py")
    with pytest.raises(EditError, match="changed since the model saw them"):
        apply_infill(changed, infill_edit(request, "    if x == 1:\n        return 2\n"))


def test_infill_range_outside_the_file():
    with pytest.raises(EditError, match="outside the file"):
        request_infill("m.py", TextFile.from_bytes(SOURCE, name="m.py"), 6, 9)


def test_infill_keeps_unchanged_lines_and_adds_the_files_newline():
    text = TextFile.from_bytes(SOURCE, name="m.py")
    request = request_infill("m.py", text, 4, 5)
    fixed = apply_infill(text, infill_edit(request, "    if x == 1:\n        return 2"))
    assert fixed.to_bytes() == SOURCE.replace(b"if x = 1", b"if x == 1:")
