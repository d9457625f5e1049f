"""/model: showing the model, switching to another GGUF, and staying usable when the file is bad or fails to load."""

from __future__ import annotations

import threading

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from tui_fakes import Script, ScriptedEngine, two_file_repo
from tui_pilot import notes, run, submit, until  # noqa: E402

from dgcode.engine.errors import EngineCrashedError
from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.app import DgcodeApp
from dgcode.tui.engine import ModelEngine, engine_at, model_summary_text
from dgcode.tui.widgets.transcript import AnswerView

SETTINGS = SamplerSettings(max_tokens=64, sub_block_size=8, canvas_size=32)


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


async def ask(pilot, engine, text: str) -> str:
    """Send ``text`` and wait for the answer; the newest answer's text."""
    asked = len(engine.prompts)
    await submit(pilot, text)
    await until(pilot, lambda: len(engine.prompts) > asked and not pilot.app.main.answering, what="the answer")
    await pilot.pause(0.05)
    return list(pilot.app.main.transcript.query(AnswerView))[-1].final_text


def test_model_summary_text():
    text = model_summary_text({"path": "/m/dream.gguf", "architecture": "dream", "cached_path": True,
                               "loaded": True, "backend": "CPU, 4 threads", "n_ctx": 4096})
    assert text.splitlines() == ["model: dream.gguf", "path: /m/dream.gguf", "architecture: dream",
                                 "fast cached path: yes (prefix KV cache, several tokens per step)",
                                 "loaded: CPU, 4 threads, context 4096 tokens"]
    assert "fast cached path: no" in model_summary_text({"path": "x", "cached_path": False})
    assert "loaded: not yet" in model_summary_text({"path": "x"})


def test_model_engine_summary_reads_the_header_before_loading(models):
    engine = engine_at(models["dream"], {})
    facts = engine.summary()
    assert facts["architecture"] == "dream" and facts["cached_path"] is True and facts["loaded"] is False
    assert not engine.client.alive, "reading the header starts no engine process"
    with pytest.raises(Exception, match="no mask token"):
        engine_at(models["qwen2-no-mask"], {}).summary()


def test_model_shows_the_current_model(repo, models):
    async def scenario():
        app = DgcodeApp(repo, engine=engine_at(models["dream"], {}), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/model")
            await until(pilot, lambda: any(t.startswith("model: dream.gguf") for t in notes(app)), what="/model")
            shown = next(t for t in notes(app) if t.startswith("model: "))
            assert f"path: {models['dream'].resolve()}" in shown and "architecture: dream" in shown
            assert "fast cached path: yes" in shown and "loaded: not yet" in shown

    run(scenario)


def test_model_without_a_model_says_how_to_load_one(repo):
    async def scenario():
        app = DgcodeApp(repo, {}, settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/model")
            assert "/model PATH.gguf loads one" in notes(app, "warning")[-1]

    run(scenario)


def test_a_bad_file_changes_nothing_and_the_app_stays_usable(repo, models):
    engine = ScriptedEngine(Script("still here"), delay=0.001)
    (repo / "junk.gguf").write_bytes(b"not a model at all" * 10)

    async def scenario():
        app = DgcodeApp(repo, {}, engine=engine, settings=SETTINGS)  # the real factory: EngineClient per file
        async with app.run_test(size=(100, 30)) as pilot:
            for bad, why in (("junk.gguf", "junk.gguf"), ("missing.gguf", "missing.gguf"),
                             (str(models["qwen2-no-mask"]), "no mask token")):
                errors = len(notes(app, "error"))
                await submit(pilot, f"/model {bad}")
                await until(pilot, lambda seen=errors: len(notes(app, "error")) > seen, what=f"/model {bad} to fail")
                assert notes(app, "error")[-1].startswith("cannot use ") and why in notes(app, "error")[-1]
                assert not app.main.switching
            assert app.engine is engine and not engine.closed, "the old model was never closed"
            assert app.main.panel.model == "scripted.gguf"
            assert await ask(pilot, engine, "hello") == "still here"

    run(scenario)


def test_switching_closes_the_old_engine_and_answers_with_the_new_one(repo):
    old = ScriptedEngine(Script("old answer"), delay=0.001)
    made = []

    def factory(location: str) -> ScriptedEngine:
        made.append(location)
        return ScriptedEngine(Script("new answer"), name="other.gguf", delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=old, settings=SETTINGS, engine_factory=factory)
        async with app.run_test(size=(100, 30)) as pilot:
            assert await ask(pilot, old, "first") == "old answer"
            (repo / "models").mkdir()
            (repo / "models" / "other.gguf").write_bytes(b"")
            await submit(pilot, "/model models/other.gguf")
            await until(pilot, lambda: any("switched to other.gguf" in t for t in notes(app, "ok")), what="switch")
            assert made == [str(repo.resolve() / "models" / "other.gguf")], "a path under the session's folder"
            new = app.engine
            assert new is not old and old.closed and new.started
            assert app.main.panel.model == "other.gguf" and "dream" in app.main.panel.backend
            assert "architecture: dream" in notes(app, "ok")[-1]
            assert await ask(pilot, new, "second") == "new answer"
            assert len(new.prompts[0]) > len(old.prompts[0]), "the conversation goes on with the new model"

    run(scenario)


def test_a_model_that_fails_to_load_leaves_the_old_one(repo):
    old = ScriptedEngine(Script("old answer"), delay=0.001)
    broken = ScriptedEngine(name="broken.gguf", start_error=EngineCrashedError(
        "the engine process killed by SIGABRT while loading the model"))

    async def scenario():
        app = DgcodeApp(repo, engine=old, settings=SETTINGS, engine_factory=lambda _location: broken)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/model broken.gguf")
            await until(pilot, lambda: notes(app, "error"), what="the failed load")
            error = notes(app, "error")[-1]
            assert "broken.gguf failed to load" in error and "SIGABRT" in error and "still using scripted.gguf" in error
            assert broken.closed and app.engine is old and app.main.panel.model == "scripted.gguf"
            assert await ask(pilot, old, "hello") == "old answer", "the old model loads again"

    run(scenario)


def test_switching_to_a_real_model_starts_its_engine_process_and_stops_the_old_one(repo, models):
    async def scenario():
        app = DgcodeApp(repo, {"threads": 1}, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, f"/model {models['dream']}")
            await until(pilot, lambda: notes(app, "ok") or notes(app, "error"), timeout=60, what="the dream load")
            assert notes(app, "error") == [] and "switched to dream.gguf" in notes(app, "ok")[-1]
            dream = app.engine
            assert isinstance(dream, ModelEngine) and dream.client.alive
            assert app.main.panel.backend.startswith("dream · CPU")
            await submit(pilot, f"/model {models['llada']}")
            await until(pilot, lambda: len(notes(app, "ok")) == 2 or notes(app, "error"), timeout=60,
                        what="the llada load")
            assert "switched to llada.gguf" in notes(app, "ok")[-1]
            assert not dream.client.alive, "the old engine's process was closed"
            assert app.engine.client.alive

    run(scenario, timeout=150)


class GatedEngine(ScriptedEngine):
    """A scripted engine whose model takes until ``loaded`` is set to load."""

    def __init__(self, *scripts, **options):
        super().__init__(*scripts, **options)
        self.loaded = threading.Event()

    def start(self, say) -> None:
        say(f"loading {self.name}: 40%")
        self.loaded.wait(10)
        super().start(say)


def test_messages_wait_while_a_model_loads(repo):
    new = GatedEngine(Script("new answer"), name="slow.gguf", delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS, engine_factory=lambda _location: new)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/model slow.gguf")
            bar = app.main.prompt
            await until(pilot, lambda: "40%" in str(bar.input.border_subtitle), what="the load's progress")
            assert app.main.switching
            await submit(pilot, "hello")
            assert bar.input.text == "hello" and new.prompts == [], "the message waits in the prompt"
            await submit(pilot, "/remask")
            await submit(pilot, "/model other.gguf")
            assert notes(app, "warning")[-2:] == [
                "the model is busy: wait, or esc to cancel, then /remask",
                "the model is busy: wait, or esc to cancel, then /model"]
            new.loaded.set()
            await until(pilot, lambda: not app.main.switching, what="the load")
            assert app.engine is new and bar.input.border_subtitle == ""
            assert await ask(pilot, new, "hello") == "new answer"

    run(scenario)
