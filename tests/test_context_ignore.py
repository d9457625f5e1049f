"""What is never sent: the .dgcodeignore matcher checked against git itself, and the combined rules."""

from __future__ import annotations

import subprocess

from repo_helpers import git

from dgcode.context.ignore import IgnoreRules, PatternList, parse_patterns

PATTERNS = """\
# a comment
*.log
!keep.log
build/
/rooted.txt
docs/*.md
**/gen/**
a/**/z.txt
data?.csv
img[0-9].png
img[!0-9].jpg
nested/deep
deepdir
trail\\ 
\\#hash
\\!bang
cache/
!cache/wanted.txt
"""

FILES = [
    "app.log", "keep.log", "sub/app.log", "sub/keep.log", "build/out.o", "src/build/x.c", "build.txt",
    "rooted.txt", "sub/rooted.txt", "docs/a.md", "docs/sub/b.md", "other/docs/a.md", "gen/x.py", "p/gen/q/r.py",
    "gen.py", "a/z.txt", "a/b/c/z.txt", "b/a/z.txt", "data1.csv", "data12.csv", "img3.png", "imgx.png",
    "imgx.jpg", "img3.jpg", "nested/deep", "x/nested/deep", "deepdir/f.txt", "q/deepdir/g.txt", "trail ", "#hash", "!bang",
    "cache/wanted.txt", "cache/other.txt", "plain.py", "sub/dir/plain.py",
]


def test_matcher_agrees_with_git_on_every_file(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text(PATTERNS)
    for name in FILES:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    out = subprocess.run(["git", "ls-files", "-z", "--others", "--ignored", "--exclude-standard"], cwd=tmp_path,
                         check=True, capture_output=True).stdout
    by_git = {name for name in out.decode().split("\0") if name}
    matcher = PatternList(parse_patterns(PATTERNS, ".gitignore"))
    by_us = {name for name in FILES if matcher.match(name) is not None}
    assert by_us == by_git
    assert {"app.log", "build/out.o", "cache/wanted.txt", "trail "} <= by_git  # the oracle is not vacuous
    assert {"keep.log", "plain.py", "build.txt"}.isdisjoint(by_git)


def test_pattern_reports_where_it_came_from():
    matcher = PatternList(parse_patterns("# c\n\n*.env\nsecrets/\n", ".dgcodeignore"))
    assert matcher.match("prod.env").where == ".dgcodeignore:3 (*.env)"
    assert matcher.match("secrets/key.pem").where == ".dgcodeignore:4 (secrets/)"
    assert matcher.match("secrets") is None  # a file named like the folder is not a folder
    assert matcher.match("secrets", is_dir=True) is not None


def test_rules_combine_gitignore_and_dgcodeignore(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("*.log\n!keep.log\n")
    (tmp_path / ".dgcodeignore").write_text("fixtures/\nconfig/prod.toml\n")
    for name in ("a.log", "keep.log", "tracked.log", "fixtures/big.json", "config/prod.toml", "src/main.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    git(tmp_path, "add", "-f", "tracked.log", "config/prod.toml")
    rules = IgnoreRules(tmp_path)
    reasons = rules.reasons(["a.log", "keep.log", "tracked.log", "fixtures/big.json", "config/prod.toml",
                             "src/main.py"])
    assert reasons == {
        "a.log": "ignored by .gitignore:1 (*.log)",
        "fixtures/big.json": "ignored by .dgcodeignore:1 (fixtures/)",
        # tracked, yet .dgcodeignore still keeps it from the model
        "config/prod.toml": "ignored by .dgcodeignore:2 (config/prod.toml)",
    }
    # a tracked file is part of the project for git, so .gitignore does not hide it
    assert "tracked.log" not in reasons
    assert rules.filter(["fixtures/big.json", "src/main.py"]) == ["src/main.py"]
