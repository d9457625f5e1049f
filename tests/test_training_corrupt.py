"""Training data: the stdlib split is deterministic, snippets compile, injected errors really break compile()."""

from __future__ import annotations

import numpy as np
import pytest

from training.corpus import INDENTED_HEADER, MAX_SNIPPET_LINES, Corpus, compiles, list_source_files, split_of
from training.corrupt import KINDS, apply_edit, inject, syntax_error
from training.examples import heldout_cases, sample_case

SAMPLE = '''import os


def walk(top, names=("a", "b")):
    """Yield the files under top."""
    for root, dirs, files in os.walk(top):
        if root == top:
            continue
        for name in files:
            yield os.path.join(root, name), len(name)
    while False:
        pass


class Box:
    size = [1, 2, 3]

    def area(self, scale):
        return {"w": self.size[0] * scale, "h": self.size[1]}
'''


@pytest.fixture(scope="module")
def corpus():
    return Corpus("heldout", max_files=12)


def test_split_is_a_fixed_function_of_the_path():
    assert split_of("os.py") == split_of("os.py")
    files = list_source_files()
    held = [f for f in files if split_of(f) == "heldout"]
    assert 0.05 < len(held) / len(files) < 0.15
    # pinned: the split must not change between machines or runs (it is a sha256 of the path)
    assert [split_of(p) for p in ("os.py", "json/decoder.py", "typing.py", "email/utils.py")] == \
        ["train", "train", "heldout", "train"]
    assert sum(split_of(f"file{i}.py") == "heldout" for i in range(1000)) in range(70, 130)


def test_train_and_heldout_files_are_disjoint():
    train = {f.path for f in Corpus("train", max_files=30).files}
    held = {f.path for f in Corpus("heldout", max_files=30).files}
    assert train and held and not train & held


def test_snippets_compile_on_their_own(corpus):
    assert corpus.snippets
    for snippet in corpus.snippets[:200]:
        text = "".join(corpus.snippet_lines(snippet))
        assert snippet.n_lines <= MAX_SNIPPET_LINES
        assert compiles((INDENTED_HEADER if snippet.indented else "") + text)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_breaks_compilation_and_only_touches_its_lines(kind):
    lines = SAMPLE.splitlines(keepends=True)
    assert compiles(SAMPLE)
    made = 0
    for seed in range(30):
        injected = inject(lines, kind, np.random.default_rng(seed))
        if injected is None:
            continue
        made += 1
        assert syntax_error("".join(injected.lines)) is not None
        edit = injected.edit
        assert apply_edit(lines, edit) == injected.lines
        assert injected.lines[:edit.start] == lines[:edit.start]
        assert injected.lines[injected.new_end:] == lines[edit.old_end:]
        assert 0 <= injected.error_line < len(injected.lines)
    assert made >= 5, f"{kind} applied in only {made} of 30 tries on the sample"


def test_joined_lines_turns_two_lines_into_one():
    lines = SAMPLE.splitlines(keepends=True)
    injected = inject(lines, "joined_lines", np.random.default_rng(3))
    assert injected is not None
    assert injected.edit.old_end - injected.edit.start == 2 and len(injected.edit.new_lines) == 1


def test_injection_is_seeded(corpus):
    for kind in KINDS:
        a = sample_case(corpus, kind, np.random.default_rng([7, 1]))
        b = sample_case(corpus, kind, np.random.default_rng([7, 1]))
        assert a is not None and a == b


def test_cases_are_whole_files_with_one_reported_error(corpus):
    cases = heldout_cases(corpus, 3, seed=0)
    assert len(cases) == 3 * len(KINDS)
    assert {c.kind for c in cases} == set(KINDS)
    for case in cases:
        assert syntax_error(case.original_source) is None
        err = syntax_error(case.broken_source)
        assert err is not None
        start = min(case.edit.start, case.error_line)
        end = max(case.edit.start + len(case.edit.new_lines), case.error_line + 1)
        answer = case.answer_for((start, end))
        assert "".join(case.broken[:start] + answer + case.broken[end:]) == case.original_source
        assert case.answer_for((case.edit.start + 1, case.edit.start + 1)) is None  # misses the error
