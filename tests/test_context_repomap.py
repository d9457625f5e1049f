"""The repo map: PageRank, ranking toward the files and names in play, and fitting a token budget."""

from __future__ import annotations

import numpy as np
import pytest
from repo_helpers import git

from dgcode.context.pagerank import pagerank
from dgcode.context.repomap import RepoMap, fit_items, mentioned_files, mentioned_identifiers, render_items
from dgcode.context.tagcache import TagCache

FILES = {
    "src/geometry/shapes.py": (
        "import math\n\n\nclass Shape:\n    def area(self) -> float:\n        raise NotImplementedError\n\n\n"
        "class Circle(Shape):\n    def __init__(self, radius):\n        self.radius = radius\n\n"
        "    def area(self):\n        return compute_area(self.radius)\n\n\n"
        "def compute_area(radius):\n    return math.pi * radius * radius\n"),
    "src/geometry/render.py": (
        "from geometry.shapes import Circle, compute_area\n\n\ndef draw_circle(canvas, radius):\n"
        "    shape = Circle(radius)\n    canvas.fill(compute_area(radius))\n    return shape\n"),
    "src/billing/invoice.py": (
        "class Invoice:\n    def __init__(self, items):\n        self.items = items\n\n\n"
        "def total_price(items):\n    return sum(item.price for item in items)\n"),
    "src/billing/tax.py": (
        "from billing.invoice import Invoice, total_price\n\n\ndef tax_for(invoice: Invoice):\n"
        "    return total_price(invoice.items) * 0.2\n"),
    "web/money.ts": (
        "export interface Money { cents: number }\n"
        "export function formatMoney(m: Money): string { return (m.cents / 100).toFixed(2); }\n"),
    "web/cart.js": "import { formatMoney } from './money';\nexport function showCart(c) { return formatMoney(c); }\n",
    "native/lib.rs": "pub fn checksum(data: &[u8]) -> u32 { fold_bytes(data) }\nfn fold_bytes(d: &[u8]) -> u32 { 0 }\n",
    "cmd/main.go": "package main\n\nfunc main() { Serve(8080) }\n\nfunc Serve(port int) {}\n",
    "java/App.java": "class App { void run() { new Invoice(); } }\n",
    "c/vec.c": "int vec_dot(int a, int b) { return a * b; }\nint use(void) { return vec_dot(1, 2); }\n",
    "cpp/mat.cpp": "class Matrix { public: int trace() const { return 0; } };\nint f() { Matrix m; return m.trace(); }\n",
    "README.md": "# demo\n",
}


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    return root


def closed_form(n, edges, personal, alpha=0.85):
    """Solve r = (1-a) p + a (M r + (dangling . r) p) directly."""
    m = np.zeros((n, n))
    out = np.zeros(n)
    for s, _, w in edges:
        out[s] += w
    for s, d, w in edges:
        m[d, s] += w / out[s]
    p = np.zeros(n)
    for k, v in personal.items():
        p[k] = v
    p = p / p.sum() if p.sum() else np.full(n, 1 / n)
    dangling = (out == 0).astype(float)
    return np.linalg.solve(np.eye(n) - alpha * m - alpha * np.outer(p, dangling), (1 - alpha) * p)


@pytest.mark.parametrize("personal", [{}, {0: 1.0}, {2: 3.0, 4: 1.0}])
def test_pagerank_matches_the_closed_form(personal):
    rng = np.random.default_rng(7)
    n = 6
    edges = [(int(s), int(d), float(w)) for s, d, w in zip(rng.integers(0, 5, 14), rng.integers(0, 6, 14),
                                                         rng.uniform(0.1, 5, 14))]  # node 5 has no out-edges
    rank = pagerank(n, edges, personal)
    assert rank.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(rank, closed_form(n, edges, personal), atol=1e-7)


def test_pagerank_of_empty_and_edgeless_graphs():
    assert pagerank(0, []).size == 0
    np.testing.assert_allclose(pagerank(3, [], {1: 1.0}), [0, 1, 0], atol=1e-12)


def first_index(items, path):
    return next(i for i, (p, _) in enumerate(items) if p == path)


def test_the_file_in_context_pulls_what_it_uses_to_the_top(repo):
    repo_map = RepoMap(repo, count_tokens=words)
    items = repo_map.ranked(chat_files={"src/geometry/render.py"})
    assert [path for path, _ in items[:3]] == ["src/geometry/shapes.py"] * 3
    assert {tag.name for _, tag in items[:3]} == {"compute_area", "Circle", "Shape"}
    assert items[0][1].name == "compute_area"  # a distinctive name used twice weighs most
    assert first_index(items, "src/geometry/shapes.py") < first_index(items, "src/billing/invoice.py")
    assert all(path != "src/geometry/render.py" for path, _ in items)  # its text is already in the prompt


def test_the_other_file_in_context_pulls_its_own_neighbours(repo):
    items = RepoMap(repo, count_tokens=words).ranked(chat_files={"src/billing/tax.py"})
    assert items[0][0] == "src/billing/invoice.py"
    assert first_index(items, "src/billing/invoice.py") < first_index(items, "src/geometry/shapes.py")


def test_an_identifier_named_in_the_instruction_comes_first(repo):
    instruction = "Why does formatMoney round cents?"
    items = RepoMap(repo, count_tokens=words).ranked(mentioned_idents=mentioned_identifiers(instruction))
    assert (items[0][0], items[0][1].name) == ("web/money.ts", "formatMoney")
    plain = RepoMap(repo, count_tokens=words).ranked()
    assert (plain[0][0], plain[0][1].name) != ("web/money.ts", "formatMoney")  # the mention made the difference


def test_mentions_are_parsed_from_text(repo):
    assert {"Shape", "area", "fix"} <= mentioned_identifiers("fix Shape.area")
    files = list(FILES)
    assert mentioned_files("look at shapes.py and `web/cart.js`, not shapes", files) == {
        "src/geometry/shapes.py", "web/cart.js"}


def test_files_without_ranked_definitions_follow_by_name(repo):
    items = RepoMap(repo, count_tokens=words).ranked()
    assert ("README.md", None) in items
    assert items.index(("README.md", None)) > max(i for i, (_, tag) in enumerate(items) if tag is not None)


def test_the_map_fits_the_budget_and_grows_monotonically(repo):
    repo_map = RepoMap(repo, count_tokens=words)
    previous_lines: set[str] = set()
    previous_n = 0
    for budget in (0, 3, 8, 15, 25, 40, 60, 90, 140, 400):
        result = repo_map.render(budget, chat_files={"src/geometry/render.py"})
        assert result.tokens == words(result.text) <= budget
        assert len(result.items) >= previous_n
        lines = set(result.text.splitlines())
        assert previous_lines <= lines
        previous_lines, previous_n = lines, len(result.items)
    assert previous_n == result.total  # the largest budget shows everything
    assert "src/geometry/shapes.py:\n│class Shape:\n│    def area(self) -> float:\n│class Circle(Shape):\n" in result.text


def test_the_budget_search_finds_the_largest_prefix_that_fits():
    items = [(f"f{i}.py", None) for i in range(50)]
    for budget in (0, 1, 7, 49, 50, 80):
        n, text, tokens = fit_items(items, budget, words)
        assert n == min(budget, 50) and tokens == words(text) == n
    # a character-based count (about 4 characters a token) works the same way
    n, text, tokens = fit_items(items, 20, lambda s: len(s) // 4)
    assert len(render_items(items[: n + 1])) // 4 > 20 >= tokens


def test_a_small_budget_keeps_the_best_definitions(repo):
    repo_map = RepoMap(repo, count_tokens=words)
    result = repo_map.render(12, chat_files={"src/geometry/render.py"})
    assert result.files == ["src/geometry/shapes.py"]
    assert result.text.startswith("src/geometry/shapes.py:\n")


def test_focus_adds_only_mentioned_definitions_the_map_lacks(repo):
    repo_map = RepoMap(repo, count_tokens=words)
    stable = repo_map.render(12, chat_files={"src/geometry/render.py"})
    focus = repo_map.focus(50, {"total_price", "Circle", "nothing_here"}, chat_files={"src/geometry/render.py"},
                           already=stable)
    assert {tag.name for _, tag in focus.items} == {"total_price"}
    assert focus.text == "src/billing/invoice.py:\n│def total_price(items):\n"


def test_ignored_files_never_reach_the_map_and_tags_are_cached(repo):
    (repo / ".dgcodeignore").write_text("native/\n")
    (repo / ".gitignore").write_text("build/\n")
    (repo / "build").mkdir()
    (repo / "build" / "gen.py").write_text("def generated_secret():\n    pass\n")
    (repo / "extra.py").write_text("def untracked_helper():\n    pass\n")
    cache = TagCache()
    repo_map = RepoMap(repo, count_tokens=words, cache=cache)
    text = repo_map.render(10_000).text
    assert "native/lib.rs" not in text and "checksum" not in text and "generated_secret" not in text
    assert "untracked_helper" in text
    parsed = cache.parsed
    repo_map.render(10_000)
    assert cache.parsed == parsed > 0
