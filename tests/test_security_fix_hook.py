"""`dgcode fix` and the pre-commit hook on failures that must not pass silently (RELIABILITY #23, #24).

* a file the person names that cannot be read is an error (exit 2, a clear
  message), never "skipped ... nothing to repair" with exit 0;
* the hook stops the commit when the person's check fails and dgcode cannot
  try a fix, because no model is configured or the staged files do not fit
  in the model's context: a failing check is a verdict, not dgcode's own
  failure (a configured model that is missing or broken still fails open,
  see test_hook_commit.py);
* "nothing was written" is said once when an apply is refused (here: a merge
  with unmerged paths, where no snapshot can be taken).

Everything runs on real repositories: `dgcode fix` and `git commit` as
subprocesses, the hook with the real engine on a tiny random-weight GGUF.
Tests run as root, where `chmod 000` does not stop reading, so the unreadable
cases run dgcode without CAP_DAC_OVERRIDE (`setpriv`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import REAL_GIT, GitShim, init_repo, real_git  # noqa: E402
from test_fix_syntax import NO_COLON, ColonRepairer  # noqa: E402
from test_hook_support import CHECK, base_repo, git_commit, head, install_hook, write_settings  # noqa: E402

from dgcode.vcs.snapshot import SnapshotError, take_snapshot  # noqa: E402
from dgcode.workflows.fix.pipeline import FixRequest  # noqa: E402
from dgcode.workflows.fix.syntax import run_syntax_fix  # noqa: E402

SETPRIV = shutil.which("setpriv")
NO_DAC = [SETPRIV or "setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all", "--"]
needs_setpriv = pytest.mark.skipif(SETPRIV is None, reason="setpriv is not installed: as root, chmod 000 does not "
                                   "stop reading, and there is no other way here to drop CAP_DAC_OVERRIDE")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user config, model or SKIP from the person running the tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("DGCODE_DATA_DIR", str(tmp_path / "data"))
    for name in [n for n in os.environ if n.startswith("DGCODE_") and n not in ("DGCODE_CACHE_DIR",
                                                                               "DGCODE_DATA_DIR")] + ["SKIP"]:
        monkeypatch.delenv(name, raising=False)


def small_repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo")
    (repo / "base.txt").write_text("base\n")
    real_git(repo, "add", "base.txt")
    real_git(repo, "commit", "-q", "-m", "base")
    return repo


def dgcode_without_dac(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    """`dgcode ...` in ``repo`` as a root that file modes bind (no CAP_DAC_OVERRIDE / DAC_READ_SEARCH)."""
    return subprocess.run([*NO_DAC, sys.executable, "-m", "dgcode", *args], cwd=repo, capture_output=True,
                          text=True, timeout=120, check=False, env={**os.environ, **(env or {})})


# --- 1. a named file that cannot be read ------------------------------------------------------------------


@needs_setpriv
def test_fix_with_the_embedded_model_refuses_a_named_file_it_cannot_read(tmp_path: Path, git_shim: GitShim) -> None:
    repo = small_repo(tmp_path)
    broken = repo / "broken.py"
    broken.write_text(NO_COLON)
    broken.chmod(0o000)

    done = dgcode_without_dac(repo, "fix", "--yes", "broken.py")

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "error: cannot read broken.py: Permission denied" in " ".join(done.stderr.split()), done.stderr
    assert "no Python files to repair" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    broken.chmod(0o644)
    assert broken.read_text() == NO_COLON


@needs_setpriv
def test_fix_with_a_full_model_refuses_a_named_file_it_cannot_read(tmp_path: Path, git_shim: GitShim,
                                                                    models) -> None:
    repo = small_repo(tmp_path)
    (repo / "ok.py").write_text("X = 1\n")
    secret = repo / "secret.py"
    secret.write_text("def f():\n    return 1\n")
    secret.chmod(0o000)

    done = dgcode_without_dac(repo, "fix", "--yes", "-m", "make f return 2", "ok.py", "secret.py",
                              env={"DGCODE_MODEL": str(models["dream"]), "DGCODE_THREADS": "1"})

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "cannot read secret.py: Permission denied" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "loading model" not in done.stderr  # refused before any work
    secret.chmod(0o644)
    assert secret.read_text() == "def f():\n    return 1\n"


# --- 2 and 3. a failing check the hook cannot fix stops the commit -------------------------------------------


def failing_staged_repo(tmp_path: Path) -> tuple[Path, bytes]:
    """m.py staged with f() returning 7 (CHECK wants 2) and an unstaged change on top; the hook installed."""
    repo = base_repo(tmp_path / "repo")
    staged = b"def f():\n    return 7\n" + b"".join(b"X%d = %d  # padding that fills the prompt\n" % (i, i)
                                                     for i in range(120))
    (repo / "m.py").write_bytes(staged)
    real_git(repo, "add", "m.py")
    mine = staged + b"# unstaged\n"
    (repo / "m.py").write_bytes(mine)
    write_settings(repo, None)  # [fix] rounds; the check command comes from the environment (the user's own)
    install_hook(repo)
    return repo, mine


@pytest.mark.parametrize("strict", [False, True])
def test_a_failing_check_with_no_model_configured_stops_the_commit(tmp_path: Path, git_shim: GitShim,
                                                                    strict: bool) -> None:
    repo, mine = failing_staged_repo(tmp_path)
    write_settings(repo, None, strict=strict)
    commit_before = head(repo)

    done = git_commit(repo, "no model", {"DGCODE_FIX_CMD": CHECK})

    assert done.returncode == 1, done.stderr
    assert head(repo) == commit_before
    assert (f"dgcode: `{CHECK}` fails on the staged files (exit status 1), and no model is configured to try a "
            "fix (set `model = \"PATH.gguf\"` in .dgcode.toml or ~/.config/dgcode/config.toml, or DGCODE_MODEL). "
            "The commit was stopped.") in done.stderr
    assert "f() should be 2" in done.stderr  # the check's own output
    assert "warning:" not in done.stderr and "goes ahead" not in done.stderr
    assert (repo / "m.py").read_bytes() == mine


def test_a_failing_check_whose_files_do_not_fit_the_context_stops_the_commit(tmp_path: Path, git_shim: GitShim,
                                                                              models) -> None:
    repo, mine = failing_staged_repo(tmp_path)
    commit_before = head(repo)
    env = {"DGCODE_FIX_CMD": CHECK, "DGCODE_MODEL": str(models["dream"]), "DGCODE_N_CTX": "256",
           "DGCODE_THREADS": "1", "DGCODE_MAX_TOKENS": "8", "DGCODE_SUB_BLOCK": "8", "DGCODE_HOOK_BUDGET_S": "110"}

    done = git_commit(repo, "too big", env)

    assert done.returncode == 1, done.stderr
    assert head(repo) == commit_before
    assert (f"dgcode: `{CHECK}` fails on the staged files (exit status 1), and dgcode could not fix it: the staged "
            "files do not fit in the model's context: prompt of ") in done.stderr, done.stderr
    assert "but the context holds 256" in done.stderr and "The commit was stopped." in done.stderr
    assert "f() should be 2" in done.stderr
    assert "warning:" not in done.stderr and "goes ahead" not in done.stderr
    assert "loading model dream.gguf" in done.stderr  # the real engine counted the prompt
    assert (repo / "m.py").read_bytes() == mine


# --- 4. "nothing was written", once ------------------------------------------------------------------------


def test_a_refused_apply_during_a_conflicted_merge_says_nothing_was_written_once(tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    (repo / "c.txt").write_text("base\n")
    real_git(repo, "add", "c.txt")
    real_git(repo, "commit", "-q", "-m", "c")
    branch = real_git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    real_git(repo, "checkout", "-q", "-b", "side")
    (repo / "c.txt").write_text("side\n")
    real_git(repo, "commit", "-q", "-am", "side")
    real_git(repo, "checkout", "-q", branch)
    (repo / "c.txt").write_text("main\n")
    real_git(repo, "commit", "-q", "-am", "main")
    merged = subprocess.run([REAL_GIT, "-c", "user.name=t", "-c", "user.email=t@example.com", "merge", "side"],
                            cwd=repo, capture_output=True, check=False)
    assert merged.returncode != 0 and (repo / ".git" / "MERGE_HEAD").exists()
    (repo / "broken.py").write_text(NO_COLON)
    with pytest.raises(SnapshotError) as refused:
        take_snapshot(repo)  # what the apply will run into

    report = run_syntax_fix(FixRequest(repo, ("broken.py",)), ColonRepairer())

    assert report.status == "failed" and report.exit_code == 1
    assert report.message == f"nothing was written: {refused.value}"
    assert report.message.count("nothing was written") == 1
    assert (repo / "broken.py").read_text() == NO_COLON
