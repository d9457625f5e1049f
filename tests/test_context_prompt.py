"""Prompt assembly: section order, token breakdown, the edit-format example, and KV-cache prefix reuse."""

from __future__ import annotations

import re
import subprocess

import pytest
from repo_helpers import git

from dgcode.context.errors import ContextError
from dgcode.context.prompt import build_prompt, fence_for, system_text
from dgcode.context.repomap import RepoMap, mentioned_identifiers
from dgcode.context.sources import gather_context
from dgcode.edits.parser import parse_response
from dgcode.engine.chat import render_chat

STABLE_BUDGET = 45  # small enough that to_metres is not in the stable map
TOKEN_RE = re.compile(r"\w+|[^\w\s]|\s+")


def tokenize(text: str) -> list[str]:
    """A stand-in for a BPE tokenizer: words, punctuation marks and runs of whitespace."""
    return TOKEN_RE.findall(text)


def count(text: str) -> int:
    return len(tokenize(text))


def prefix_reuse(prev_tokens, new_tokens) -> int:
    """How many leading tokens two prompts share: the KV cache entries the second can keep."""
    shared = 0
    for old, new in zip(prev_tokens, new_tokens):
        if old != new:
            break
        shared += 1
    return shared


def shapes_module() -> str:
    parts = ["import math\n\n"]
    parts.append("class Shape:\n    \"\"\"Base class of every shape.\"\"\"\n\n    def area(self) -> float:\n"
                 "        raise NotImplementedError\n\n    def perimeter(self) -> float:\n"
                 "        raise NotImplementedError\n\n")
    for name, field in (("Circle", "radius"), ("Square", "side"), ("Hexagon", "side"), ("Disc", "radius")):
        parts.append(f"class {name}(Shape):\n    def __init__(self, {field}: float):\n"
                     f"        self.{field} = {field}\n\n    def area(self) -> float:\n"
                     f"        return compute_area(self.{field})\n\n    def perimeter(self) -> float:\n"
                     f"        return 4 * self.{field}\n\n    def __repr__(self) -> str:\n"
                     f"        return f\"{name}({{self.{field}!r}})\"\n\n")
    parts.append("def compute_area(radius: float) -> float:\n    return math.pi * radius * radius\n")
    return "".join(parts)


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo")


def make_repo(root):
    files = {
        "src/shapes.py": shapes_module(),
        "src/render.py": ("from shapes import Circle, Square, compute_area\n\n\n"
                          "def draw(canvas, shapes):\n    for shape in shapes:\n        canvas.fill(shape.area())\n"
                          "    return canvas\n\n\ndef demo(canvas):\n"
                          "    return draw(canvas, [Circle(1.0), Square(2.0)])\n"),
        "src/units.py": "def to_metres(value, unit):\n    return convert_units(value, unit, 'm')\n\n\n"
                        "def convert_units(value, source, target):\n    return value\n",
        "src/report.py": "from units import to_metres\n\n\ndef report(rows):\n"
                         "    return [to_metres(r, 'cm') for r in rows]\n",
        "web/ui.ts": "export function paint(area: number): string { return area.toFixed(1); }\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    with open(root / "src/render.py", "a") as handle:  # work in progress, the same in both turns
        handle.write("\n\ndef clear(canvas):\n    canvas.fill(0)\n")
    return root


def turn(repo, instruction, *, files=("src/shapes.py", "src/render.py"), history=()):
    context = gather_context(repo, files=list(files), instruction=instruction)
    repo_map = RepoMap(repo, count_tokens=count)
    stable = repo_map.render(STABLE_BUDGET, chat_files={f.path for f in context.files})
    focus = repo_map.focus(60, mentioned_identifiers(instruction), chat_files={f.path for f in context.files},
                           already=stable)
    return build_prompt(context, count_tokens=count, repo_map=stable.text, focus_map=focus.text, history=history)


def rendered_tokens(messages) -> list[str]:
    return tokenize(render_chat(messages, template=None, architecture="dream"))


def test_a_new_instruction_reuses_most_of_the_previous_prompt(repo):
    first = turn(repo, "Add a docstring to compute_area.")
    second = turn(repo, "Make to_metres reject negative values.")
    old, new = rendered_tokens(first.messages), rendered_tokens(second.messages)
    shared = prefix_reuse(old, new)
    assert shared >= 0.8 * len(new), f"only {shared} of {len(new)} tokens reusable"
    assert first.messages[:3] == second.messages[:3]  # system, repo map + files, acknowledgement
    assert "def convert_units" not in first.messages[-1]["content"]
    assert "def to_metres" in second.messages[-1]["content"]  # the mentioned definition, near the request

    # The same sections with the request first: only the system message survives.
    def instruction_first(prompt):
        text = {section.name: section.text for section in prompt.sections}
        body = [text[n] for n in ("instruction", "repo_map", "files", "git", "selection", "focus") if n in text]
        return [prompt.messages[0], {"role": "user", "content": "\n\n".join(body)}]

    naive = prefix_reuse(rendered_tokens(instruction_first(first)), rendered_tokens(instruction_first(second)))
    system_only = len(rendered_tokens(first.messages[:1]))
    assert naive <= system_only + 10  # nothing after the system message is reusable
    assert shared > 3 * naive


def test_sections_come_in_order_of_how_often_they_change(repo):
    prompt = gather_and_build(repo, files=["src/shapes.py"], selection="src/shapes.py:4-5",
                              instruction="Explain Shape", repo_map="src/render.py:\n│def draw(canvas, shapes):\n",
                              focus_map="src/units.py:\n│def to_metres(value, unit):\n")
    assert [m["role"] for m in prompt.messages] == ["system", "user", "assistant", "user"]
    assert list(prompt.breakdown) == ["system", "repo_map", "files", "git", "selection", "focus", "instruction"]
    context_message, last = prompt.messages[1]["content"], prompt.messages[3]["content"]
    assert context_message.index("Outline of other files") < context_message.index("src/shapes.py\n```python\n")
    positions = [last.index(marker) for marker in
                 ("Unstaged changes (git diff):", "Selected in src/shapes.py (lines 4-5):",
                  "Definitions named in the request:", "Request: Explain Shape")]
    assert positions == sorted(positions) and last.endswith("Request: Explain Shape")


def gather_and_build(repo, *, repo_map="", focus_map="", history=(), **kwargs):
    return build_prompt(gather_context(repo, **kwargs), count_tokens=count, repo_map=repo_map,
                        focus_map=focus_map, history=history)


def test_breakdown_counts_each_section_with_the_given_counter(repo):
    prompt = gather_and_build(repo, files=["src/render.py"], instruction="Tidy draw")
    texts = {section.name: section.text for section in prompt.sections}
    assert prompt.breakdown == {name: count(text) for name, text in texts.items()}
    assert prompt.total == sum(prompt.breakdown.values())
    assert prompt.breakdown["files"] > prompt.breakdown["instruction"] > 0
    assert len(system_text().split()) < 150  # small models on a CPU: keep the fixed part short


def test_without_files_or_map_the_prompt_is_system_then_request(repo):
    git(repo, "stash", "-q")  # a clean work tree (test set-up only)
    prompt = gather_and_build(repo, instruction="What does this repo do?")
    assert [m["role"] for m in prompt.messages] == ["system", "user"]
    assert prompt.messages[1]["content"] == "Request: What does this repo do?"


def test_history_goes_between_the_context_and_the_new_request(repo):
    history = [{"role": "user", "content": "Request: rename draw"}, {"role": "assistant", "content": "Done."}]
    prompt = gather_and_build(repo, files=["src/render.py"], instruction="Now add a test", history=history)
    assert [m["role"] for m in prompt.messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert prompt.messages[3:5] == history and "history" in prompt.breakdown
    with pytest.raises(ContextError, match="bad history message"):
        gather_and_build(repo, instruction="x", history=[{"role": "system", "content": "obey"}])


def test_the_format_example_in_the_system_prompt_is_what_the_parser_accepts():
    result = parse_response(system_text())
    assert result.problems == ()
    (edit,) = result.edits
    assert (edit.path, edit.search, edit.replace) == ("path/to/file.py", "old lines\n", "new lines\n")
    with pytest.raises(ContextError, match="unknown edit format"):
        system_text("udiff")


def test_files_are_shown_as_the_edit_format_names_them(repo):
    prompt = gather_and_build(repo, files=["src/units.py:1-2", "src/report.py"], instruction="x")
    content = prompt.messages[1]["content"]
    assert ("Part of src/units.py (lines 1-2 of 6):\nsrc/units.py\n```python\ndef to_metres(value, unit):\n"
            "    return convert_units(value, unit, 'm')\n```") in content
    assert "src/report.py\n```python\nfrom units import to_metres\n" in content


def test_a_file_holding_a_fence_gets_a_longer_one(repo):
    (repo / "README.md").write_text("Example:\n```python\nprint(1)\n```\n")
    content = gather_and_build(repo, files=["README.md"], instruction="x").messages[1]["content"]
    assert "README.md\n````markdown\nExample:\n```python\nprint(1)\n```\n````" in content
    assert fence_for("a\n  ````b\n") == "`````" and fence_for("plain") == "```"


def test_prefix_reuse_counts_the_common_leading_tokens():
    assert prefix_reuse([1, 2, 3, 4], [1, 2, 9, 4]) == 2
    assert prefix_reuse([1, 2, 3], [1, 2, 3, 4, 5]) == 3
    assert prefix_reuse([], [1]) == 0 and prefix_reuse([7], [8]) == 0
    assert prefix_reuse(list("abc"), list("abc")) == 3


def test_the_context_package_never_imports_textual():
    import sys

    code = ("import sys, dgcode.context.prompt, dgcode.context.repomap, dgcode.context.sources, "
            "dgcode.context.tagcache; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('textual', 'llama_cpp')))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_the_engines_prefix_cache_reuses_the_second_turns_prompt(repo, models):
    """Measured end to end: real tokenizer, real KV cache, two turns with the same files."""
    from dgcode.engine.engine import Engine, EngineOptions
    from dgcode.engine.unmasking import SamplerSettings

    settings = SamplerSettings(max_tokens=8, sub_block_size=8, canvas_size=8, stop_at_eos=False)
    with Engine(models["dream"], EngineOptions(n_ctx=4096, reuse_prefix=True)) as engine:
        first = engine.tokenize(engine.chat_prompt(turn(repo, "Add a docstring to compute_area.").messages))
        second = engine.tokenize(engine.chat_prompt(turn(repo, "Make to_metres reject negative values.").messages))
        engine.generate(first, settings)
        result = engine.generate(second, settings)
    assert result.reused_prompt_tokens == prefix_reuse(first, second)
    assert result.reused_prompt_tokens >= 0.8 * len(second), (result.reused_prompt_tokens, len(second))
