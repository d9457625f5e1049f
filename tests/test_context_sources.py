"""Editor context from a real git repository: files, line ranges, selections, git state, what is left out."""

from __future__ import annotations

import os

import pytest
from repo_helpers import git

from dgcode.context.errors import ContextError
from dgcode.context.gitstate import read_git_state
from dgcode.context.sources import FileSpec, LineRange, gather_context, parse_file_spec, parse_line_range


def write(root, name, data):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    write(root, "src/a.py", "".join(f"line {n}\n" for n in range(1, 31)))
    write(root, "src/b.py", "def b():\n    return 2\n")
    write(root, ".gitignore", "*.env\n")
    write(root, ".dgcodeignore", "fixtures/\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    return root


@pytest.mark.parametrize("spec, expected", [
    ("src/a.py:10-40", FileSpec("src/a.py", LineRange(10, 40))),
    ("src/a.py:7", FileSpec("src/a.py", LineRange(7, 7))),
    ("src/a.py", FileSpec("src/a.py")),
    ("odd:name.py", FileSpec("odd:name.py")),
    ("/abs/path/x.rs:3-3", FileSpec("/abs/path/x.rs", LineRange(3, 3))),
])
def test_file_specs_parse(spec, expected):
    assert parse_file_spec(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("src/a.py:0", "line numbers start at 1"),
    ("src/a.py:0-4", "line numbers start at 1"),
    ("src/a.py:40-10", "ends (line 10) before it starts (line 40)"),
    ("src/a.py:", "bad line range ''"),
    ("src/a.py:3-x", "bad line range '3-x'"),
    ("src/a.py:-2", "bad line range '-2'"),
    ("src/a.py:1-2-3", "bad line range '1-2-3'"),
    ("", "empty file name"),
])
def test_bad_specs_are_refused_with_a_reason(spec, message):
    with pytest.raises(ContextError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_file_spec(spec)


def test_line_range_text():
    assert str(parse_line_range("5")) == "5" and str(parse_line_range("5-9")) == "5-9"


def test_whole_files_and_ranges_are_read(repo):
    context = gather_context(repo, files=["src/a.py:2-4", "src/b.py"], instruction="go", include_git=False)
    part, whole = context.files
    assert (part.path, part.text, part.lines, part.total_lines) == ("src/a.py", "line 2\nline 3\nline 4\n",
                                                                   LineRange(2, 4), 30)
    assert (whole.path, whole.text, whole.lines) == ("src/b.py", "def b():\n    return 2\n", None)
    assert context.instruction == "go" and context.skipped == () and context.git is None


def test_a_whole_file_covers_its_ranges_and_duplicates_collapse(repo):
    context = gather_context(repo, files=["src/a.py:2-4", "src/b.py", "src/a.py", "src/b.py"], include_git=False)
    assert [(f.path, f.lines) for f in context.files] == [("src/b.py", None), ("src/a.py", None)]


def test_range_past_the_end_names_the_line_count(repo):
    with pytest.raises(ContextError, match=r"bad line range 25-31 for src/a.py: the file has 30 line"):
        gather_context(repo, files=["src/a.py:25-31"], include_git=False)


def test_unparsable_suffix_on_an_existing_file_is_a_range_error(repo):
    with pytest.raises(ContextError, match="bad line range 'ten' in 'src/a.py:ten'"):
        gather_context(repo, files=["src/a.py:ten"], include_git=False)


def test_paths_relative_to_cwd_and_absolute_inside_the_repo(repo):
    context = gather_context(repo, files=["b.py", str(repo / "src/a.py") + ":1"], cwd=repo / "src",
                             include_git=False)
    assert [(f.path, f.text) for f in context.files] == [("src/b.py", "def b():\n    return 2\n"),
                                                         ("src/a.py", "line 1\n")]


@pytest.mark.parametrize("name, message", [
    ("../outside.py", "outside the repository"),
    ("link.py", "outside the repository"),
    (".git/config", "inside .git/"),
    ("nope.py", "no such file"),
    ("src", "is a folder"),
])
def test_paths_that_cannot_be_sent_raise(repo, tmp_path, name, message):
    write(tmp_path, "outside.py", "secret = 1\n")
    os.symlink(tmp_path / "outside.py", repo / "link.py")
    with pytest.raises(ContextError, match=message):
        gather_context(repo, files=[name], include_git=False)


def test_unsuitable_files_are_left_out_with_one_message_each(repo):
    write(repo, "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(repo, "big.txt", "x" * 5000)
    write(repo, "latin1.txt", "caf\xe9\n".encode("latin-1"))
    write(repo, "prod.env", "TOKEN=secret\n")
    write(repo, "fixtures/data.json", "{}\n")
    write(repo, "bom.txt", b"\xef\xbb\xbfhello\r\nworld\r\n")
    context = gather_context(repo, files=["logo.png", "big.txt", "latin1.txt", "prod.env", "fixtures/data.json",
                                          "bom.txt", "src/b.py"], max_file_bytes=1000, include_git=False)
    assert [f.path for f in context.files] == ["bom.txt", "src/b.py"]
    assert context.files[0].text == "hello\nworld\n"  # BOM dropped, CRLF shown as LF
    assert context.notes == [
        "prod.env: ignored by .gitignore:1 (*.env); left out",
        "fixtures/data.json: ignored by .dgcodeignore:1 (fixtures/); left out",
        "logo.png: looks binary (NUL byte in its first 8,000 bytes); left out",
        "big.txt: 5,000 bytes, over the 1,000-byte limit; left out",
        "latin1.txt: not valid UTF-8 (byte 0xe9 at offset 3); left out",
    ]
    sent = "".join(f.text for f in context.files)
    assert "secret" not in sent and "{}" not in sent


def test_selection_from_the_file_or_from_the_editor(repo):
    from_file = gather_context(repo, selection="src/a.py:3-4", include_git=False).selection
    assert (from_file.path, from_file.lines, from_file.text) == ("src/a.py", LineRange(3, 4), "line 3\nline 4\n")
    edited = gather_context(repo, selection="src/a.py:3-4", selection_text="unsaved\r\ntext",
                            include_git=False).selection
    assert edited.text == "unsaved\ntext"


def test_selection_needs_a_range_and_respects_ignores(repo):
    with pytest.raises(ContextError, match="has no line range"):
        gather_context(repo, selection="src/a.py", include_git=False)
    write(repo, "prod.env", "TOKEN=secret\n")
    context = gather_context(repo, selection="prod.env:1", selection_text="TOKEN=secret", include_git=False)
    assert context.selection is None
    assert context.notes == ["prod.env: ignored by .gitignore:1 (*.env); left out"]


def test_git_state_has_staged_unstaged_and_untracked(repo):
    write(repo, "src/a.py", "line 1 staged\n" + "".join(f"line {n}\n" for n in range(2, 31)))
    git(repo, "add", "src/a.py")
    write(repo, "src/b.py", "def b():\n    return 3\n")
    write(repo, "src/new.py", "print('new')\n")
    write(repo, "local.env", "TOKEN=x\n")
    write(repo, "fixtures/f.json", "{}\n")
    context = gather_context(repo, instruction="review")
    state = context.git
    assert "+line 1 staged" in state.staged and "src/b.py" not in state.staged
    assert "+    return 3" in state.unstaged and "src/a.py" not in state.unstaged
    assert state.untracked == ("src/new.py",)  # gitignored and dgcodeignored files are not listed
    assert not state.is_clean


def test_git_state_of_a_clean_repo_and_of_one_without_commits(repo, tmp_path):
    assert read_git_state(repo).is_clean
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    write(fresh, "first.py", "x = 1\n")
    git(fresh, "add", "first.py")
    assert "+x = 1" in read_git_state(fresh).staged


def test_dgcodeignored_changes_stay_out_of_the_diffs(repo):
    git(repo, "rm", "-q", "--cached", ".dgcodeignore")
    write(repo, ".dgcodeignore", "fixtures/\nsrc/b.py\n")
    write(repo, "src/b.py", "def b():\n    return 'secret'\n")
    write(repo, "src/a.py", "changed\n")
    git(repo, "add", "src/b.py")
    write(repo, "src/b.py", "def b():\n    return 'secret2'\n")
    state = read_git_state(repo)
    assert "secret" not in state.staged + state.unstaged
    assert "+changed" in state.unstaged
    assert state.notes == ("staged changes to 1 file(s) excluded by .dgcodeignore left out",
                           "unstaged changes to 1 file(s) excluded by .dgcodeignore left out")


def test_a_huge_diff_is_cut_with_a_note(repo):
    write(repo, "src/a.py", "".join(f"changed line {n}\n" for n in range(1, 400)))
    state = read_git_state(repo, max_diff_chars=500)
    assert len(state.unstaged) < 600 and "unstaged diff cut at" in state.unstaged
    assert state.notes and state.notes[0].startswith("unstaged diff is ")


def test_outside_a_repository_is_a_clear_error(tmp_path):
    with pytest.raises(ContextError, match="not inside a git repository"):
        gather_context(tmp_path, files=[])
