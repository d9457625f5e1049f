"""The repo map in the real prompts (a TUI turn, a fix run), its budget, the stable prefix, the prefilled count."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import git_shim, init_repo, real_git  # noqa: E402, F401

from dgcode.context.prefill import fallback_render  # noqa: E402
from dgcode.context.prompt_map import build_prompt_map, map_budget, tag_cache_path  # noqa: E402
from dgcode.workflows.chat.session import Session  # noqa: E402
from dgcode.workflows.fix.pipeline import FixRequest, run_fix  # noqa: E402
from dgcode.workflows.fix.report import Answer  # noqa: E402

FILES = {
    "app/main.py": ("from billing.total import invoice_total\nfrom billing.tax import apply_vat_rate\n\n\n"
                    "def run_checkout(cart):\n    return apply_vat_rate(invoice_total(cart))\n"),
    "billing/total.py": "def invoice_total(cart):\n    return sum(item_price(i) for i in cart)\n\n\n"
                        "def item_price(item):\n    return item['price']\n",
    "billing/tax.py": "VAT = 0.2\n\n\ndef apply_vat_rate(amount):\n    return amount * (1 + VAT)\n",
    "reports/weekly.py": ("class WeeklyReport:\n    def render_summary_table(self):\n        return ''\n\n\n"
                          "def weekly_report_rows(data):\n    return [WeeklyReport() for _ in data]\n"),
    "reports/export.py": "from reports.weekly import weekly_report_rows\n\n\n"
                         "def export_report_csv(data):\n    return weekly_report_rows(data)\n",
    "notes.unknownlang": "no grammar for this one\n",
}


def words(text: str) -> int:
    return len(text.split())


def render(messages) -> str:
    """The fake engine's chat template: a header per message, then the answer's turn."""
    return "".join(f"<|{m['role']}|>\n{m['content']}<|end|>\n" for m in messages) + "<|assistant|>\n"


@dataclass
class FakeEngine:
    """Counts and renders like an engine: count_tokens counts the text it is given (the rendered chat here)."""

    n_ctx: int = 4096
    answers: list[str] = field(default_factory=list)
    prompts: list[list[dict[str, str]]] = field(default_factory=list)

    def count_tokens(self, text: str) -> int:
        return words(text)

    def render_chat(self, messages) -> str:
        return render(messages)

    def describe(self) -> dict:
        return {"n_ctx": self.n_ctx}

    def generate(self, messages, settings, on_step=None, say=None, **_kw) -> Answer:
        self.prompts.append(messages)
        text = self.answers.pop(0)
        return Answer(text, words(text), 1, "eos", 1.0, 0.01)

    def close(self) -> None:
        pass


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo")
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    real_git(root, "add", ".")
    real_git(root, "commit", "-q", "-m", "base")
    return root


def test_the_budget_is_an_eighth_of_the_context_up_to_1024():
    assert map_budget(4096) == 512 and map_budget(32768) == 1024 and map_budget(None) == 1024


def test_a_tui_turn_carries_the_map_within_its_budget_without_the_files_in_context(repo):
    session = Session(repo)
    session.add("app/main.py")
    engine = FakeEngine()
    turn = session.prepare("Round the checkout total.", engine.count_tokens)
    stable = turn.messages[1]["content"]
    assert "Outline of other files in the repository:" in stable
    assert turn.repo_map.text and turn.repo_map.text.rstrip("\n") in stable
    assert turn.repo_map.budget == 512 and 0 < turn.repo_map.tokens <= 512
    assert engine.count_tokens(turn.repo_map.text) == turn.repo_map.tokens == turn.breakdown["repo_map"] - words(
        "Outline of other files in the repository:")
    assert "app/main.py" not in turn.repo_map.files and "app/main.py:" not in turn.repo_map.text
    assert "def invoice_total(cart):" in turn.repo_map.text  # the file in context uses it
    # the map comes before the files, both before the conversation (stable prefix order)
    assert stable.index("Outline of other files") < stable.index("app/main.py\n```python")


def test_the_map_prefers_what_the_files_in_context_refer_to(repo):
    session = Session(repo, map_budget=8)
    session.add("app/main.py")
    turn = session.prepare("Tidy this up.", FakeEngine().count_tokens)
    assert turn.repo_map.tokens <= 8
    shown = set(turn.repo_map.files)
    assert shown and shown <= {"billing/total.py", "billing/tax.py"}, turn.repo_map.text
    session = Session(repo, map_budget=8)
    session.add("reports/export.py")
    turn = session.prepare("Tidy this up.", FakeEngine().count_tokens)
    assert set(turn.repo_map.files) == {"reports/weekly.py"}, turn.repo_map.text


def test_turn_two_starts_with_turn_one_up_to_the_conversation(repo):
    session = Session(repo)
    session.add("app/main.py")
    engine = FakeEngine()
    first = session.prepare("Round the checkout total.", engine.count_tokens)
    session.remember("Round the checkout total.", "Done: it rounds now.")
    second = session.prepare("Now make invoice_total skip free items.", engine.count_tokens)
    assert second.messages[:3] == first.messages[:3]
    assert second.rendered.startswith(render(first.messages[:-1]).removesuffix("<|assistant|>\n"))
    assert second.repo_map.text == first.repo_map.text  # ranked by the files, not by the instruction


def test_the_prepared_count_is_the_rendered_prompt_the_engine_prefills(repo):
    session = Session(repo)
    session.add("app/main.py")
    engine = FakeEngine()
    turn = session.prepare("Round the checkout total.", engine.count_tokens)
    assert turn.rendered == render(turn.messages)
    assert turn.prompt_tokens == engine.count_tokens(render(turn.messages))
    assert turn.prompt_tokens > sum(words(m["content"]) for m in turn.messages)  # the template's headers count
    assert turn.chars == len(turn.rendered)
    # between turns the estimate is that same text (its map included) over the measured characters per token
    estimate = session.estimate_tokens(turn.chars / turn.prompt_tokens)
    assert abs(estimate - turn.prompt_tokens) <= 0.05 * turn.prompt_tokens


def test_a_plain_count_function_gets_the_chatml_rendering(repo):
    session = Session(repo)
    turn = session.prepare("hello", words)
    assert turn.rendered == fallback_render(turn.messages) and turn.prompt_tokens == words(turn.rendered)


def test_the_real_engine_counts_what_it_prefills(repo, models):
    from dgcode.engine.engine import EngineOptions
    from dgcode.engine.worker import EngineClient
    from dgcode.workflows.model_engine import CountTokens, ModelEngine, RenderChat

    engine = ModelEngine(EngineClient(models["dream"], EngineOptions(n_ctx=2048)))
    try:
        engine.start()
        session = Session(repo)
        session.add("app/main.py")
        turn = session.prepare("Round the checkout total.", engine.count_tokens)
        rendered = engine.client.call(RenderChat(turn.messages))
        assert turn.rendered == rendered
        assert turn.prompt_tokens == engine.client.call(CountTokens(rendered))
        assert turn.repo_map.budget == 256 and 0 < turn.repo_map.tokens <= 256
    finally:
        engine.close()


def test_a_fix_run_sends_the_map(repo):
    answer = "app/main.py\n```python\n<<<<<<< SEARCH\ndef run_checkout(cart):\n=======\n" \
             "def run_checkout(cart):  # checked\n>>>>>>> REPLACE\n```\n"
    engine = FakeEngine(n_ctx=2048, answers=[answer])
    said: list[str] = []
    report = run_fix(FixRequest(repo, paths=("app/main.py",), instruction="Mark the checkout."), engine,
                     say=said.append)
    assert report.status == "applied", report.message
    stable = engine.prompts[0][1]["content"]
    assert "Outline of other files in the repository:" in stable and "def invoice_total(cart):" in stable
    assert "app/main.py:" not in stable.split("```")[0]
    assert report.rounds[0].prompt_tokens == engine.count_tokens(render(engine.prompts[0]))
    assert any("repo map" in line and "prefilling" in line for line in said)


def test_tags_are_cached_in_dgcodes_cache_folder_not_the_repository(repo):
    before = sorted(p.relative_to(repo) for p in repo.rglob("*") if ".git" not in p.parts)
    result = build_prompt_map(repo, count_tokens=words, chat_files=["app/main.py"], budget=200)
    assert result.text and "notes.unknownlang" in result.text  # no grammar: by name only
    path = tag_cache_path(repo)
    assert path.is_file() and Path(os.environ["DGCODE_CACHE_DIR"]) in path.parents
    assert sorted(p.relative_to(repo) for p in repo.rglob("*") if ".git" not in p.parts) == before


def test_outside_a_repository_there_is_no_map(tmp_path):
    session = Session(tmp_path)
    turn = session.prepare("hello", FakeEngine().count_tokens)
    assert turn.repo_map.text == "" and "Outline" not in "".join(m["content"] for m in turn.messages)


def test_the_panel_shows_used_over_the_limit():
    from dgcode.tui.widgets.context_panel import ContextPanel

    panel = ContextPanel()
    panel.prompt_tokens, panel.exact, panel.context_size, panel.answer_budget = 1368, True, 4096, 512
    shown = panel.render().plain
    assert panel.prompt_limit == 3584 and " 1,368/3,584 tokens" in shown and "+512 answer, 4,096 ctx" in shown
