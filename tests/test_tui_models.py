"""/models and /pull in the TUI: the registry listed, a pull with progress that leaves the app usable, errors, cancel.

The local hub and CDN servers on 127.0.0.1, the private Hugging Face home
and the test registry come from test_models_pull.py (``HF_ENDPOINT`` points
at the local hub; nothing reaches the network). To see a pull mid-transfer
however fast the machine is, the CDN's body is paced: it is written a chunk
at a time and holds after ``hold_at`` bytes until the test opens ``gate``.
"""

from __future__ import annotations

import threading

import pytest
import test_models_pull as shared
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from rich.filesize import decimal as human_size
from tui_fakes import Script, ScriptedEngine, two_file_repo
from tui_pilot import notes, run, submit, until

from dgcode.engine.unmasking import SamplerSettings
from dgcode.models.registry import load_registry
from dgcode.tui.app import DgcodeApp
from dgcode.workflows.chat.commands import complete, help_text
from dgcode.workflows.chat.repair_turn import GET_A_FULL_MODEL, plan_repair
from dgcode.workflows.model import choose_model

# The fixtures of test_models_pull.py, hf_env autouse as there.
hf_env, hub, data_dir, gguf_bytes = shared.hf_env, shared.hub, shared.data_dir, shared.gguf_bytes
CHUNK = shared.CHUNK
SETTINGS = SamplerSettings(max_tokens=64, sub_block_size=8, canvas_size=32)


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


@pytest.fixture
def registry(tmp_path, monkeypatch):
    path = tmp_path / "registry.toml"
    path.write_text(shared.registry_text())
    monkeypatch.setenv("DGCODE_REGISTRY", str(path))
    return path


class Pace:
    """How the CDN writes a blob's body: CHUNK bytes at a time, holding after ``hold_at`` bytes until ``gate``."""

    def __init__(self):
        self.hold_at: int | None = None
        self.gate = threading.Event()
        self.holding = threading.Event()


class PacedFile:
    """The handler's wfile: the first write (the headers) as is, the body through ``pace``."""

    def __init__(self, raw, pace: Pace):
        self.raw, self.pace, self.writes, self.sent = raw, pace, 0, 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.writes == 1:
            self.raw.write(data)
            return
        for start in range(0, len(data), CHUNK):
            if self.pace.hold_at is not None and self.sent >= self.pace.hold_at and not self.pace.gate.is_set():
                self.pace.holding.set()
                self.pace.gate.wait(20)
            self.raw.write(data[start:start + CHUNK])
            self.raw.flush()
            self.sent += CHUNK

    def __getattr__(self, name):
        return getattr(self.raw, name)


@pytest.fixture
def pace(monkeypatch):
    state = Pace()
    original = shared.Handler._blob

    def paced_blob(self, sha):
        raw = self.wfile
        self.wfile = PacedFile(raw, state)
        try:
            original(self, sha)
        finally:
            self.wfile = raw

    monkeypatch.setattr(shared.Handler, "_blob", paced_blob)
    yield state
    state.gate.set()  # never leave a server thread waiting


def resolving_factory(made: list):
    """An engine factory that resolves the location as the real one does (a pulled name too), then scripts it."""

    def factory(location: str) -> ScriptedEngine:
        path = choose_model({"model": location}, embedded=False).path
        made.append(path)
        return ScriptedEngine(name=path.name, delay=0.001)

    return factory


def progress_texts(app) -> list[str]:
    return [t for t in notes(app) if t.startswith("tiny-dream Q8_0: ")]


def listed(app, name: str = "tiny-dream") -> str:
    """The line of the newest /models note that lists ``name``."""
    return next(line.strip() for line in notes(app)[-1].splitlines() if line.strip().startswith(name + " "))


def test_models_lists_every_registry_entry_with_hints(repo, monkeypatch):
    monkeypatch.delenv("DGCODE_REGISTRY", raising=False)
    names = [entry.name for entry in load_registry()]

    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(120, 40)) as pilot:
            await submit(pilot, "/models")
            shown = notes(app)[-1]
            assert shown.startswith(f"models dgcode knows ({len(names)}):")
            listed = [line.split()[0] for line in shown.splitlines()[1:len(names) + 1]]
            assert listed == names
            assert "/pull NAME[:QUANT]" in shown and "/model NAME" in shown and "models folder: " in shown

    run(scenario)


def test_pull_shows_progress_keeps_the_app_answering_and_model_finds_the_file(repo, registry, hub, data_dir,
                                                                              gguf_bytes, pace):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    pace.hold_at = 2 * CHUNK
    made: list = []
    size = human_size(len(gguf_bytes))

    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS, engine_factory=resolving_factory(made))
        async with app.run_test(size=(120, 40)) as pilot:
            await submit(pilot, "/models")
            assert listed(app).split()[2:] == ["Q8_0*", "F16", "not", "downloaded"]
            await submit(pilot, "/pull tiny")
            await until(pilot, lambda: any(f"downloading 32.8 kB / {size} (" in t for t in progress_texts(app)), 20,
                        "the progress of the held download")
            main = app.main
            assert main.pulling is not None and pace.holding.is_set()
            assert any(t.startswith(f"downloading tiny.Q8_0.gguf ({size}) from http://127.0.0.1:")
                       for t in notes(app))
            # The UI answers while the pull waits on the network.
            await submit(pilot, "/ls")
            assert notes(app)[-1].startswith("no files in the context")
            await submit(pilot, "/models")
            assert listed(app).endswith("not downloaded (pulling Q8_0 now)")
            await submit(pilot, "/pull tiny:F16")
            assert notes(app, "warning")[-1] == "already pulling tiny-dream Q8_0 (one pull at a time; esc cancels it)"
            pace.gate.set()
            await until(pilot, lambda: main.pulling is None, 20, "the pull")
            dest = data_dir / "models" / "tiny-dream" / "tiny.Q8_0.gguf"
            done = notes(app, "ok")[-1]
            assert done.startswith(f"pulled tiny-dream Q8_0 (downloaded, {size}, sha256 checked against the hub")
            assert f"to {dest}. /model tiny-dream switches to it" in done
            assert dest.read_bytes()[:4] == b"GGUF" and len(progress_texts(app)) == 1, "one note, updated in place"
            assert progress_texts(app)[0].endswith(f"{size} / {size} (100%)")
            await submit(pilot, "/models")
            assert listed(app).endswith(f"Q8_0* F16  downloaded: Q8_0 {size}")
            await submit(pilot, "/model tiny-dream")
            await until(pilot, lambda: not main.switching and app.engine.name == dest.name, 20, "the switch")
            assert made == [dest] and "switched to tiny.Q8_0.gguf" in notes(app, "ok")[-1]
            await submit(pilot, "/pull tiny-dream")
            await until(pilot, lambda: main.pulling is None, 20, "the second pull")
            assert notes(app, "ok")[-1] == (f"tiny-dream Q8_0 is already downloaded: {dest}. /model tiny-dream "
                                            "switches to it")
            assert notes(app, "error") == []

    run(scenario, 60)


def test_escape_cancels_a_pull_and_leaves_nothing_under_the_models_name(repo, registry, hub, data_dir, gguf_bytes,
                                                                         pace, hf_env):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)
    pace.hold_at = 2 * CHUNK
    engine = ScriptedEngine(Script("word " * 40, per_step=1, hold_at=3), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(120, 40)) as pilot:
            main = app.main
            await submit(pilot, "/pull tiny-dream")
            await until(pilot, lambda: any("32.8 kB" in t for t in progress_texts(app)), 20, "the held download")
            # While an answer runs, escape stops the answer and leaves the pull alone.
            await submit(pilot, "go")
            await until(pilot, engine.holding.is_set, 10, "the held answer")
            await pilot.press("escape")
            engine.release()
            await until(pilot, lambda: not main.answering, 10, "the cancelled answer")
            assert engine.saw_cancel and main.pulling is not None and not main.pulling.cancel.is_set()
            await pilot.press("escape")
            assert notes(app, "warning")[-1] == "cancelling the pull of tiny-dream Q8_0 …"
            pace.gate.set()  # the next chunk's progress report stops the pull
            await until(pilot, lambda: main.pulling is None, 20, "the cancel")
            assert notes(app, "warning")[-1] == ("/pull tiny-dream Q8_0 cancelled: nothing was put under the model's "
                                                 "name; /pull it again to start over")
            folder = data_dir / "models" / "tiny-dream"
            assert not folder.exists() or list(folder.iterdir()) == []
            assert [p for p in shared.cache_files(hf_env) if "/blobs/" in p or "/snapshots/" in p] == []
            assert notes(app, "error") == [] and notes(app, "ok") == []
            # Nothing half-done blocks the next pull.
            pace.hold_at = None
            await submit(pilot, "/pull tiny-dream")
            await until(pilot, lambda: main.pulling is None, 20, "the pull after the cancel")
            assert notes(app, "ok")[-1].startswith("pulled tiny-dream Q8_0 (downloaded")
            assert (folder / "tiny.Q8_0.gguf").is_file()

    run(scenario, 60)


def test_a_failing_pull_is_one_clear_line_and_the_app_stays_usable(repo, registry, hub, data_dir, gguf_bytes):
    hub.add("tiny.Q8_0.gguf", gguf_bytes)  # the F16 file is not on the hub: 404

    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(120, 40)) as pilot:
            main = app.main
            for typed, why in (("/pull tiny-drem", "unknown model 'tiny-drem'; did you mean tiny-dream, tiny?"),
                               ("/pull tiny:Q2_K", "tiny-dream has no Q2_K file; available: Q8_0, F16"),
                               ("/pull", "usage: /pull NAME[:QUANT]")):
                before = len(notes(app, "error"))
                await submit(pilot, typed)
                errors = notes(app, "error")[before:]
                assert len(errors) == 1 and why in errors[0] and "\n" not in errors[0], errors
                assert main.pulling is None
            before = len(notes(app, "error"))
            await submit(pilot, "/pull tiny:f16")
            await until(pilot, lambda: main.pulling is None, 20, "the failed pull")
            errors = notes(app, "error")[before:]
            assert len(errors) == 1 and "\n" not in errors[0], errors
            assert errors[0].startswith("/pull tiny-dream F16 failed: tiny.f16.gguf was not found in http://127.0.0.1:")
            assert "(HTTP 404)" in errors[0]
            assert not (data_dir / "models" / "tiny-dream" / "tiny.f16.gguf").exists()
            await submit(pilot, "/pull tiny")
            await until(pilot, lambda: main.pulling is None, 20, "the pull after the failure")
            assert notes(app, "ok")[-1].startswith("pulled tiny-dream Q8_0")

    run(scenario, 60)


def test_model_names_a_model_not_pulled_yet_and_says_to_pull_it(repo, registry, data_dir):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(120, 40)) as pilot:
            await submit(pilot, "/model tiny-dream")
            await until(pilot, lambda: notes(app, "error"), 20, "the refused switch")
            assert notes(app, "error")[-1] == ("cannot use tiny-dream: model 'tiny-dream' is not downloaded: "
                                               "/pull tiny-dream downloads it here")
            assert app.engine.name == "scripted.gguf"

    run(scenario)


def test_commands_help_and_completion_name_models_and_pull(repo, registry):
    assert "/models " in help_text() and "/pull NAME[:QUANT]" in help_text()
    assert [c.value for c in complete("/pull ", repo)] == ["/pull tiny-dream"]
    assert [c.value for c in complete("/pull x", repo)] == []
    assert [c.value for c in complete("/mod", repo)] == ["/model ", "/models"]


def test_the_embedded_models_refusal_points_to_models_and_pull(repo):
    refusal = plan_repair("add a docstring to a.py", repo, []).refusal
    assert GET_A_FULL_MODEL in refusal and "/models lists them" in refusal and "/pull NAME" in refusal
    assert "dgcode models" not in refusal
