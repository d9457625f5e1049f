"""The repair canvas: training and inference build the same prompt; the true operations decode back to the file."""

from __future__ import annotations

import numpy as np
import pytest

from dgcode.repair.canvas import (
    AFTER,
    BEFORE,
    BROKEN,
    BYTE_TOKEN_IDS,
    EOS,
    ERROR,
    FIX,
    PAD,
    CanvasSpec,
    InferenceCanvas,
    Window,
    apply_answer,
    choose_window,
    clean_message,
    decode_answer,
    fixed_bytes,
    make_example,
    make_inference_canvas,
    split_lines,
)
from dgcode.repair.edit_ops import KEEP, ins_op
from training.corpus import Corpus
from training.corrupt import KINDS
from training.examples import ExampleStream, heldout_cases
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
        made = make_example(tok, case.broken, case.error_line, case.message, case.answer_for, spec,
                            case.error_column)
        canvas = make_inference_canvas(tok, case.broken_source, case.error_line + 1, case.message, spec,
                                       case.error_column + 1)
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
        # the answer slot's operations, applied to the broken window, give the original file back
        replacement = decode_answer(tok, canvas, tokens[spec.answer_start:])
        assert apply_answer(case.broken_source, window, replacement) == case.original_source
        checked += 1
    assert checked >= len(cases) * 3 // 4


def test_broken_and_answer_slots_are_aligned(tok, cases):
    spec = CanvasSpec()
    for case in cases:
        made = make_example(tok, case.broken, case.error_line, case.message, case.answer_for, spec)
        if made is None:
            continue
        tokens = made[0].tolist()
        window = "".join(case.broken[made[2][0]:made[2][1]]).encode()
        broken_at = tokens.index(tok.special(BROKEN)) + 1
        fix_at = tokens.index(tok.special(FIX)) + 1
        assert fix_at - broken_at == spec.slot + 1 and fix_at == spec.answer_start
        assert tokens.index(tok.special(AFTER)) < tokens.index(tok.special(BEFORE)) < tokens.index(
            tok.special(ERROR)) < broken_at
        assert tokens[broken_at:broken_at + len(window)] == [BYTE_TOKEN_IDS[b] for b in window]
        answer = tokens[fix_at:]
        assert answer[len(window):] == [tok.special(EOS)] * (spec.slot - len(window))
        assert sum(op != tok.special(KEEP) for op in answer[:len(window)]) >= 1


def test_window_is_the_reported_line_and_the_one_before():
    lines = [f"x{i} = {i}\n" for i in range(10)]
    assert choose_window(lines, 5) == Window((4, 6), b"x4 = 4\nx5 = 5\n")
    assert choose_window(lines, 0).lines == (0, 1)
    long_line = "y = " + " + ".join(f"v{i}" for i in range(30)) + "\n"
    assert choose_window([long_line, "z = 1\n"], 1).lines == (1, 2)  # too long together: the line alone
    assert choose_window([], 0) is None


@pytest.mark.parametrize("column", [0, 30, 120, 170, 400])
def test_a_line_longer_than_the_slot_is_cut_around_the_error(column):
    spec = CanvasSpec()
    long_line = "    total = " + " + ".join(f"värde_{i}" for i in range(20)) + "\n"  # non-ASCII: 2-byte letters
    window = choose_window(["a = 1\n", long_line, "b = 2\n"], 1, spec, column)
    encoded = long_line.encode()
    assert window.lines == (1, 2) and window.head + window.broken + window.tail == encoded
    assert spec.slot - 4 <= len(window.broken) < spec.slot
    for part in (window.head, window.broken, window.tail):
        part.decode("utf-8")  # never splits a character
    at = len(long_line[:min(column, len(long_line))].encode())
    if window.head and window.tail:  # not clamped to an end of the line: the error's byte is two thirds in
        assert abs((at - len(window.head)) - 2 * (spec.slot - 1) // 3) <= 3


def test_a_cut_line_trains_and_infers_alike_and_decodes_back(tok):
    spec = CanvasSpec()
    first = "        result = combine(" + ", ".join(f"item_{i}" for i in range(8)) + ")\n"
    second = "        other = compute(" + ", ".join(f"arg_{i}" for i in range(8)) + ")\n"
    original = ["def f():\n", first, second, "        return result\n"]
    joined = first.rstrip("\n") + " " + second.lstrip()
    broken = ["def f():\n", joined, "        return result\n"]
    source = "".join(broken)
    try:
        compile(source, "m.py", "exec")
    except SyntaxError as error:
        lineno, offset, message = error.lineno, error.offset, error.msg
    assert lineno == 2 and len(joined.encode()) > spec.slot

    def answer_for(lines):
        return original[lines[0]:lines[1] + 1] if lines == (1, 2) else None

    tokens, _mask, lines = make_example(tok, broken, lineno - 1, message, answer_for, spec, offset - 1)
    canvas = make_inference_canvas(tok, source, lineno, message, spec, offset)
    assert lines == canvas.window == (1, 2) and canvas.head and canvas.tail
    prompt = tokens[spec.answer_start - len(canvas.prompt):spec.answer_start].tolist()
    assert prompt == canvas.prompt
    replacement = decode_answer(tok, canvas, tokens[spec.answer_start:])
    assert apply_answer(source, canvas.window, replacement) == "".join(original)
    # a repair that would change the cut-off head is not a training example for this window
    assert fixed_bytes(choose_window(broken, 1, spec, offset - 1), ["x = 1\n"]) is None


def test_inference_canvas_respects_the_budget(tok, corpus):
    spec = CanvasSpec()
    source = "".join(corpus.files[0].lines)
    n = len(split_lines(source))
    for lineno in (1, n // 2, n):
        canvas = make_inference_canvas(tok, source, lineno, "invalid syntax", spec)
        if canvas is None:
            continue
        assert len(canvas.prompt) + canvas.answer_slot <= spec.canvas
        assert canvas.prompt[-1] == tok.special(FIX)
        assert canvas.window[1] - 1 == lineno - 1


def test_decode_answer_applies_the_operations_to_the_window(tok):
    canvas = InferenceCanvas([], 16, (1, 2), b"if a = b\n")
    ops = [tok.special(KEEP)] * 6 + [tok.special(ins_op(ord("=")))] + [tok.special(KEEP)] + [
        tok.special(ins_op(ord(":")))] + [tok.special(EOS)] * 7
    assert decode_answer(tok, canvas, ops) == ["if a == b:\n"]
    assert apply_answer("q\nw\ne\n", (1, 2), ["b = 2"]) == "q\nb = 2\ne\n"
    cut = InferenceCanvas([], 4, (0, 1), "é\n".encode())
    assert decode_answer(tok, cut, [tok.special(KEEP), tok.special("<|del|>"), tok.special(KEEP)]) is None


def test_messages_lose_their_line_numbers():
    assert clean_message("unterminated string literal (detected at line 12)") == "unterminated string literal"
    assert clean_message("expected an indented block after 'if' statement on line 3") == (
        "expected an indented block after 'if' statement")


def test_example_stream_is_deterministic(tok, corpus):
    stream = ExampleStream(corpus, tok, seed=5, kinds=KINDS)
    a, b = stream[17], stream[17]
    assert (a[0] == b[0]).all()
    assert not (stream[18][0] == a[0]).all()


@pytest.mark.parametrize("spec", [CanvasSpec(), CanvasSpec(canvas=160, slot=64, after_budget=40, error_budget=30)])
def test_context_and_message_never_overflow_the_canvas(tok, spec):
    lines = [f"value_{i} = compute(value_{i - 1}, {i})\n" for i in range(60)]
    source = "".join(lines)
    message = "a long message " * 20
    canvas = make_inference_canvas(tok, source, 30, message, spec)
    assert canvas is not None and len(canvas.prompt) + canvas.answer_slot == spec.canvas  # the budget is used up
    made = make_example(tok, lines, 29, message,
                        lambda w: lines[w[0]:w[1] - 1] + [lines[w[1] - 1].replace(",", "")], spec)
    assert made is not None and made[0].shape == (spec.canvas,)
