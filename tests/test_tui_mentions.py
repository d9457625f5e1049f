"""``@path`` mentions: the repository's files, fuzzy ranking, the picker in the prompt, mentions in a message."""

from __future__ import annotations

import pytest
from git_shim import git_shim  # noqa: F401  (autouse fixture)
from repo_helpers import git
from tui_fakes import Script, ScriptedEngine
from tui_pilot import run, until  # noqa: E402

from dgcode.engine.unmasking import SamplerSettings
from dgcode.tui.app import DgcodeApp
from dgcode.tui.widgets.transcript import Note
from dgcode.workflows.chat.mentions import (
    RepoFiles,
    complete_mention,
    fuzzy_score,
    mention_at,
    mentioned_paths,
    rank_paths,
)

SETTINGS = SamplerSettings(max_tokens=128, sub_block_size=8, canvas_size=32)
PATHS = ["src/app.py", "apps/legacy/old_path.py", "a_p_p.txt", "docs/mapping.md", "tests/test_app.py",
         "README.md"]


@pytest.fixture
def repo(tmp_path):
    """Tracked src/app.py and README.md, an untracked notes.txt, an ignored build/out.py and a .dgcodeignore'd key."""
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "build").mkdir()
    git(root, "init", "-q")
    (root / "src" / "app.py").write_text("def main():\n    pass\n")
    (root / "README.md").write_text("# demo\n")
    (root / ".gitignore").write_text("build/\n")
    (root / ".dgcodeignore").write_text("secret.key\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    (root / "notes.txt").write_text("todo\n")
    (root / "build" / "out.py").write_text("x = 1\n")
    (root / "secret.key").write_text("hunter2\n")
    return root


def test_repo_files_are_tracked_and_untracked_but_never_ignored(repo):
    files = RepoFiles(repo).files()
    assert set(files) == {".dgcodeignore", ".gitignore", "README.md", "notes.txt", "src/app.py"}
    assert RepoFiles(None).files() == []


def test_repo_files_are_listed_again_when_old(repo):
    listing = RepoFiles(repo, refresh_s=3600)
    assert "new.py" not in listing.files()
    (repo / "new.py").write_text("")
    assert "new.py" not in listing.files(), "a fresh list is reused"
    assert "new.py" in RepoFiles(repo, refresh_s=0).files()


def test_fuzzy_score_needs_a_subsequence_and_prefers_the_file_name():
    assert fuzzy_score("xyz", "src/app.py") is None
    assert fuzzy_score("APP", "src/app.py") is not None, "case does not matter"
    assert fuzzy_score("app", "src/app.py") > fuzzy_score("app", "apps/legacy/old_path.py"), "name over folder"
    assert fuzzy_score("app", "src/app.py") > fuzzy_score("app", "tests/test_app.py"), "name start over inside"
    assert fuzzy_score("app", "tests/test_app.py") > fuzzy_score("app", "docs/mapping.md"), "a word of the name"
    assert fuzzy_score("app", "a_p_p.txt") > fuzzy_score("app", "apps/legacy/old_path.py"), "name over path"


def test_rank_paths_orders_by_score_then_length():
    assert rank_paths("app", PATHS) == ["src/app.py", "tests/test_app.py", "docs/mapping.md", "a_p_p.txt",
                                        "apps/legacy/old_path.py"]
    assert rank_paths("", PATHS, limit=2) == ["README.md", "a_p_p.txt"], "nothing typed: the shortest paths"
    assert rank_paths("zzz", PATHS) == []


def test_mention_at_the_cursor():
    assert mention_at("look at @sr", 11) == (8, "sr")
    assert mention_at("@", 1) == (0, "")
    assert mention_at("mail me@example.com", 19) is None, "an @ inside a word is not a mention"
    assert mention_at("look at @src/app.py now", 23) is None, "the cursor is past the mention"
    assert mention_at("look at @src now", 12) == (8, "src")


def test_complete_mention_replaces_the_mention_and_names_the_file_to_add():
    asked = []

    def files():
        asked.append(1)
        return PATHS

    assert complete_mention("no mention here", 15, files) == [] and asked == [], "files listed only when needed"
    first = complete_mention("fix @app please", 8, files)[0]
    assert first.value == "fix @src/app.py please" and first.add == "src/app.py"
    assert first.value[:first.cursor] == "fix @src/app.py "
    at_end = complete_mention("see @READ", 9, files)[0]
    assert at_end.value == "see @README.md " and at_end.cursor == len(at_end.value)


def test_mentioned_paths_are_known_files_only():
    text = "compare @src/app.py, @README.md and @property or @nope.py; mail a@b.c (@src/app.py again)"
    assert mentioned_paths(text, PATHS) == ["src/app.py", "README.md"]


# --- in the app ---------------------------------------------------------------------------------------


def test_typing_at_offers_files_and_tab_adds_one_to_the_context(repo):
    engine = ScriptedEngine(Script("Looked."), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            bar = app.main.prompt
            await pilot.press(*"explain @")
            shown = [c.label for c in bar.completions.completions]
            assert shown[:2] == ["README.md", "notes.txt"], "nothing typed yet: the shortest paths first"
            assert "src/app.py" in shown and "build/out.py" not in shown and "secret.key" not in shown
            await pilot.press(*"ap")
            assert bar.completions.completions[0].label == "src/app.py"
            await pilot.press("tab")
            assert bar.input.text == "explain @src/app.py "
            assert bar.cursor_index == len(bar.input.text) and not bar.completions.shown
            assert app.main.panel.files == ("src/app.py",)
            assert any("added src/app.py" in n.text for n in app.main.transcript.query(Note))
            await pilot.press(*"please")
            await pilot.press("enter")
            await until(pilot, lambda: engine.prompts and not app.main.answering, what="the answer")
            sent = "\n".join(m["content"] for m in engine.prompts[0])
            assert "def main():" in sent and sent.endswith("explain @src/app.py please")

    run(scenario)


def test_a_mention_in_the_middle_of_the_text_keeps_what_follows(repo):
    async def scenario():
        app = DgcodeApp(repo, engine=ScriptedEngine(), settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            bar = app.main.prompt
            bar.set_text("read  and fix it", cursor=5)
            await pilot.press("@", *"rea")
            assert bar.completions.completions[0].label == "README.md"
            await pilot.press("tab")
            assert bar.input.text == "read @README.md and fix it"
            assert bar.cursor_index == len("read @README.md ")
            assert app.main.panel.files == ("README.md",)

    run(scenario)


def test_files_mentioned_in_a_sent_message_join_the_context(repo):
    engine = ScriptedEngine(Script("Ok."), delay=0.001)

    async def scenario():
        app = DgcodeApp(repo, engine=engine, settings=SETTINGS)
        async with app.run_test(size=(100, 30)) as pilot:
            app.main.prompt.set_text("see @notes.txt, and @property is not a file")
            await pilot.press("escape", "enter")  # hide the picker, then send
            await until(pilot, lambda: engine.prompts and not app.main.answering, what="the answer")
            assert app.main.panel.files == ("notes.txt",)
            assert "todo" in "\n".join(m["content"] for m in engine.prompts[0])

    run(scenario)
