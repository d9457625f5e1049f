"""`dgcode edit TARGET -m TEXT`: a range rewritten in place, byte for byte outside it, on a real generated GGUF.

The real-model tests run the command line with llama.cpp on a tiny random-weight
model in a real git repository: its answer is noise, which is the point (the
bytes outside the range must come through whatever the model writes).  Target
resolution (``FILE::name`` with tree-sitter) is checked in Python, JavaScript
and Rust; the budget rule and the pipeline's grow/shrink paths with a scripted
engine; the engine's end-of-text inside an infill slot with a scripted forward.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import typer
from git_shim import init_repo, real_git, repo_state
from typer.testing import CliRunner

from dgcode.cli import edit as cli_edit
from dgcode.cli import edits as cli_edits
from dgcode.context.errors import ContextError
from dgcode.engine.errors import PromptTooLongError
from dgcode.engine.sampler import SpecialTokens, denoise
from dgcode.engine.unmasking import SamplerSettings
from dgcode.workflows.edit.budget import FLOOR, choose_budget, grown, settings_for, wanted
from dgcode.workflows.edit.pipeline import EditRequest, byte_lines, run_edit
from dgcode.workflows.edit.range_target import resolve_target
from dgcode.workflows.model_engine import Answer

runner = CliRunner()

PY = ("import os\r\n"
      "\r\n"
      "\r\n"
      "@staticmethod\r\n"
      "def add(a, b):\r\n"
      "    return a + b\r\n"
      "\r\n"
      "\r\n"
      "class Calc:\r\n"
      "    def mul(self, a, b):\r\n"
      "        return a * b\r\n"
      "\r\n"
      "    def add(self, a, b):\r\n"
      "        return a + b\r\n"
      "\r\n"
      "\r\n"
      "class Other:\r\n"
      "    def mul(self):\r\n"
      "        return 0\r\n"
      "\r\n"
      "\r\n"
      "X = add(1, 2)")  # CRLF endings, no final newline: both must survive untouched
JS = ("// greeting helpers\n"
      "class Greeter {\n"
      "  greet(name) {\n"
      "    return 'hi ' + name;\n"
      "  }\n"
      "}\n"
      "\n"
      "function add(a, b) {\n"
      "  return a + b;\n"
      "}\n"
      "\n"
      "const mul = (a, b) => {\n"
      "  return a * b;\n"
      "};\n")
RS = ("struct Foo {\n"
      "    x: i32,\n"
      "}\n"
      "\n"
      "impl Foo {\n"
      "    fn bar(&self) -> i32 {\n"
      "        self.x\n"
      "    }\n"
      "}\n"
      "\n"
      "fn main() {\n"
      "    println!(\"hi\");\n"
      "}\n")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    root = init_repo(tmp_path / "repo")
    (root / "calc.py").write_bytes(PY.encode())
    (root / "greet.js").write_text(JS)
    (root / "lib.rs").write_text(RS)
    (root / "notes.txt").write_text("some notes\nmore notes\n")
    real_git(root, "add", ".")
    real_git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("DGCODE_THRESHOLD", "DGCODE_MAX_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    return root


@pytest.fixture
def real_model(models, monkeypatch):
    """The tiny dream GGUF, one thread, small sub-blocks, every position committed in one step per sub-block."""
    monkeypatch.setenv("DGCODE_MODEL", str(models["dream"]))
    monkeypatch.setenv("DGCODE_N_CTX", "2048")
    monkeypatch.setenv("DGCODE_THREADS", "1")
    monkeypatch.setenv("DGCODE_SUB_BLOCK", "8")
    monkeypatch.setenv("DGCODE_THRESHOLD", "0")
    return models["dream"]


def app(open_engine=None) -> typer.Typer:
    application = typer.Typer()
    cli_edit.register(application, **({"open_engine": open_engine} if open_engine else {}))
    cli_edits.register(application)  # `undo`
    return application


def never_opened(_config, _say):
    raise AssertionError("the engine must not be opened for a bad target")


def assert_only_range_changed(old: bytes, new: bytes, start: int, end: int) -> tuple[list[bytes], list[bytes]]:
    """Every byte before line ``start`` and after line ``end`` (1-based) is as it was; returns (old, new) middles."""
    old_lines, new_lines = byte_lines(old), byte_lines(new)
    after = len(old_lines) - end
    assert new_lines[:start - 1] == old_lines[:start - 1]
    assert len(new_lines) >= start - 1 + after
    if after:
        assert new_lines[len(new_lines) - after:] == old_lines[end:]
    assert b"".join(new_lines).startswith(b"".join(old_lines[:start - 1]))
    assert new.endswith(b"".join(old_lines[end:]))
    return old_lines[start - 1:end], new_lines[start - 1:len(new_lines) - after]


# --- the command line on a real generated GGUF --------------------------------------------------------------


def test_a_line_range_is_rewritten_byte_for_byte_outside_it_and_undo_restores(repo, real_model) -> None:
    before = (repo / "calc.py").read_bytes()
    others = {name: (repo / name).read_bytes() for name in ("greet.js", "lib.rs", "notes.txt")}
    result = runner.invoke(app(), ["edit", "calc.py:10-11", "-m", "make mul return the product plus one",
                                   "--yes", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "applied" and document["files_changed"] == ["calc.py"]
    assert document["target"] == {"spec": "calc.py:10-11", "file": "calc.py", "start": 10, "end": 11, "name": None,
                                  "kind": None, "lines_in_file": 22}
    budget = document["budget"]
    assert budget["source"] == "rule" and budget["span_tokens"] > 0
    assert budget["first"] == max(FLOOR, math.ceil(1.5 * budget["span_tokens"]) + 16)
    attempts = document["attempts"]
    assert attempts[0]["budget"] == budget["first"] and attempts[-1]["budget"] == budget["tokens"]
    assert len(attempts) == (2 if attempts[0]["stop_reason"] == "length" else 1)  # grown once at most
    assert all(a["answer_tokens"] <= a["budget"] for a in attempts)
    assert document["prompt_tokens"] > 0 and document["suffix_tokens"] > 0

    after = (repo / "calc.py").read_bytes()
    old_middle, new_middle = assert_only_range_changed(before, after, 10, 11)
    assert new_middle != old_middle
    # the answer is written exactly as produced, its lines ending as the file's do (CRLF here)
    expected = document["replacement"].replace("\n", "\r\n").encode()
    assert b"".join(new_middle) == expected
    assert document["new_range"] == {"start": 10, "end": 10 + len(new_middle) - 1}
    assert {name: (repo / name).read_bytes() for name in others} == others

    undone = runner.invoke(app(), ["undo"])
    assert undone.exit_code == 0, undone.output
    assert (repo / "calc.py").read_bytes() == before
    assert real_git(repo, "status", "--porcelain") == ""


def test_a_named_javascript_function_is_rewritten_in_place(repo, real_model) -> None:
    before = (repo / "greet.js").read_bytes()
    result = runner.invoke(app(), ["edit", "greet.js::add", "-m", "add a third argument", "--budget", "24",
                                   "--yes", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["target"]["start"] == 8 and document["target"]["end"] == 10
    assert document["target"]["name"] == "add" and document["target"]["kind"] == "function"
    assert document["budget"]["source"] == "flag" and document["budget"]["tokens"] == 24
    assert [a["budget"] for a in document["attempts"]] == [24]  # a budget from --budget never grows
    assert document["answer_tokens"] <= 24
    _old, new_middle = assert_only_range_changed(before, (repo / "greet.js").read_bytes(), 8, 10)
    assert b"".join(new_middle) == document["replacement"].encode()


def test_without_a_terminal_and_without_yes_the_diff_is_shown_and_nothing_is_written(repo, real_model) -> None:
    state = repo_state(repo)
    result = runner.invoke(app(), ["edit", "calc.py::Calc.mul", "-m", "rename b to c", "--budget", "16"])
    assert result.exit_code == 1, result.output
    assert "rerun with --yes" in result.stdout and "--- a/calc.py" in result.stdout
    assert "span" in result.stderr and "budget 16 (flag)" in result.stderr
    assert repo_state(repo) == state


def test_a_budget_larger_than_the_context_is_a_usage_error(repo, real_model) -> None:
    state = repo_state(repo)
    result = runner.invoke(app(), ["edit", "calc.py:10-11", "-m", "x", "--budget", "100000", "--yes"])
    assert result.exit_code == 2, result.output
    assert "--budget 100000 does not fit" in result.stderr
    assert repo_state(repo) == state


# --- bad targets: exit 2, a clear message, nothing written, no model opened ----------------------------------


@pytest.mark.parametrize("target, message", [
    ("missing.py:1-2", "no such file"),
    ("calc.py:20-30", "the file has 22 line(s)"),
    ("calc.py:30", "the file has 22 line(s)"),
    ("calc.py:9-4", "ends (line 4) before it starts (line 9)"),
    ("calc.py:0-2", "line numbers start at 1"),
    ("calc.py:a-b", "bad line range"),
    ("calc.py", "names a whole file"),
    ("calc.py::nothing_here", "no function, class or other definition of that name"),
    ("calc.py::mul", "ambiguous: 2 definitions"),
    ("notes.txt::intro", "no grammar"),
    ("calc.py::", "after '::' comes the name"),
    ("../outside.py:1", "outside the repository"),
])
def test_bad_targets_are_usage_errors(repo, target: str, message: str, tmp_path, monkeypatch) -> None:
    (tmp_path / "outside.py").write_text("x = 1\n")
    monkeypatch.setenv("DGCODE_MODEL", str(tmp_path / "model.gguf"))
    state = repo_state(repo)
    result = runner.invoke(app(never_opened), ["edit", target, "-m", "do it", "--yes"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "error:" in result.stderr
    assert repo_state(repo) == state


def test_the_ambiguous_name_error_lists_every_definition_with_its_lines(repo) -> None:
    with pytest.raises(ContextError) as raised:
        resolve_target(repo, "calc.py::mul")
    text = str(raised.value)
    assert "function Calc.mul (lines 10-11)" in text and "function Other.mul (lines 18-19)" in text
    assert "qualify it" in text


def test_no_model_is_a_usage_error_after_the_target_is_checked(repo, monkeypatch) -> None:
    monkeypatch.delenv("DGCODE_MODEL", raising=False)
    result = runner.invoke(app(never_opened), ["edit", "calc.py:1", "-m", "x", "--yes"])
    assert result.exit_code == 2 and "no model configured" in result.stderr


# --- FILE::name resolves with tree-sitter -------------------------------------------------------------------


@pytest.mark.parametrize("target, lines, name, kind", [
    ("calc.py::Calc", (9, 14), "Calc", "class"),
    ("calc.py::Calc.mul", (10, 11), "Calc.mul", "function"),
    ("calc.py::Other.mul", (18, 19), "Other.mul", "function"),
    ("calc.py::add", (4, 6), "add", "function"),  # the exact qualified name wins over Calc.add
    ("calc.py::Calc.add", (13, 14), "Calc.add", "function"),
    ("calc.py:5", (5, 5), None, None),
    ("greet.js::Greeter", (2, 6), "Greeter", "class"),
    ("greet.js::Greeter.greet", (3, 5), "Greeter.greet", "method"),
    ("greet.js::mul", (12, 14), "mul", "function"),
    ("lib.rs::Foo.bar", (6, 8), "Foo.bar", "method"),
    ("lib.rs::main", (11, 13), "main", "function"),
    ("lib.rs::Foo", (1, 3), "Foo", "class"),
])
def test_named_targets_resolve_to_their_lines(repo, target: str, lines, name, kind) -> None:
    resolved = resolve_target(repo, target)
    assert (resolved.start, resolved.end) == lines
    assert (resolved.name, resolved.category) == (name, kind)


def test_a_decorated_python_function_includes_its_decorator() -> None:
    from dgcode.context.definitions import list_definitions

    found = {d.name: (d.start, d.end) for d in list_definitions("calc.py", PY.encode())}
    assert found["add"] == (4, 6) and found["X"] == (22, 22) and found["Other"] == (17, 19)


# --- the budget rule -----------------------------------------------------------------------------------------


def test_the_budget_rule_floor_growth_and_cap() -> None:
    assert wanted(0) == FLOOR and wanted(10) == FLOOR and wanted(100) == 166
    assert choose_budget(100, 1000).tokens == 166 and not choose_budget(100, 1000).capped
    capped = choose_budget(100, 120)
    assert capped.tokens == 120 and capped.capped
    assert choose_budget(100, 1000, requested=7).tokens == 7
    with pytest.raises(PromptTooLongError, match="does not fit"):
        choose_budget(100, 50, requested=51)
    with pytest.raises(PromptTooLongError, match="whole context"):
        choose_budget(100, 0)
    assert grown(choose_budget(100, 1000)).tokens == 332
    assert grown(choose_budget(100, 200)).tokens == 200
    assert grown(choose_budget(100, 166)) is None  # already fills the room
    assert grown(choose_budget(100, 1000, requested=50)) is None  # --budget never grows


def test_step_counted_schedules_keep_their_tokens_per_step() -> None:
    base = SamplerSettings(schedule="block", steps=128, max_tokens=512, sub_block_size=32)
    scaled = settings_for(base, 100)
    assert scaled.max_tokens == 100 and scaled.steps == 25
    scaled.validate()
    assert settings_for(SamplerSettings(), 40).steps is None


# --- the pipeline's grow and shrink paths, on a scripted engine ---------------------------------------------


class ScriptedEngine:
    """RangeEngine with queued answers; 'tokens' are characters."""

    def __init__(self, answers: list[tuple[str, str]], n_ctx: int = 4096):
        self.answers, self.n_ctx = list(answers), n_ctx
        self.calls: list[dict] = []

    def count_tokens(self, text: str) -> int:
        return len(text)

    def render_chat(self, messages) -> str:
        return "".join(m["content"] for m in messages)

    def context_size(self) -> int:
        return self.n_ctx

    def generate(self, messages, settings, on_step=None, say=None, *, prefix="", suffix=""):
        self.calls.append({"messages": messages, "max_tokens": settings.max_tokens, "prefix": prefix,
                           "suffix": suffix})
        text, stop = self.answers.pop(0)
        return Answer(text[:settings.max_tokens], min(len(text), settings.max_tokens), 1, stop, 0.0, 0.01)

    def close(self) -> None:
        pass


def test_the_prompt_holds_the_instruction_the_path_and_the_span_with_the_file_around_the_slot(repo) -> None:
    target = resolve_target(repo, "greet.js::add")
    engine = ScriptedEngine([("function add(a, b, c) {\n  return a + b + c;\n}\n", "eos")])
    report = run_edit(EditRequest(repo, target, "add a third argument"), engine)
    assert report.status == "applied", report.message
    call = engine.calls[0]
    user = call["messages"][1]["content"]
    assert "greet.js" in user and "lines 8-10" in user and "add a third argument" in user
    assert "function add(a, b) {" in user  # the span's current text
    assert call["prefix"] == "".join(JS.splitlines(keepends=True)[:7])
    assert call["suffix"] == "".join(JS.splitlines(keepends=True)[10:])
    span = len("function add(a, b) {\n  return a + b;\n}\n")
    assert call["max_tokens"] == wanted(span)
    assert (repo / "greet.js").read_text() == JS.replace("add(a, b) {\n  return a + b;",
                                                         "add(a, b, c) {\n  return a + b + c;")


def test_a_shorter_answer_shrinks_the_span_and_a_full_one_grows_the_slot_once(repo) -> None:
    target = resolve_target(repo, "lib.rs::Foo.bar")
    long_answer = "    fn bar(&self) -> i32 {\n" + "        // more\n" * 40 + "        self.x\n    }\n"
    engine = ScriptedEngine([(long_answer, "length"), (long_answer, "length")])
    report = run_edit(EditRequest(repo, target, "comment it", dry_run=True), engine)
    assert [c["max_tokens"] for c in engine.calls] == [report.attempts[0].budget.tokens,
                                                       2 * report.attempts[0].budget.tokens]
    assert report.status == "proposed" and any("filled its whole slot" in n for n in report.notes)
    shrink = ScriptedEngine([("    fn bar(&self) -> i32 { self.x }\n", "eos")])
    report = run_edit(EditRequest(repo, target, "one line"), shrink)
    assert report.status == "applied" and report.new_end == 6 and len(shrink.calls) == 1
    assert (repo / "lib.rs").read_text() == RS.replace("    fn bar(&self) -> i32 {\n        self.x\n    }\n",
                                                       "    fn bar(&self) -> i32 { self.x }\n")


def test_an_unchanged_answer_writes_nothing(repo) -> None:
    target = resolve_target(repo, "greet.js::add")
    report = run_edit(EditRequest(repo, target, "nothing"), ScriptedEngine([(
        "function add(a, b) {\n  return a + b;\n}\n", "eos")]))
    assert report.status == "unchanged" and report.exit_code == 1
    assert (repo / "greet.js").read_text() == JS


def test_a_file_changed_after_it_was_read_is_refused(repo) -> None:
    target = resolve_target(repo, "greet.js::add")
    (repo / "greet.js").write_text(JS + "// edited meanwhile\n")
    report = run_edit(EditRequest(repo, target, "x"), ScriptedEngine([("function add() {}\n", "eos")]))
    assert report.status == "failed" and report.written == ()
    assert (repo / "greet.js").read_text() == JS + "// edited meanwhile\n"


# --- the engine: end-of-text inside an infill slot ends the answer there ------------------------------------

MASK, EOS, VOCAB = 9, 8, 10


class SureForward:
    """Logits that are sure of a fixed answer for the slot."""

    def __init__(self, answer: list[int], n_prompt: int):
        self.answer, self.n_prompt = answer, n_prompt

    def prefill(self, prompt) -> None:
        pass

    def logits(self, seq, active_end, targets):
        rows = np.full((len(targets), VOCAB), -20.0, dtype=np.float32)
        for row, target in enumerate(targets):
            rows[row, self.answer[target - self.n_prompt]] = 0.0
        return rows

    def commit(self, seq, upto) -> None:
        pass


def test_end_of_text_inside_an_infill_slot_ends_the_answer_and_the_tail_is_dropped() -> None:
    answer = [1, 2, 3, EOS, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]
    result = denoise(SureForward(answer, 3), [1, 2, 3], SamplerSettings(max_tokens=16, sub_block_size=8,
                                                                        canvas_size=16),
                     SpecialTokens(mask=MASK, eos=EOS), token_text=str,
                     detokenize=lambda ts: "".join(map(str, ts)), suffix=[7, 7])
    assert result.stop_reason == "eos" and result.tokens == [1, 2, 3] and result.text == "123"
