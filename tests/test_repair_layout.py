"""Repair GGUF layout versions: version 2 reads as before, version 3 carries its window, the rest is refused clearly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dgcode.engine.engine import Engine, EngineOptions
from dgcode.repair.canvas import V2_WINDOW, V3_SPEC, CanvasSpec, spec_problem, split_lines
from dgcode.repair.embedded import EMBEDDED_MODEL
from dgcode.repair.layout import LAYOUT_KEY, LAYOUT_VERSION, NotARepairModel, layout_values, read_layout
from dgcode.repair.repair_model import read_layout as read_layout_from_repair_model
from dgcode.repair.repair_model import repair_window, syntax_error
from training.corpus import Corpus
from training.export import export_gguf, random_state
from training.tokenizer import count_pretokens, train_bpe

V3 = CanvasSpec(canvas=256, slot=64, after_budget=16, reach_before=2, reach_after=1, reach_slot=48)
WIDE = CanvasSpec(canvas=192, slot=64, after_budget=16, lines_before_error=2, lines_after_error=1)  # v3, no reach


def header_only_gguf(path, layout: dict[str, int]):
    """A GGUF with no tensors and these dgcode.repair.* numbers: all read_layout looks at."""
    import gguf

    writer = gguf.GGUFWriter(path, "dream")
    for key, value in layout.items():
        writer.add_uint32(LAYOUT_KEY + key, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


V2_VALUES = {"version": 2, "canvas": 288, "slot": 112, "after_budget": 24, "error_budget": 16,
             "lines_before_error": 1}
V3_VALUES = {**V2_VALUES, "version": 3, "canvas": 416, "lines_after_error": 0, "reach_before": 2, "reach_after": 1,
             "reach_slot": 64}


@pytest.fixture(scope="module")
def tok():
    corpus = Corpus("heldout", max_files=8)
    return train_bpe(count_pretokens(line for f in corpus.files for line in f.lines), 600)


def tiny_model(tok, spec, path):
    config = dict(n_vocab=tok.n_vocab, n_embd=32, n_layer=1, n_head=2, n_head_kv=1, n_ff=64, rope_theta=10000.0,
                  rms_eps=1e-6, n_ctx=256, tied_embeddings=True)
    return export_gguf(random_state(config), config, tok, spec, path, dtype="f32")


def test_the_shipped_model_is_still_layout_version_2_with_its_implicit_window():
    spec = read_layout(EMBEDDED_MODEL)
    assert spec == CanvasSpec(canvas=288, slot=112, after_budget=24, error_budget=16, lines_before_error=1,
                              lines_after_error=0, reach_before=0, reach_after=0, reach_slot=0)
    assert spec.layout_version == 2 and (spec.lines_before_error, spec.lines_after_error) == V2_WINDOW
    assert read_layout_from_repair_model is read_layout  # the name callers import from repair_model


def test_export_writes_the_oldest_version_that_describes_the_canvas(tok, tmp_path):
    v2 = replace(WIDE, lines_before_error=1, lines_after_error=0)
    assert layout_values(v2) == {"version": 2, "canvas": 192, "slot": 64, "after_budget": 16, "error_budget": 16,
                                 "lines_before_error": 1}  # exactly version 2's keys: older dgcode reads it
    assert layout_values(V3) == {"version": 3, "canvas": 256, "slot": 64, "after_budget": 16, "error_budget": 16,
                                 "lines_before_error": 1, "lines_after_error": 0, "reach_before": 2,
                                 "reach_after": 1, "reach_slot": 48} and LAYOUT_VERSION == 3
    assert layout_values(WIDE)["version"] == 3 and layout_values(WIDE)["lines_after_error"] == 1
    for spec in (v2, V3, WIDE):
        assert read_layout(tiny_model(tok, spec, tmp_path / "m.gguf")) == spec
    with pytest.raises(ValueError, match="shorter than its slots"):
        layout_values(replace(V3, canvas=200))


@pytest.mark.parametrize("version,why", [
    (1, "repair layout version 1 is older than this dgcode reads repair layout versions 2 to 3"),
    (0, "version 0 is older than"),
    (4, "repair layout version 4 is newer than this dgcode reads repair layout versions 2 to 3"),
])
def test_a_layout_version_this_dgcode_does_not_read_is_refused_naming_the_file(tmp_path, version, why):
    path = header_only_gguf(tmp_path / f"v{version}.gguf", {**V2_VALUES, "version": version,
                                                            "lines_after_error": 0})
    with pytest.raises(NotARepairModel, match=why) as raised:
        read_layout(path)
    assert str(raised.value).startswith(f"{path}: ")


@pytest.mark.parametrize("layout,why", [
    ({**V2_VALUES, "lines_after_error": 1}, "version 2 with a window of 1 line.s. before and 1 after"),
    ({**V2_VALUES, "lines_before_error": 2}, "version 2 with a window of 2 line.s. before and 0 after"),
    ({**V2_VALUES, "version": 3}, "no dgcode.repair.lines_after_error for layout version 3"),
    ({k: v for k, v in V2_VALUES.items() if k != "slot"}, "no dgcode.repair.slot for layout version 2"),
    ({**V2_VALUES, "reach_slot": 48}, "version 2 with a reach slot; a reach is version 3"),
    ({**V2_VALUES, "slot": 200}, "version 2 is inconsistent: canvas 288 is shorter than its slots"),
    ({**V3_VALUES, "lines_after_error": 40}, "inconsistent: lines_after_error = 40 is outside"),
    ({**V3_VALUES, "reach_slot": 0, "reach_before": 1}, "inconsistent: reach lines without a reach slot"),
    ({**V3_VALUES, "canvas": 300}, "version 3 is inconsistent: canvas 300 is shorter than its slots of 112 and 64"),
    ({k: v for k, v in V3_VALUES.items() if k != "reach_slot"}, "no dgcode.repair.reach_slot for layout version 3"),
    ({"canvas": 288}, "no dgcode.repair.version; not a dgcode repair model"),
])
def test_an_inconsistent_or_incomplete_layout_is_refused(tmp_path, layout, why):
    with pytest.raises(NotARepairModel, match=why):
        read_layout(header_only_gguf(tmp_path / "m.gguf", layout))


def test_version_2_files_without_the_new_key_read_as_before(tmp_path):
    spec = read_layout(header_only_gguf(tmp_path / "v2.gguf", V2_VALUES))
    assert spec == CanvasSpec(canvas=288, slot=112, after_budget=24, error_budget=16, lines_before_error=1,
                              lines_after_error=0, reach_before=0, reach_after=0, reach_slot=0)
    assert read_layout(header_only_gguf(tmp_path / "v3.gguf", V3_VALUES)) == CanvasSpec(
        canvas=416, slot=112, after_budget=24, error_budget=16, reach_before=2, reach_after=1, reach_slot=64)


def test_spec_problem_names_what_is_wrong():
    assert spec_problem(CanvasSpec()) is None and spec_problem(V3) is None and spec_problem(V3_SPEC) is None
    assert V3_SPEC.layout_version == 3 and V3_SPEC.context_budget == 58  # version 2's context, less one marker
    assert "slot 1" in spec_problem(replace(V3, slot=1))
    assert "lines_before_error = -1" in spec_problem(replace(V3, lines_before_error=-1))


def test_inference_builds_the_window_the_gguf_says(tok, tmp_path):
    """The engine path (repair_window) lays out the canvas from the file's layout: a version 3 file's window
    reaches further (its reach, or a wider core), a version 2 file's stays the line and the one before."""
    source = "".join(f"value_{i} = {i}\n" for i in range(8)) + "if value_3 = 4:\n    pass\n" + "".join(
        f"other_{i} = {i}\n" for i in range(4))
    error = syntax_error(source)
    assert error is not None and error.lineno == 9
    v2 = replace(WIDE, lines_before_error=1, lines_after_error=0)
    for spec, window in [(V3, (5, 10)), (WIDE, (6, 10)), (v2, (7, 9))]:
        path = tiny_model(tok, spec, tmp_path / "m.gguf")
        read = read_layout(path)
        assert read == spec
        with Engine(path, EngineOptions(n_ctx=read.canvas, n_threads=1)) as engine:
            repair = repair_window(engine, source, error.lineno, error.msg, read, offset=error.offset or 0,
                                   alternatives=4)
        assert repair is not None and (repair.start, repair.end) == window
        assert repair.old_lines == tuple(split_lines(source)[window[0]:window[1]])
        assert 1 <= repair.steps <= read.answer_length and np.isfinite(repair.wall_s)
        if read.reach_slot:  # with a reach the answer is read at each byte's operation: one confidence each
            assert len(repair.confidence) == len("".join(repair.old_lines).encode())
        assert all(len(lines) >= 1 for lines in repair.alternatives)
