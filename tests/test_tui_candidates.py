"""/candidates in the TUI: K answers drafted together and drawn side by side, each judged by the check command in a
scratch copy, the first that passes offered for review; the person's files untouched until then.

The scripted engine replays K answers as one batch would (step events naming their candidate); the last test
drives the real engine process on the tiny dream GGUF, whose K noisy answers hold no edits.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from git_shim import (
    git_shim,  # noqa: F401  (autouse fixture)
    real_git,
)
from tui_fakes import Script, ScriptedEngine, scripted_events, split_tokens, two_file_repo
from tui_pilot import notes, run, submit, until  # noqa: E402

from dgcode.engine.candidates import CandidateStepEvent
from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.app import DgcodeApp
from dgcode.tui.engine import engine_at
from dgcode.tui.screens.review import ReviewScreen
from dgcode.tui.widgets.transcript import AnswerView
from dgcode.workflows.fix.report import Answer

SETTINGS = SamplerSettings(max_tokens=64, sub_block_size=8, canvas_size=32)


def edit(old: str, new: str) -> str:
    return f"a.py\n```python\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n```\n"


class BatchEngine(ScriptedEngine):
    """Answers /candidates with its scripts, one per candidate, their steps interleaved as one batch's."""

    def __init__(self, *scripts, hold: threading.Event | None = None, **options):
        super().__init__(*scripts, **options)
        self.hold = hold
        self.batches: list[int] = []

    def generate_candidates(self, messages, settings, k, on_step=None, say=None):
        self.prompts.append(messages)
        self.batches.append(k)
        scripts, self.scripts = self.scripts[:k], self.scripts[k:]
        runs = [scripted_events(s.text, settings, per_step=s.per_step) for s in scripts]
        cancelled = False
        for step in range(max(len(r) for r in runs)):
            for index, events in enumerate(runs):
                if step < len(events):
                    event = CandidateStepEvent(**vars(events[step]), candidate=index, batch_step=step + 1)
                    if on_step is not None and on_step(event) is False:
                        cancelled = True
            if self.hold is not None and step == 0:
                self.holding.set()
                self.hold.wait(10)
            if cancelled or self._cancel.is_set():
                break
        answers = [Answer(s.text if not cancelled else "", len(split_tokens(s.text)), len(r),
                          "cancelled" if cancelled else "eos", 1.0, 0.01) for s, r in zip(scripts, runs)]
        return answers, {"prompt_tokens": 40, "prefill_tokens": 40, "batch_steps": max(len(r) for r in runs),
                         "wall_s": 0.01}


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


CHECK = "grep -q 'x = 10' a.py"


def test_the_first_candidate_that_passes_the_check_is_reviewed_and_the_files_wait_for_it(repo):
    hold = threading.Event()
    engine = BatchEngine(Script(edit("x = 1", "x = 2")), Script("No edits from me."),
                         Script(edit("x = 1", "x = 10")), Script(edit("x = 1", "x = 10 # also")), hold=hold,
                         delay=0.001)
    status_before = real_git(repo, "status", "--porcelain")

    async def scenario():
        app = DgcodeApp(repo, {"fix.cmd": CHECK}, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(140, 40)) as pilot:
            await submit(pilot, "/candidates 4 make x ten")
            await until(pilot, lambda: engine.holding.is_set(), what="the first batched step")
            canvases = app.main.candidate_canvases
            await until(pilot, lambda: sum(c.event is not None for c in canvases.canvases) == 4,
                        what="four canvases drawing")
            shown = [c for c in canvases.canvases if c.display]
            assert canvases.display and len(shown) == 4, "four canvases side by side, the other four hidden"
            assert [c.event.candidate for c in shown] == [0, 1, 2, 3]
            assert len({c.region.x for c in shown}) == 4 and len({c.region.y for c in shown}) == 1
            assert [c.subject for c in shown] == [f"candidate {n}" for n in range(1, 5)]
            hold.set()
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen), timeout=30, what="the review")
            assert engine.batches == [4]
            said = notes(app)
            assert "candidate 1: failed (exit status 1)" in said
            assert "candidate 2: no edits (the answer holds no edit blocks)" in said
            assert any(t.startswith("candidate 3: passed") for t in said)
            assert any("candidate 3 passes" in t for t in notes(app, "ok"))
            assert len(app.main.transcript.query(AnswerView)) == 4, "every candidate stays viewable"
            assert (repo / "a.py").read_text() == "x = 1\n", "nothing is written before the review"
            assert real_git(repo, "status", "--porcelain") == status_before
            await pilot.press("enter")
            await until(pilot, lambda: any("applied: a.py" in t for t in notes(app, "ok")), what="the apply")
            assert (repo / "a.py").read_text() == "x = 10\n"
            assert app.main.session.history[-1]["content"] == edit("x = 1", "x = 10")

    run(scenario)


def test_no_passing_candidate_writes_nothing_and_escape_cancels(repo):
    engine = BatchEngine(Script(edit("x = 1", "x = 2")), Script(edit("x = 1", "x = 3")),
                         Script(edit("x = 1", "x = 10")), Script(edit("x = 1", "x = 10")), delay=0.001,
                         hold=threading.Event())

    async def scenario():
        app = DgcodeApp(repo, {"fix.cmd": CHECK}, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(140, 40)) as pilot:
            engine.hold.set()
            await submit(pilot, "/candidates 2 try")
            await until(pilot, lambda: not app.main.answering and notes(app, "error"), what="the verdicts")
            assert "no candidate passed" in notes(app, "error")[-1]
            assert (repo / "a.py").read_text() == "x = 1\n" and not isinstance(app.screen, ReviewScreen)
            engine.hold.clear()
            engine.holding.clear()
            await submit(pilot, "/candidates 2 try again")
            await until(pilot, lambda: engine.holding.is_set(), what="the second batch")
            await pilot.press("escape")
            engine.hold.set()
            await until(pilot, lambda: not app.main.answering, what="the cancel")
            assert any("cancelled" in t for t in notes(app, "warning"))
            assert (repo / "a.py").read_text() == "x = 1\n" and not isinstance(app.screen, ReviewScreen)
            assert not app.main.candidate_canvases.display

    run(scenario)


def test_candidates_explain_what_they_need(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=BatchEngine(delay=0.001), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            for line, expected in (("/candidates", "usage: /candidates K"), ("/candidates 1 x", "K from 2"),
                                   ("/candidates 4 fix it", "check command")):
                count = len(notes(app, "error"))
                await submit(pilot, line)
                await until(pilot, lambda n=count: len(notes(app, "error")) > n, what=line)
                assert expected in notes(app, "error")[-1]
        plain = DgcodeApp(repo, {"fix.cmd": "true"}, engine=ScriptedEngine(delay=0.001), settings=SETTINGS)
        async with plain.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/candidates 2 fix it")
            await until(pilot, lambda: notes(plain, "error"), what="the refusal")
            assert "cannot denoise several answers in one batch" in notes(plain, "error")[-1]

    run(scenario)


def test_the_real_engine_drafts_k_candidates_in_one_batch(repo, models):
    settings = replace(SETTINGS, max_tokens=16, threshold=0.0)

    async def scenario():
        engine = engine_at(models["dream"], {"threads": 1, "n_ctx": 2048})
        app = DgcodeApp(repo, {"fix.cmd": "true"}, engine=engine, settings=settings)
        async with app.run_test(size=(140, 40)) as pilot:
            await submit(pilot, "/candidates 3 bump x")
            await until(pilot, lambda: not app.main.answering and len(notes(app)) > 3, timeout=120,
                        what="three candidates")
            said = notes(app)
            assert sum(t.startswith("candidate ") and ":" in t for t in said) == 3, said
            batch = next(t for t in said if "candidates in one batch" in t)
            assert batch.startswith("3 candidates in one batch: the prompt (")
            assert len(app.main.transcript.query(AnswerView)) == 3
            assert (repo / "a.py").read_text() == "x = 1\n"

    run(scenario, timeout=180)
