"""`dgcode fix --candidates K` in real git repositories: each candidate judged in a scratch copy, never in the
user's files; a hanging one stopped by the time bound; the first that passes offered; none passing writes nothing.

The random-weight test models cannot write a passing fix, so the workflow tests use a scripted engine (queued
answers behind the same ``generate_candidates`` seam); the last tests run the real engine end to end.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import git_shim, init_repo, real_git, repo_state  # noqa: E402, F401

from dgcode.cli import fix as cli_fix  # noqa: E402
from dgcode.workflows.fix.candidates import run_candidates  # noqa: E402
from dgcode.workflows.fix.pipeline import FixRequest  # noqa: E402
from dgcode.workflows.fix.report import Answer  # noqa: E402
from dgcode.workflows.fix.scratch_tree import ScratchTree  # noqa: E402

PYTHON = shlex.quote(sys.executable)
# The check needs the uncommitted line in m.py and the untracked helper.py: it passes in a scratch copy only if
# the copy holds the working tree as it is, not HEAD.
CHECK = f"{PYTHON} -c \"import m, helper; assert m.WORKING == 1; assert m.f() == helper.WANT, 'f() is wrong'\""
runner = CliRunner()


def edit(old: str, new: str) -> str:
    return f"m.py\n```python\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n```\n"


WRONG = "Returns 3.\n\n" + edit("    return 1\n", "    return 3\n")
HANGS = ("Loops.\n\n" + edit("    return 1\n", "    import os, pathlib\n    pathlib.Path(os.environ['PID_FILE'])"
                                            ".write_text(str(os.getpid()))\n    while True:\n        pass\n"))
RIGHT = "Returns 2.\n\n" + edit("    return 1\n", "    return 2\n")
ALSO_RIGHT = "Returns 4 // 2.\n\n" + edit("    return 1\n", "    return 4 // 2\n")
NO_EDITS = "I would rewrite the whole thing."


@dataclass
class ScriptedCandidates:
    """A FixEngine with ``generate_candidates`` that replays one queued list of K answers."""

    answers: list[str]
    asked: list[int] = field(default_factory=list)
    closed: bool = False

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate_candidates(self, messages, settings, k, on_step=None, say=None):
        self.asked.append(k)
        assert len(self.answers) == k, "the test queues exactly K answers"
        for index in range(k):
            if on_step is not None:
                on_step(SimpleNamespace(step=1, answer_final=1, elapsed_s=0.01, candidate=index))
        answers = [Answer(text, len(text.split()), 1, "eos", 1.0, 0.01) for text in self.answers]
        return answers, {"prompt_tokens": 50, "prefill_tokens": 49, "decode_calls": 3, "batch_steps": 1,
                         "wall_s": 0.01}

    def close(self) -> None:
        self.closed = True


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a killed one not yet reaped by its new parent is a zombie: not running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file of the working tree (not .git), byte for byte."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # the checks must not leave caches in the user's tree
    monkeypatch.setenv("PID_FILE", str(tmp_path / "hung.pid"))
    root = init_repo(tmp_path / "repo")
    (root / "m.py").write_text("def f():\n    return 1\n")
    (root / ".gitignore").write_text("ignored.txt\n")
    real_git(root, "add", ".")
    real_git(root, "commit", "-q", "-m", "base")
    (root / "m.py").write_text("WORKING = 1  # uncommitted\n\n\ndef f():\n    return 1\n")
    (root / "helper.py").write_text("WANT = 2\n")  # untracked, not ignored
    (root / "ignored.txt").write_text("not copied\n")
    return root


def request(repo: Path, k: int, timeout_s: float = 60.0, **overrides) -> FixRequest:
    return FixRequest(repo, ("m.py",), command=CHECK, command_timeout_s=timeout_s, candidates=k, **overrides)


def test_the_scratch_tree_is_the_working_tree_as_it_is(repo: Path) -> None:
    with ScratchTree(repo) as tree:
        copied = tree_bytes(tree.root)
        assert tree.root.name == repo.name and not (tree.root / ".git").exists()
    assert copied == {name: data for name, data in tree_bytes(repo).items() if name != "ignored.txt"}
    assert not tree.root.exists()  # removed afterwards


def test_the_users_files_are_untouched_until_the_first_passing_candidate_is_accepted(repo: Path) -> None:
    before_bytes, before_state = tree_bytes(repo), repo_state(repo)
    seen = []

    def confirm(changes):
        seen.append((changes, tree_bytes(repo), repo_state(repo)))
        return True

    engine = ScriptedCandidates([WRONG, NO_EDITS, RIGHT, ALSO_RIGHT])
    report = run_candidates(request(repo, 4), engine, confirm=confirm)
    assert engine.asked == [4]
    assert [v.verdict for v in report.candidates] == ["failed", "edits_did_not_apply", "passed", "passed"]
    assert report.candidates[0].run.exit_code == 1 and "f() is wrong" in report.candidates[0].run.output
    # the review saw candidate 3, the first that passed, while the user's files were still as they were
    (changes, bytes_then, state_then), = seen
    assert report.offered == 3 and [c.path for c in changes] == ["m.py"] and b"return 2" in changes[0].new_bytes
    assert bytes_then == before_bytes and state_then == before_state
    assert report.status == "fixed" and report.exit_code == 0, report.message
    assert (repo / "m.py").read_text() == "WORKING = 1  # uncommitted\n\n\ndef f():\n    return 2\n"
    assert report.files_changed == ["m.py"] and report.final_command.passed
    document = report.to_json()
    assert [c["verdict"] for c in document["candidates"]] == ["failed", "edits_did_not_apply", "passed", "passed"]
    assert "+    return 4 // 2" in document["candidates"][3]["changes"][0]["diff"]
    assert document["candidate_run"]["offered"] == 3 and document["candidate_run"]["prefill_tokens"] == 49


def test_declining_the_offered_candidate_writes_nothing(repo: Path) -> None:
    before_bytes, before_state = tree_bytes(repo), repo_state(repo)
    report = run_candidates(request(repo, 2), ScriptedCandidates([RIGHT, WRONG]), confirm=lambda _c: False)
    assert report.status == "not_applied" and report.exit_code == 1 and report.offered == 1
    assert tree_bytes(repo) == before_bytes and repo_state(repo) == before_state


def test_a_hanging_candidate_is_stopped_by_the_time_bound(repo: Path, tmp_path: Path) -> None:
    report = run_candidates(request(repo, 3, timeout_s=3.0), ScriptedCandidates([HANGS, WRONG, RIGHT]))
    hung = report.candidates[0]
    assert hung.verdict == "timed_out" and hung.run.timed_out and hung.run.exit_code is None
    assert hung.describe().startswith("timed out")
    pid = int((tmp_path / "hung.pid").read_text())  # the hanging code really ran, in the scratch copy ...
    assert not running(pid)  # ... and was killed
    assert [v.verdict for v in report.candidates] == ["timed_out", "failed", "passed"]
    assert report.status == "fixed" and "return 2" in (repo / "m.py").read_text()


def test_none_passing_writes_nothing_and_saves_every_diff(repo: Path) -> None:
    before_bytes, before_state = tree_bytes(repo), repo_state(repo)
    confirmed = []
    report = run_candidates(request(repo, 3), ScriptedCandidates([WRONG, NO_EDITS, WRONG.replace("3", "5")]),
                            confirm=confirmed.append)
    assert report.status == "failed" and report.exit_code == 1 and confirmed == []
    assert "none of the 3 candidates" in report.message and "nothing was written" in report.message
    assert tree_bytes(repo) == before_bytes and repo_state(repo) == before_state
    folder = Path(report.diff_folder)
    assert folder.is_relative_to(repo / ".git")  # dgcode's state folder, not the working tree
    assert "+    return 3" in Path(report.candidates[0].diff_file).read_text()
    assert "+    return 5" in Path(report.candidates[2].diff_file).read_text()
    assert "f() is wrong" in Path(report.candidates[0].log_file).read_text()
    assert (folder / "candidate-2.answer.txt").read_text() == NO_EDITS


def test_only_the_last_runs_diffs_are_kept(repo: Path) -> None:
    from dgcode.workflows.fix.candidates import KEEP_RUNS, _diff_folder

    folders = [_diff_folder(repo) for _ in range(KEEP_RUNS + 2)]
    assert sorted(p for p in folders[0].parent.iterdir()) == sorted(folders[2:])


def test_an_engine_without_batching_answers_in_turn(repo: Path) -> None:
    @dataclass
    class OneAtATime:
        answers: list[str]
        seeds: list[int] = field(default_factory=list)

        def count_tokens(self, text: str) -> int:
            return len(text.split())

        def generate(self, messages, settings, on_step=None):
            self.seeds.append(settings.seed)
            text = self.answers.pop(0)
            return Answer(text, 3, 1, "eos", 1.0, 0.01)

    engine = OneAtATime([WRONG, RIGHT])
    report = run_candidates(request(repo, 2, dry_run=True), engine)
    assert engine.seeds == [0, 1] and report.engine_counters["batched"] is False
    assert report.status == "proposed" and report.offered == 2
    assert "WORKING = 1" in (repo / "m.py").read_text() and "return 1" in (repo / "m.py").read_text()


# --- the command line ------------------------------------------------------------------------------------


@pytest.fixture
def cli_setup(repo: Path, tmp_path: Path, monkeypatch) -> Path:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DGCODE_MODEL", str(model))
    for name in ("DGCODE_FIX_CMD", "DGCODE_FIX_ROUNDS", "DGCODE_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
    return repo


def app_with(engine) -> typer.Typer:
    application = typer.Typer()
    application.command("noop")(lambda: None)
    cli_fix.register(application, open_engine=lambda config, say: engine)
    return application


def test_cli_json_lists_each_candidate_and_applies_the_first_passing(cli_setup: Path) -> None:
    engine = ScriptedCandidates([WRONG, RIGHT, ALSO_RIGHT])
    result = runner.invoke(app_with(engine), ["fix", "m.py", "--cmd", CHECK, "--candidates", "3", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "fixed" and document["files_changed"] == ["m.py"]
    assert [c["verdict"] for c in document["candidates"]] == ["failed", "passed", "passed"]
    assert all(Path(c["diff_file"]).is_file() for c in document["candidates"])
    assert document["candidate_run"]["k"] == 3 and document["candidate_run"]["offered"] == 2
    assert "return 2" in (cli_setup / "m.py").read_text() and engine.closed


def test_cli_summarises_each_candidate_and_says_where_the_diffs_are(cli_setup: Path) -> None:
    before = repo_state(cli_setup)
    result = runner.invoke(app_with(ScriptedCandidates([WRONG, NO_EDITS])),
                           ["fix", "m.py", "--cmd", CHECK, "--candidates", "2", "--yes"])
    assert result.exit_code == 1, result.output
    assert "candidate 1: failed (exit status 1)" in result.stdout
    assert "candidate 2: edits did not apply" in result.stdout
    assert "none of the 2 candidates" in result.stdout and ".git/dgcode/candidates/" in result.stdout
    assert repo_state(cli_setup) == before


def test_cli_asks_per_hunk_in_a_terminal(cli_setup: Path, monkeypatch) -> None:
    monkeypatch.setattr(cli_fix, "_stdin_is_terminal", lambda: True)
    result = runner.invoke(app_with(ScriptedCandidates([RIGHT, WRONG])),
                           ["fix", "m.py", "--cmd", CHECK, "--candidates", "2"], input="n\n")
    assert result.exit_code == 1, result.output
    assert "apply these edits" in result.stderr and "return 1" in (cli_setup / "m.py").read_text()


def test_cli_candidates_need_a_command(cli_setup: Path) -> None:
    result = runner.invoke(app_with(ScriptedCandidates([])), ["fix", "m.py", "--candidates", "2"])
    assert result.exit_code == 2 and "--candidates needs a check command" in result.stderr


def test_cli_real_engine_k_candidates_share_one_prefill_and_write_nothing(cli_setup: Path, models,
                                                                          monkeypatch) -> None:
    """Random weights answer noise: no candidate applies, nothing is written, the prompt was prefilled once."""
    monkeypatch.setenv("DGCODE_MODEL", str(models["dream"]))
    monkeypatch.setenv("DGCODE_N_CTX", "2048")
    monkeypatch.setenv("DGCODE_THREADS", "1")
    monkeypatch.setenv("DGCODE_SUB_BLOCK", "8")
    monkeypatch.setenv("DGCODE_MAX_TOKENS", "16")
    application = typer.Typer()
    application.command("noop")(lambda: None)
    cli_fix.register(application)  # the real EngineClient
    before_bytes, before_state = tree_bytes(cli_setup), repo_state(cli_setup)
    result = runner.invoke(application, ["fix", "m.py", "--cmd", CHECK, "--candidates", "3", "--yes", "--json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "failed" and document["files_changed"] == []
    assert [c["verdict"] for c in document["candidates"]] == ["edits_did_not_apply"] * 3
    run = document["candidate_run"]
    assert run["batched"] is True and run["prefill_tokens"] == run["prompt_tokens"] - 1  # dream: once, less lead
    assert all(c["generation"]["tokens"] > 0 for c in document["candidates"])
    assert tree_bytes(cli_setup) == before_bytes and repo_state(cli_setup) == before_state
