"""Edit path safety, after git's t4139-apply-escape: nothing outside the repository, no .git, no symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.paths import normalize_edit_path, resolve_edit_path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("x = 1\n")
    (root / ".git" / "hooks").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    return root


def refused(root: Path, raw: str) -> str:
    with pytest.raises(EditError) as caught:
        resolve_edit_path(root, raw)
    assert caught.value.code is ErrorCode.UNSAFE_PATH
    return str(caught.value)


@pytest.mark.parametrize(
    "raw, why",
    [
        ("../x", "contains '..'"),
        ("a/../../x", "contains '..'"),
        ("src/../a.py", "contains '..'"),
        ("..", "contains '..'"),
        ("/etc/passwd", "absolute path"),
        ("//etc/passwd", "absolute path"),
        ("C:/Windows/win.ini", "absolute path"),
        ("~/.bashrc", "starts with '~'"),
        ("src\\..\\..\\x", "backslash"),
        (".git/config", ".git folder"),
        (".git", ".git folder"),
        (".GIT/hooks/pre-commit", ".git folder"),
        ("./.Git/config", ".git folder"),
        ("sub/.git/config", ".git folder"),
        (".git./config", ".git folder"),
        (".git /config", ".git folder"),
        ("GIT~1/config", ".git folder"),
        (".g\u200cit/config", ".git folder"),
        ("", "empty"),
        ("   ", "empty"),
        ("a\x00b", "NUL byte"),
        ("a\nb", "control characters"),
        (".", "repository folder itself"),
        ("src/", "ends with '/'"),
    ],
)
def test_refused_by_name(repo: Path, raw: str, why: str) -> None:
    assert why in refused(repo, raw)


def test_symlinked_folder_pointing_outside(repo: Path) -> None:
    (repo / "link").symlink_to(repo.parent / "outside", target_is_directory=True)
    assert "'link' is a symbolic link" in refused(repo, "link/secret.txt")
    assert "'link' is a symbolic link" in refused(repo, "link/new.txt")
    assert not (repo.parent / "outside" / "new.txt").exists()


def test_symlinked_folder_pointing_inside_is_refused_too(repo: Path) -> None:
    (repo / "alias").symlink_to(repo / "src", target_is_directory=True)
    assert "symbolic link" in refused(repo, "alias/a.py")


def test_writing_onto_a_symlink(repo: Path) -> None:
    (repo / "evil.txt").symlink_to(repo.parent / "outside" / "secret.txt")
    assert "'evil.txt' is a symbolic link" in refused(repo, "evil.txt")
    (repo / "dangling").symlink_to(repo.parent / "outside" / "nothing-here")
    assert "symbolic link" in refused(repo, "dangling")


def test_file_used_as_folder_and_folder_as_file(repo: Path) -> None:
    assert "'src/a.py' is a file, not a folder" in refused(repo, "src/a.py/x")
    assert "'src' is a folder" in refused(repo, "src")


def test_fifo_is_not_a_regular_file(repo: Path) -> None:
    os.mkfifo(repo / "pipe")
    assert "not a regular file" in refused(repo, "pipe")


def test_accepted_paths_are_normalized(repo: Path) -> None:
    real_root = Path(os.path.realpath(repo))
    existing = resolve_edit_path(repo, "./src//a.py")
    assert existing.relative == "src/a.py" and existing.absolute == real_root / "src" / "a.py"
    new = resolve_edit_path(repo, "new/deep/file.py")
    assert new.relative == "new/deep/file.py" and new.absolute == real_root / "new" / "deep" / "file.py"
    assert resolve_edit_path(repo, ".github/workflows/ci.yml").relative == ".github/workflows/ci.yml"
    assert resolve_edit_path(repo, ".gitignore").relative == ".gitignore"
    assert resolve_edit_path(repo, "my file.py").relative == "my file.py"


def test_repository_root_reached_through_a_symlink_is_fine(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "root-link").symlink_to(repo, target_is_directory=True)
    assert resolve_edit_path(tmp_path / "root-link", "src/a.py").relative == "src/a.py"


def test_normalize_is_string_only() -> None:
    assert normalize_edit_path("a/./b") == "a/b"
