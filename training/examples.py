"""Repair examples: a corpus file with one injected error, and the training canvases made from them.

A RepairCase is a whole file before and after one injected error (the error
is injected and compile-checked inside a snippet, then placed back in the
file). Example k of a seeded stream is a pure function of (seed, k), so a
training run is reproducible whatever the number of data-loader workers, and
it can resume at any step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dgcode.repair.canvas import DEFAULT_SPEC, CanvasSpec, Tokenizer, make_example
from training.corpus import Corpus
from training.corrupt import KINDS, Edit, inject


@dataclass(frozen=True)
class RepairCase:
    path: str
    kind: str
    original: list[str]     # the whole file's lines
    broken: list[str]       # the same file with the error
    edit: Edit              # in file lines: original[start:old_end] -> edit.new_lines
    error_line: int         # 0-based line of `broken` that compiling the snippet reported
    message: str
    error_column: int = 0   # and the 0-based column it reported

    @property
    def original_source(self) -> str:
        return "".join(self.original)

    @property
    def broken_source(self) -> str:
        return "".join(self.broken)

    def answer_for(self, window: tuple[int, int]) -> list[str] | None:
        """The correct text of broken lines [start, end); None if the window does not cover the error."""
        start, end = window
        new_end = self.edit.start + len(self.edit.new_lines)
        if not (start <= self.edit.start and new_end <= end):
            return None
        return self.original[start:end + (self.edit.old_end - new_end)]


def sample_case(corpus: Corpus, kind: str, rng: np.random.Generator, tries: int = 20) -> RepairCase | None:
    """A random file position with an injected error of `kind` (snippets weighted by length)."""
    for _ in range(tries):
        snippet = corpus.sample_snippet(rng)
        injected = inject(corpus.snippet_lines(snippet), kind, rng, indented=snippet.indented)
        if injected is None:
            continue
        source = corpus.files[snippet.file]
        edit = injected.edit
        file_edit = Edit(snippet.start + edit.start, snippet.start + edit.old_end, edit.new_lines)
        broken = source.lines[:file_edit.start] + list(edit.new_lines) + source.lines[file_edit.old_end:]
        return RepairCase(source.path, kind, source.lines, broken, file_edit,
                          snippet.start + injected.error_line, injected.message, injected.error_column)
    return None


class ExampleStream:
    """Training canvases; item k is determined by (seed, k). Duck-types a map-style torch Dataset."""

    def __init__(self, corpus: Corpus, tok: Tokenizer, seed: int, spec: CanvasSpec = DEFAULT_SPEC,
                 kinds: Sequence[str] = KINDS, length: int = 1 << 40,
                 kind_weights: Sequence[float] | None = None):
        """`kind_weights` (one per kind, non-negative, any scale): how often each kind is drawn; uniform if None."""
        self.corpus, self.tok, self.seed, self.spec = corpus, tok, seed, spec
        self.kinds = tuple(kinds)
        self.length = length
        self.kind_p = None
        if kind_weights is not None:
            weights = np.asarray(kind_weights, dtype=np.float64)
            if weights.shape != (len(self.kinds),) or (weights < 0).any() or weights.sum() <= 0:
                raise ValueError(f"kind_weights needs {len(self.kinds)} non-negative weights, not all zero")
            self.kind_p = weights / weights.sum()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, int(k)])
        while True:
            pick = rng.integers(len(self.kinds)) if self.kind_p is None else rng.choice(len(self.kinds), p=self.kind_p)
            kind = self.kinds[int(pick)]
            case = sample_case(self.corpus, kind, rng)
            if case is None:
                continue
            made = make_example(self.tok, case.broken, case.error_line, case.message, case.answer_for, self.spec,
                                case.error_column)
            if made is not None:
                return made[0], made[1]


def heldout_cases(corpus: Corpus, per_kind: int, seed: int, kinds: Sequence[str] = KINDS) -> list[RepairCase]:
    """A fixed evaluation set: `per_kind` cases of each kind, from (seed, kind index)."""
    cases = []
    for i, kind in enumerate(kinds):
        rng = np.random.default_rng([seed, 1_000_003, i])
        got = 0
        while got < per_kind:
            case = sample_case(corpus, kind, rng)
            if case is not None:
                cases.append(case)
                got += 1
    return cases
