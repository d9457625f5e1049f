"""The repair canvas: training and inference build the same prompt, and the true fix decodes back to the file."""

from __future__ import annotations

import numpy as np
import pytest

from training.corpus import Corpus
from training.corrupt import KINDS
from training.examples import ExampleStream, heldout_cases
from training.layout import (AFTER, BEFORE, BROKEN, EOS, FIX, PAD, CanvasSpec, apply_answer, choose_window,
                             decode_answer, make_example, make_inference_canvas, split_lines)
from training.tokenizer import count_pretokens, train_bpe


@pytest.fixture(scope="module")
def corpus():
    return Corpus("heldout", max_files=15)


@pytest.fixture(scope="module")
def tok(corpus):
    return train_bpe(count_pretokens(line for f in corpus.files for line in f.lines), 1024)


@pytest.fixture(scope="module")
def cases(corpus):
    return heldout_cases(corpus, 4, seed=2)


def test_split_lines_counts_lines_as_compile_does():
    text = "a = 1\n\x0cb = 2\r\nc"
    assert split_lines(text) == ["a = 1\n", "\x0cb = 2\r\n", "c"]
    assert "".join(split_lines(text)) == text
    assert split_lines("x\n") == ["x\n"]


def test_training_canvas_is_the_inference_prompt_plus_the_answer(tok, cases):
    spec = CanvasSpec()
    checked = 0
    for case in cases:
        made = make_example(tok, case.broken, case.error_line, case.answer_for, spec)
        canvas = make_inference_canvas(tok, case.broken_source, case.error_line + 1, spec)
        if made is None:
            continue
        tokens, loss_mask, window = made
        assert canvas is not None and canvas.window == window
        assert tokens.shape == (spec.canvas,) and loss_mask.sum() == spec.slot
        assert loss_mask[spec.answer_start:].all() and not loss_mask[:spec.answer_start].any()
        prompt = tokens[:spec.answer_start]
        first_real = int(np.argmax(prompt != tok.special(PAD)))
        assert (prompt[:first_real] == tok.special(PAD)).all()
        assert prompt[first_real:].tolist() == canvas.prompt  # same tokens, same relative positions
        # the answer slot, decoded and applied to the broken file, gives the original file back
        replacement = decode_answer(tok, tokens[spec.answer_start:])
        assert apply_answer(case.broken_source, window, replacement) == case.original_source
        checked += 1
    assert checked >= len(cases) * 3 // 4


def test_broken_and_answer_slots_are_aligned(tok, cases):
    spec = CanvasSpec()
    for case in cases:
        made = make_example(tok, case.broken, case.error_line, case.answer_for, spec)
        if made is None:
            continue
        tokens = made[0].tolist()
        broken_at = tokens.index(tok.special(BROKEN)) + 1
        fix_at = tokens.index(tok.special(FIX)) + 1
        assert fix_at - broken_at == spec.slot + 1 and fix_at == spec.answer_start
        assert tokens.index(tok.special(AFTER)) < tokens.index(tok.special(BEFORE)) < broken_at
        answer = tokens[fix_at:]
        assert answer[-1] == tok.special(EOS)


def test_window_is_the_reported_line_and_the_one_before(tok):
    lines = [f"x{i} = {i}\n" for i in range(10)]
    assert choose_window(tok, lines, 5)[0] == (4, 6)
    assert choose_window(tok, lines, 0)[0] == (0, 1)
    long_line = "y = " + " + ".join(f"v{i}" for i in range(60)) + "\n"
    assert choose_window(tok, lines[:4] + [long_line], 4) is None
    assert choose_window(tok, [long_line, "z = 1\n"], 1)[0] == (1, 2)  # too long together: the line alone


def test_inference_canvas_respects_the_budget(tok, corpus):
    spec = CanvasSpec()
    source = "".join(corpus.files[0].lines)
    n = len(split_lines(source))
    for lineno in (1, n // 2, n):
        canvas = make_inference_canvas(tok, source, lineno, spec)
        if canvas is None:
            continue
        assert len(canvas.prompt) + canvas.answer_slot <= spec.canvas
        assert canvas.prompt[-1] == tok.special(FIX)
        assert canvas.window[1] - 1 == lineno - 1


def test_decode_answer_stops_at_end_of_text(tok):
    ids = tok.encode("a = 1\n") + tok.encode("b = 2") + [tok.special(EOS)] + tok.encode("junk")
    assert decode_answer(tok, ids) == ["a = 1\n", "b = 2"]
    assert apply_answer("q\nw\ne\n", (1, 2), ["b = 2"]) == "q\nb = 2\ne\n"


def test_example_stream_is_deterministic(tok, corpus):
    stream = ExampleStream(corpus, tok, seed=5, kinds=KINDS)
    a, b = stream[17], stream[17]
    assert (a[0] == b[0]).all()
    assert not (stream[18][0] == a[0]).all()
