"""DGCODE_TRACE_FILE: the engine's start-up milestones (docs/bench_first_step.py reads them), written only when set."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from dgcode.engine.engine import EngineOptions
from dgcode.engine.unmasking import SamplerSettings
from dgcode.engine.worker import TRACE_ENV, EngineClient, trace

SETTINGS = SamplerSettings(schedule="block", steps=4, max_tokens=16, sub_block_size=8, canvas_size=16,
                           stop_at_eos=False)


def _generate_twice(model) -> None:
    with EngineClient(model, EngineOptions(n_ctx=128)) as client:
        client.start(timeout=60)
        assert client.generate("hello", SETTINGS).steps == 4
        assert client.generate("again", SETTINGS).steps == 4


def test_milestones_are_written_when_the_variable_is_set(models, tmp_path, monkeypatch):
    path = tmp_path / "trace.jsonl"
    monkeypatch.setenv(TRACE_ENV, str(path))
    _generate_twice(models["dream"])
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event"] for e in events] == ["engine_spawn", "engine_child_start", "engine_imported", "engine_loaded",
                                            "generate", "first_step", "generate", "first_step"]
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    assert len({e["pid"] for e in events}) == 2, "the client's milestone and the child's"
    assert all(e["elapsed_s"] > 0 for e in events if e["event"] == "first_step")


def test_nothing_is_written_without_it(models, tmp_path, monkeypatch):
    monkeypatch.delenv(TRACE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    trace("first_step")
    _generate_twice(models["dream"])
    assert list(tmp_path.iterdir()) == []


def test_a_child_spawned_from_a_script_that_defines_nothing_does_not_run_it_again(models, tmp_path):
    """The `dgcode` console script only imports the command line: its engine child skips re-running it."""
    marker = tmp_path / "ran"
    script = tmp_path / "entry"
    script.write_text(textwrap.dedent(f"""\
        import sys
        open({str(marker)!r}, "a").write(__name__ + "\\n")
        from dgcode.engine.engine import EngineOptions
        from dgcode.engine.worker import EngineClient
        if __name__ == "__main__":
            with EngineClient({str(models["dream"])!r}, EngineOptions(n_ctx=128)) as client:
                client.start(timeout=60)
    """))
    subprocess.run([sys.executable, str(script)], check=True, timeout=120)
    assert marker.read_text() == "__main__\n"
    marker.unlink()
    script.write_text(script.read_text().replace("import sys\n", "import sys\ndef helper():\n    pass\n"))
    subprocess.run([sys.executable, str(script)], check=True, timeout=120)
    assert marker.read_text() == "__main__\n__mp_main__\n", "a script with its own functions is re-run as usual"


def test_fix_tells_a_full_model_from_a_repair_model_by_the_bounded_header(models, monkeypatch):
    """repairer_for no longer runs gguf's full reader (6 s on a 152k vocabulary) on a model that is not one."""
    from pathlib import Path

    import dgcode.repair.repair_model as repair_model
    from dgcode.workflows.fix.engine import RepairClientEngine, repairer_for

    real = repair_model.read_layout
    monkeypatch.setattr(repair_model, "read_layout", lambda _p: (_ for _ in ()).throw(AssertionError("full read")))
    assert repairer_for(models["dream"], {"threads": None}) is None
    monkeypatch.setattr(repair_model, "read_layout", real)
    embedded = Path(repair_model.__file__).with_name("dgcode-repair.gguf")
    assert isinstance(repairer_for(embedded, {"threads": None}), RepairClientEngine)
