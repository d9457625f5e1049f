"""Confidence re-mask: recording committed confidences, picking the weakest span, infilling it through the seam."""

from __future__ import annotations

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from tui_fakes import Script, ScriptedEngine, render_chat, scripted_events, split_tokens, two_file_repo
from tui_pilot import notes, run, submit, until  # noqa: E402

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.app import DgcodeApp
from dgcode.tui.engine import ModelEngine
from dgcode.tui.screens.review import ReviewScreen
from dgcode.tui.widgets.transcript import AnswerView
from dgcode.workflows.chat.remask import (
    AnswerTokens,
    Span,
    TokenRecorder,
    low_confidence_span,
    on_boundaries,
    token_offsets,
)

SETTINGS = SamplerSettings(max_tokens=128, sub_block_size=8, canvas_size=32)
EDIT = """Bump it:

a.py
```python
<<<<<<< SEARCH
x = 1
=======
x = 10
>>>>>>> REPLACE
```
"""
TOKENS = split_tokens(EDIT)
TEN = TOKENS.index("10")


def confidences(low: dict[int, float]) -> tuple[float, ...]:
    """0.99 for every token of EDIT except those in ``low``."""
    return tuple(low.get(i, 0.99) for i in range(len(TOKENS)))


# --- the pure parts -----------------------------------------------------------------------------------


def test_the_longest_low_run_wins_and_ties_go_to_the_least_confident():
    assert low_confidence_span([0.99, 0.5, 0.4, 0.99, 0.3, 0.99]) == Span(1, 3, pytest.approx(0.45))
    assert low_confidence_span([0.5, 0.95, 0.2]) == Span(2, 3, pytest.approx(0.2))
    assert low_confidence_span([0.99, 0.1]) == Span(1, 2, pytest.approx(0.1)), "a run at the very end"
    assert low_confidence_span([0.95, 0.99]) is None
    assert low_confidence_span([0.95, 0.99], threshold=0.96) == Span(0, 1, pytest.approx(0.95))


def test_a_long_run_is_cut_to_its_least_confident_window():
    span = low_confidence_span([0.8, 0.8, 0.1, 0.2, 0.8, 0.99], max_tokens=2)
    assert (span.start, span.end) == (2, 4) and span.mean_confidence == pytest.approx(0.15)


def test_splicing_new_tokens_into_a_span():
    tokens = AnswerTokens(("a", " = ", "1", "\n"), (0.99, 0.99, 0.3, 0.99))
    spliced = tokens.splice(Span(2, 3, 0.3), AnswerTokens(("4", "2"), (0.9, 0.8)))
    assert spliced.text == "a = 42\n" and spliced.confidence == (0.99, 0.99, 0.9, 0.8, 0.99)
    assert tokens.mean_confidence(1, 3) == pytest.approx(0.645)


def test_token_offsets_place_whole_tokens_and_skip_split_characters():
    assert token_offsets(("a", " = ", "1"), "a = 1") == [0, 1, 4, 5]
    # "é" split over two tokens: each shows U+FFFD; the run ends where the next whole token is found
    assert token_offsets(("caf", "\ufffd", "\ufffd", "!", "\n"), "café!\n") == [0, 3, None, 4, 5, 6]
    assert token_offsets(("x", "\ufffd", "\ufffd"), "xé") == [0, 1, None, 2], "a split character at the end"
    assert token_offsets(("x", "\ufffd", "zz"), "xé!") == [0, 1, None, None], "lost: nothing placed after"
    assert token_offsets(("\ufffd", "", "b"), "éb") == [0, None, 1, 2], "an empty token does not end a run"


def test_a_span_that_would_split_a_character_is_widened():
    tokens = AnswerTokens(("caf", "\ufffd", "\ufffd", "!", "\n"), (0.99, 0.2, 0.4, 0.99, 0.99))
    offsets = token_offsets(tokens.pieces, "café!\n")
    assert on_boundaries(Span(2, 3, 0.4), offsets, tokens) == Span(1, 3, pytest.approx(0.3))
    assert on_boundaries(Span(3, 4, 0.99), offsets, tokens) == Span(3, 4, 0.99), "already on boundaries"
    lost = token_offsets(("x", "\ufffd", "zz"), "xé!")
    assert on_boundaries(Span(1, 2, 0.1), lost, AnswerTokens(("x", "\ufffd", "zz"), (0.9, 0.1, 0.9))) is None


def test_the_recorder_keeps_every_canvas_of_an_answer():
    wanted = confidences({TEN: 0.4, 2: 0.7})
    recorder = TokenRecorder()
    events = scripted_events(EDIT, SETTINGS, confidence_of=wanted)
    assert events[-1].canvas_index == 1, "the answer spans two canvases"
    for event in events:
        recorder.observe(event)
    tokens = recorder.tokens(len(TOKENS))
    assert tokens.pieces == tuple(TOKENS) and tokens.confidence == pytest.approx(wanted)


class StubClient:
    """An EngineClient stand-in: renders the chat as CHAT and records what generate was given."""

    model_path = "/models/m.gguf"
    alive = ready = True

    def __init__(self):
        self.generated = []

    def call(self, _func):
        return "CHAT|"

    def generate(self, prompt, settings, on_step=None, suffix=None):
        from dgcode.engine.sampler import Generation

        self.generated.append((prompt, suffix, settings.max_tokens))
        return Generation([1, 2], " 11", "eos", 3, 7, 1.0, wall_s=0.5)


def test_the_model_engine_sends_the_chat_then_the_prefix_as_prompt_and_the_suffix_as_infill():
    client = StubClient()
    engine = ModelEngine(client)
    answer = engine.generate([{"role": "user", "content": "hi"}], SamplerSettings(max_tokens=2),
                             prefix="x =", suffix="\n>>>")
    engine.generate([{"role": "user", "content": "hi"}], SamplerSettings(max_tokens=5))
    assert client.generated == [("CHAT|x =", "\n>>>", 2), ("CHAT|", None, 5)]
    assert answer.text == " 11" and answer.tokens == 2


# --- in the app ---------------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path):
    return two_file_repo(tmp_path / "repo")


async def answer_and_discard_the_review(pilot, engine) -> None:
    """Ask once; the answer's edit opens the review, which is discarded."""
    await submit(pilot, "bump x")
    await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen), what="the review screen")
    await pilot.press("escape", "y")  # escape asks before discarding
    await until(pilot, lambda: any("nothing was written" in t for t in notes(pilot.app, "warning")),
                what="the discard")


def test_remask_infills_the_weakest_span_and_splices_it_into_the_answer(repo):
    engine = ScriptedEngine(Script(EDIT, per_step=4, confidence=confidences({TEN - 1: 0.5, TEN: 0.4, 2: 0.7})),
                            Script(" 11"), Script("Seen."), delay=0.001)
    new_answer = EDIT.replace("x = 10", "x = 11")

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await answer_and_discard_the_review(pilot, engine)
            await submit(pilot, "/remask")
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="the review of the new answer")
            before, after = "".join(TOKENS[:TEN - 1]), "".join(TOKENS[TEN + 1:])
            assert engine.prompts[1] == engine.prompts[0], "the same conversation as the answer had"
            assert engine.raw_prompts[1] == render_chat(engine.prompts[0]) + before
            assert before.endswith("=======\nx =") and engine.suffixes[1] == after == "\n>>>>>>> REPLACE\n```\n"
            assert engine.settings_seen[1].max_tokens == 2, "a slot as long as the span"
            assert any(f"re-masking tokens {TEN}–{TEN + 1} of {len(TOKENS)} (mean confidence 0.45): ' 10'" in t
                       for t in notes(app))
            assert any("' 10' → ' 11'" in t for t in notes(app, "ok"))
            view = app.main.transcript.query_one(AnswerView)
            assert view.final_text == new_answer and "x = 11" in view.source
            assert app.main.session.history[-1] == {"role": "assistant", "content": new_answer}
            assert app.main.last_answer.tokens.text == new_answer
            assert [f.path for f in app.screen.files] == ["a.py"]
            stats = app.main.status_line.stats
            assert stats.done and stats.tokens == 2 and stats.steps == engine.steps_run[1], "the re-mask's measures"
            await pilot.press("enter")
            await until(pilot, lambda: any("applied: a.py" in t for t in notes(app, "ok")), what="the apply")
            assert (repo / "a.py").read_text() == "x = 11\n"
            await submit(pilot, "thanks")
            await until(pilot, lambda: len(engine.prompts) == 3 and not app.main.answering, what="the next turn")
            assert any(m["content"] == new_answer for m in engine.prompts[2]), "the next turn sees the new text"
            assert engine.suffixes[2] == "" and engine.raw_prompts[2] == render_chat(engine.prompts[2])

    run(scenario)


def test_the_span_crystallizes_on_the_canvas_and_cancelling_keeps_the_answer(repo):
    engine = ScriptedEngine(Script(EDIT, per_step=4, confidence=confidences({TEN: 0.4})),
                            Script(" 12", per_step=1, hold_at=1), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await answer_and_discard_the_review(pilot, engine)
            await pilot.press("f4")
            canvas = app.main.canvas
            await until(pilot, lambda: engine.holding.is_set() and canvas.event is not None and not canvas._dirty,
                        what="the first step of the span drawn")
            event = canvas.event
            assert canvas.display and app.main.answering
            assert event.canvas_index == 0 and event.masked[:1] != [True], "one token committed"
            assert any(event.masked), "the rest still masked"
            assert str(canvas.border_subtitle) == "re-mask 1 token · esc cancels"
            assert engine.suffixes[1] == "".join(TOKENS[TEN + 1:])
            await pilot.press("escape")
            engine.release()
            await until(pilot, lambda: not app.main.answering, what="the cancelled re-mask")
            assert any("re-mask cancelled" in t for t in notes(app, "warning"))
            assert app.main.transcript.query_one(AnswerView).final_text == EDIT
            assert app.main.session.history[-1]["content"] == EDIT
            assert not isinstance(app.screen, ReviewScreen)

    run(scenario)


def test_remask_explains_when_there_is_nothing_to_do(repo):
    engine = ScriptedEngine(Script(EDIT, per_step=4, confidence=confidences({2: 0.95})), Script("that"),
                            delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            await submit(pilot, "/remask")
            assert "no answer to re-mask" in notes(app, "warning")[-1]
            await answer_and_discard_the_review(pilot, engine)
            await submit(pilot, "/remask")
            assert "confidence of at least 0.9: nothing to re-mask" in notes(app, "ok")[-1]
            await submit(pilot, "/remask 2")
            assert "/remask 2: the threshold" in notes(app, "error")[-1]
            assert len(engine.prompts) == 1, "the engine was not asked"
            await submit(pilot, "/remask 0.96")  # now "it" (0.95) is below the threshold
            await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="the edits offered again")
            assert engine.raw_prompts[1].endswith("<assistant>Bump ") and engine.suffixes[1] == EDIT[len("Bump it"):]
            assert app.main.transcript.query_one(AnswerView).final_text == "Bump that" + EDIT[len("Bump it"):]
            await pilot.press("escape", "y")  # escape asks before discarding
            await until(pilot, lambda: not isinstance(app.screen, ReviewScreen), what="the review to close")
            await submit(pilot, "/clear")
            await submit(pilot, "/remask")
            assert "no answer to re-mask" in notes(app, "warning")[-1], "/clear forgets the answer"

    run(scenario)
