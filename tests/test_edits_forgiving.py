"""SEARCH/REPLACE as forgiving as it is safe: each habit of small models applies exactly, and the dangerous stay refused.

The cases (tests/edit_answer_cases.py) run through ``apply_response`` in real
git repositories in temp folders, as ``dgcode apply`` and ``fix`` use it.
"""

from __future__ import annotations

import pytest
from edit_answer_cases import CASES, run_case
from repo_helpers import git

from dgcode.edits.apply import apply_response


def make_repo(root, files: dict[str, str]) -> None:
    git(root, "init", "-q")
    for path, text in files.items():
        (root / path).write_text(text)
    if files:
        git(root, "add", ".")
        git(root, "commit", "-qm", "init")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_answer_case(case, tmp_path):
    make_repo(tmp_path, case.files)
    ok, detail = run_case(case, tmp_path)
    assert ok, detail


def test_forgiven_edits_say_what_was_forgiven(tmp_path):
    make_repo(tmp_path, {"a.py": "def f():\n    x = 1\n    y = 2\n    return x + y\n"})
    answer = ("a.py\n<<<<<<< SEARCH\n\ndef f():\n...\n    return x + y\n=======\ndef g():\n...\n    return x * y\n"
              ">>>>>>> REPLACE\n")
    report = apply_response(tmp_path, answer)
    assert not report.ok  # a blank first line AND an elision: only one forgiveness at a time
    answer = "a.py\n<<<<<<< SEARCH\ndef f():\n...\n    return x + y\n=======\ndef g():\n...\n    return x * y\n" \
             ">>>>>>> REPLACE\n"
    report = apply_response(tmp_path, answer)
    assert report.ok, report.edit_results()
    assert report.edit_results()[0]["note"] == "matched 2 pieces around '...' elisions"
    assert (tmp_path / "a.py").read_text() == "def g():\n    x = 1\n    y = 2\n    return x * y\n"


def test_a_file_with_real_ellipsis_lines_matches_them_literally(tmp_path):
    stub = "class P:\n    def f(self):\n        ...\n\n    def g(self):\n        ...\n"
    make_repo(tmp_path, {"p.py": stub})
    answer = "p.py\n<<<<<<< SEARCH\n    def g(self):\n        ...\n=======\n    def g(self):\n        return 1\n" \
             ">>>>>>> REPLACE\n"
    report = apply_response(tmp_path, answer)
    assert report.ok and report.edit_results()[0]["note"] == ""
    assert (tmp_path / "p.py").read_text() == stub.replace("    def g(self):\n        ...\n",
                                                             "    def g(self):\n        return 1\n")
