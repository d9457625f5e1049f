"""The repair canvas: training and inference build the same prompt; the true operations decode back to the file."""

from __future__ import annotations

from dataclasses import replace

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
    V3_SPEC,
    CanvasSpec,
    InferenceCanvas,
    Window,
    answer_positions,
    apply_answer,
    choose_window,
    clean_message,
    decode_answer,
    fixed_bytes,
    make_example,
    make_inference_canvas,
    shrinking_windows,
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


V2 = CanvasSpec(canvas=288, slot=112)  # the shipped model's layout
V3 = V3_SPEC  # version 2's core and a reach of 2 lines before it and 1 after, in 80 more bytes
WIDE = CanvasSpec(canvas=384, slot=160, lines_before_error=2, lines_after_error=1)  # a wider core, no reach


@pytest.mark.parametrize("spec", [V2, V3, WIDE], ids=["v2", "v3", "wide"])
def test_training_canvas_is_the_inference_prompt_plus_the_answer(tok, cases, spec):
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
        assert tokens.shape == (spec.canvas,) and loss_mask.sum() == spec.answer_length
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
    assert choose_window(lines, 5, V2) == Window((4, 6), b"x4 = 4\nx5 = 5\n")
    assert choose_window(lines, 0, V2).lines == (0, 1)
    long_line = "y = " + " + ".join(f"v{i}" for i in range(30)) + "\n"
    assert choose_window([long_line, "z = 1\n"], 1, V2).lines == (1, 2)  # too long together: the line alone
    assert choose_window([], 0, V2) is None


def test_a_wider_core_reaches_two_lines_up_and_one_down_and_shrinks_to_fit():
    lines = [f"x{i} = {i}\n" for i in range(10)]
    assert choose_window(lines, 5, WIDE) == Window((3, 7), b"x3 = 3\nx4 = 4\nx5 = 5\nx6 = 6\n")
    assert choose_window(lines, 0, WIDE).lines == (0, 2) and choose_window(lines, 9, WIDE).lines == (7, 10)
    # too long: the line farthest from the reported one goes first (a line after it when both are as far)
    assert list(shrinking_windows((3, 7), 5)) == [(3, 7), (4, 7), (4, 6), (5, 6)]
    assert list(shrinking_windows((4, 6), 5)) == [(4, 6), (5, 6)]  # version 2's rule: both, else the line
    assert list(shrinking_windows((1, 6), (3, 5))) == [(1, 6), (2, 6), (2, 5), (3, 5)]  # lines 3, 4 always kept
    filler = "    value = " + "a" * 32 + "\n"  # 45 bytes
    text = [filler] * 3 + ["    if x\n"] + [filler] * 3
    assert choose_window(text, 3, WIDE).lines == (1, 5)   # 144 bytes: all four lines fit in 160
    assert choose_window(text, 3, replace(WIDE, slot=128)).lines == (2, 5)
    assert choose_window(text, 3, replace(WIDE, slot=64)).lines == (2, 4)
    assert choose_window(text, 3, replace(WIDE, slot=32)).lines == (3, 4)


def test_the_reach_adds_lines_around_version_2s_core():
    lines = [f"x{i} = {i}\n" for i in range(10)]
    window = choose_window(lines, 5, V3)
    assert window.lines == (2, 7) and window.core_lines == (4, 6)
    assert window.core == choose_window(lines, 5, V2).broken == b"x4 = 4\nx5 = 5\n"  # the core is version 2's
    assert window.broken == b"".join(line.encode() for line in lines[2:7])
    assert window.reach == b"x2 = 2\nx3 = 3\n" + b"x6 = 6\n"
    assert answer_positions(window, V3.slot) == tuple(range(112, 126)) + tuple(range(14)) + tuple(range(126, 133))
    filler = "    value = " + "a" * 32 + "\n"  # 45 bytes: only one filler fits in the 80-byte reach
    text = [filler] * 3 + ["    if x\n"] + [filler] * 3
    assert choose_window(text, 3, V3).lines == (1, 4)  # the farthest reach lines go first, after it on ties
    assert choose_window(text, 3, replace(V3, reach_slot=40)).lines == (2, 4)  # no reach line fits: the core
    long_line = "y = " + " + ".join(f"v{i}" for i in range(40)) + "\n"
    cut = choose_window(["a = 1\n", long_line, "b = 2\n"], 1, V3, 50)
    assert (cut.head or cut.tail) and cut.reach == b"" and cut.lines == (1, 2)  # a cut line gets no reach


def test_the_reach_keeps_the_core_aligned_and_is_filled_with_endoftext(tok, cases):
    checked = 0
    for case in cases:
        made = make_example(tok, case.broken, case.error_line, case.message, case.answer_for, V3, case.error_column)
        canvas = make_inference_canvas(tok, case.broken_source, case.error_line + 1, case.message, V3,
                                       case.error_column + 1)
        if made is None or not any(p >= V3.slot for p in canvas.op_positions):
            continue  # no reach for this window (a cut line, or at the file's edge)
        window = choose_window(case.broken, case.error_line, V3, case.error_column)
        tokens = made[0].tolist()
        fix_at = V3.answer_start
        core_at = fix_at - 1 - V3.slot
        reach_at = core_at - 1 - V3.reach_slot
        assert tokens[core_at - 1] == tokens[reach_at - 1] == tok.special(BROKEN) and tokens[fix_at - 1] == tok.special(FIX)
        assert tokens[core_at:core_at + len(window.core)] == [BYTE_TOKEN_IDS[b] for b in window.core]
        assert tokens[reach_at:reach_at + len(window.reach)] == [BYTE_TOKEN_IDS[b] for b in window.reach]
        assert set(tokens[reach_at + len(window.reach):core_at - 1]) <= {tok.special(EOS)}  # no visible pads
        answer = tokens[fix_at:]
        ops_at = canvas.op_positions
        assert all(answer[p] != tok.special(EOS) for p in ops_at)
        assert [t for i, t in enumerate(answer) if i not in set(ops_at)] == [tok.special(EOS)] * (
            V3.answer_length - len(window.broken))
        checked += 1
    assert checked >= len(cases) // 2


def test_a_slip_in_the_reach_is_repaired_through_the_reach_slot(tok):
    original = ["def f(items):\n", "    for item in items:\n", "        if item:\n", "            print(item)\n",
                "    return items\n"]
    broken = original[:1] + ["      for item in items:\n"] + original[2:]  # the loop indented 2 more
    source = "".join(broken)
    with pytest.raises(SyntaxError) as raised:
        compile(source, "m.py", "exec")
    error = raised.value
    assert error.lineno == 5 and "unindent" in error.msg  # reported three lines below the slip

    def answer_for(window):  # the slip is line 1 (0-based); a window must hold it
        return original[window[0]:window[1]] if window[0] <= 1 < window[1] else None

    assert choose_window(broken, 4, V2).lines == (3, 5) and answer_for((3, 5)) is None  # version 2: out of reach
    tokens, _mask, lines = make_example(tok, broken, 4, error.msg, answer_for, V3, (error.offset or 1) - 1)
    canvas = make_inference_canvas(tok, source, error.lineno, error.msg, V3, error.offset or 0)
    assert lines == canvas.window == (1, 5) and any(p >= V3.slot for p in canvas.op_positions)
    assert tokens[V3.answer_start - len(canvas.prompt):V3.answer_start].tolist() == canvas.prompt
    answer = tokens[V3.answer_start:]
    delete = tok.special("<|del|>")  # the two extra spaces (the last two of the six, by ops_for's convention)
    assert [i for i, t in enumerate(answer) if t == delete] == [V3.slot + 4, V3.slot + 5]
    replacement = decode_answer(tok, canvas, answer)
    assert apply_answer(source, canvas.window, replacement) == "".join(original)


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
    spec = V2
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


@pytest.mark.parametrize("spec", [V2, V3, WIDE], ids=["v2", "v3", "wide"])
def test_inference_canvas_respects_the_budget(tok, corpus, spec):
    source = "".join(corpus.files[0].lines)
    n = len(split_lines(source))
    for lineno in (1, n // 2, n):
        canvas = make_inference_canvas(tok, source, lineno, "invalid syntax", spec)
        if canvas is None:
            continue
        assert len(canvas.prompt) + canvas.answer_slot <= spec.canvas
        assert canvas.prompt[-1] == tok.special(FIX)
        start, end = canvas.window
        reach = spec.lines_before_error + spec.lines_after_error + spec.reach_before + spec.reach_after
        assert start <= lineno - 1 < end and end - start <= reach + 1


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


@pytest.mark.parametrize("spec", [V2, V3, CanvasSpec(canvas=160, slot=64, after_budget=40, error_budget=30)])
def test_context_and_message_never_overflow_the_canvas(tok, spec):
    lines = [f"value_{i} = compute(value_{i - 1}, {i})\n" for i in range(60)]
    source = "".join(lines)
    message = "a long message " * 20
    canvas = make_inference_canvas(tok, source, 30, message, spec)
    assert canvas is not None and len(canvas.prompt) + canvas.answer_slot == spec.canvas  # the budget is used up
    made = make_example(tok, lines, 29, message,
                        lambda w: lines[w[0]:w[1] - 1] + [lines[w[1] - 1].replace(",", "")], spec)
    assert made is not None and made[0].shape == (spec.canvas,)
