"""Edit-block parser: literal model outputs, malformed ones, and truncation at every byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgcode.edits.markup import fence_of, is_marker, path_from_line
from dgcode.edits.parser import (
    ParseResult,
    SearchReplaceEdit,
    WholeFileEdit,
    parse_response,
)

TWO_FILES = """I'll make `greet` take a name and add a test.

dgcode/hello.py
```python
<<<<<<< SEARCH
def greet():
    return "hello"
=======
def greet(name):
    return f"hello {name}"
>>>>>>> REPLACE
```

Then update the caller in the same file:

```python
<<<<<<< SEARCH
print(greet())
=======
print(greet("world"))
>>>>>>> REPLACE
```

**tests/test_hello.py**
```python
<<<<<<< SEARCH
=======
from dgcode.hello import greet


def test_greet():
    assert greet("a") == "hello a"
>>>>>>> REPLACE
```

`docs/notes.md`:
```
<<<<<<< SEARCH
Old — ünïcödé line
=======
New — ünïcödé line ✓
>>>>>>> REPLACE
```
That's all.
"""

TWO_FILES_EDITS = [
    SearchReplaceEdit(
        "dgcode/hello.py", 'def greet():\n    return "hello"\n', 'def greet(name):\n    return f"hello {name}"\n', 1
    ),
    SearchReplaceEdit("dgcode/hello.py", "print(greet())\n", 'print(greet("world"))\n', 2),
    SearchReplaceEdit(
        "tests/test_hello.py",
        "",
        'from dgcode.hello import greet\n\n\ndef test_greet():\n    assert greet("a") == "hello a"\n',
        3,
    ),
    SearchReplaceEdit("docs/notes.md", "Old — ünïcödé line\n", "New — ünïcödé line ✓\n", 4),
]


def test_parses_blocks_for_several_files_with_and_without_names() -> None:
    result = parse_response(TWO_FILES)
    assert result == ParseResult(tuple(TWO_FILES_EDITS), ())
    assert result.edits[2].creates_file


def test_block_without_fence() -> None:
    text = "a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n"
    assert parse_response(text).edits == (SearchReplaceEdit("a.py", "x = 1\n", "x = 2\n", 1),)


def test_several_blocks_inside_one_fence_share_the_name() -> None:
    text = (
        "a.py\n```python\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n"
        "<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n```\n"
    )
    result = parse_response(text)
    assert [(e.path, e.search, e.replace, e.index) for e in result.edits] == [
        ("a.py", "a\n", "b\n", 1),
        ("a.py", "c\n", "d\n", 2),
    ]


def test_crlf_response_and_aider_marker_variants() -> None:
    text = "a.py\r\n```\r\n<<<<<<<<< SEARCH\r\nold\r\n=====\r\nnew\r\n>>>>> REPLACE\r\n```\r\n"
    assert parse_response(text).edits == (SearchReplaceEdit("a.py", "old\n", "new\n", 1),)


def test_name_on_fence_line_and_blank_line_before_fence() -> None:
    text = (
        "```src/x.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n\n"
        "src/y.py\n\n```python\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n```\n"
    )
    assert [e.path for e in parse_response(text).edits] == ["src/x.py", "src/y.py"]


def test_empty_replace_deletes_lines() -> None:
    text = "a.py\n<<<<<<< SEARCH\ndrop me\n=======\n>>>>>>> REPLACE\n"
    assert parse_response(text).edits == (SearchReplaceEdit("a.py", "drop me\n", "", 1),)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("src/a.py", "src/a.py"),
        ("**src/a.py**", "src/a.py"),
        ("`src/a.py`:", "src/a.py"),
        ("src/a.py:", "src/a.py"),
        ("### src/a.py", "src/a.py"),
        ("**`src/a.py`**:", "src/a.py"),
        ("Makefile", "Makefile"),
        ("Here is the change for a.py:", None),
        ("Changes:", None),
        ("**Changes:**", None),
        ("`Makefile`:", "Makefile"),
        ("https://example.com/a.py", None),
        ("```", None),
        (">>>>>>> REPLACE", None),
        ("...", None),
        ("", None),
    ],
)
def test_name_line_recognition(line: str, expected: str | None) -> None:
    assert path_from_line(line) == expected


def test_prose_above_block_falls_back_to_previous_file() -> None:
    text = (
        "a.py\n<<<<<<< SEARCH\n1\n=======\n2\n>>>>>>> REPLACE\n\nNow also this:\n"
        "```python\n<<<<<<< SEARCH\n3\n=======\n4\n>>>>>>> REPLACE\n```\n"
    )
    assert [e.path for e in parse_response(text).edits] == ["a.py", "a.py"]


def test_block_with_no_file_name_is_a_problem() -> None:
    text = "Do this:\n```python\n<<<<<<< SEARCH\n1\n=======\n2\n>>>>>>> REPLACE\n```\n"
    result = parse_response(text)
    assert result.edits == ()
    assert result.problems == ("block 1 has no file name line before it; ignored",)


def test_closing_fence_of_an_earlier_code_block_is_not_a_name() -> None:
    text = "Run:\n```bash\nmake\n```\n<<<<<<< SEARCH\n1\n=======\n2\n>>>>>>> REPLACE\n"
    result = parse_response(text)
    assert result.edits == ()
    assert "no file name" in result.problems[0]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a.py\n<<<<<<< SEARCH\nx\n", "block 1 for a.py is incomplete: missing ======="),
        ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", "block 1 for a.py is incomplete: missing >>>>>>> REPLACE"),
        (
            "a.py\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n",
            "block 1 for a.py is malformed: line 4 is '>>>>>>> REPLACE' where ======= was expected",
        ),
        (
            "a.py\n<<<<<<< SEARCH\nx\n=======\ny\n=======\nz\n>>>>>>> REPLACE\n",
            "line 6 is '=======' where >>>>>>> REPLACE was expected",
        ),
        ("stray\n>>>>>>> REPLACE\n", "line 2: >>>>>>> REPLACE without a <<<<<<< SEARCH"),
    ],
)
def test_malformed_blocks_give_problems_and_no_edits(text: str, problem: str) -> None:
    result = parse_response(text)
    assert result.edits == ()
    assert len(result.problems) >= 1
    assert problem in result.problems[0]


def test_malformed_block_does_not_hide_a_later_good_one() -> None:
    text = "a.py\n<<<<<<< SEARCH\nx\n<<<<<<< SEARCH\ny\n=======\nz\n>>>>>>> REPLACE\n"
    result = parse_response(text)
    assert [(e.search, e.replace) for e in result.edits] == [("y\n", "z\n")]
    assert "malformed" in result.problems[0]


def test_second_incomplete_block_keeps_first() -> None:
    cut = TWO_FILES[: TWO_FILES.index('print(greet("world"))')]
    result = parse_response(cut)
    assert result.edits == (TWO_FILES_EDITS[0],)
    assert result.problems == ("block 2 for dgcode/hello.py is incomplete: missing >>>>>>> REPLACE",)


def test_search_replace_mode_ignores_plain_code_blocks() -> None:
    text = "Example:\n```python\nprint(1)\n```\n"
    assert parse_response(text) == ParseResult((), ())


WHOLE = """Here are the files.

src/a.py
```python
def f():
    return 1
```

**README.md**
````markdown
# Title

```bash
make
```
````
"""


def test_whole_file_mode() -> None:
    result = parse_response(WHOLE, mode="whole_file")
    assert result.problems == ()
    assert result.edits == (
        WholeFileEdit("src/a.py", "def f():\n    return 1\n", 1),
        WholeFileEdit("README.md", "# Title\n\n```bash\nmake\n```\n", 2),
    )


def test_whole_file_mode_problems() -> None:
    unnamed = parse_response("Look:\n```python\nx = 1\n```\n", mode="whole_file")
    assert unnamed.edits == () and "no file name" in unnamed.problems[0]
    markers = parse_response("a.py\n```\n<<<<<<< SEARCH\n=======\n>>>>>>> REPLACE\n```\n", mode="whole_file")
    assert markers.edits == () and "SEARCH/REPLACE markers" in markers.problems[0]
    cut = parse_response("a.py\n```python\nx = 1\n", mode="whole_file")
    assert cut.edits == () and cut.problems == ("file block 1 for a.py is incomplete: missing closing ```",)


def test_unknown_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_response("", mode="diff")  # type: ignore[arg-type]


def test_bytes_input_and_invalid_utf8() -> None:
    data = "a.py\n<<<<<<< SEARCH\nä\n=======\nö\n>>>>>>> REPLACE\n".encode()
    assert parse_response(data).edits == (SearchReplaceEdit("a.py", "ä\n", "ö\n", 1),)
    broken = parse_response(data + b"\xff\xfe more")
    assert len(broken.edits) == 1 and "not valid UTF-8" in broken.problems[0]


@pytest.mark.parametrize("mode, text", [("search_replace", TWO_FILES), ("whole_file", WHOLE)])
def test_truncated_at_every_byte_gives_only_complete_edits(mode: str, text: str) -> None:
    data = text.encode("utf-8")
    full = parse_response(data, mode=mode)  # type: ignore[arg-type]
    assert full.problems == ()
    seen_counts = set()
    for cut in range(len(data) + 1):
        result = parse_response(data[:cut], mode=mode)  # type: ignore[arg-type]
        # Every edit is one of the full edits, and they come as a prefix in order.
        assert result.edits == full.edits[: len(result.edits)], cut
        seen_counts.add(len(result.edits))
    assert seen_counts == set(range(len(full.edits) + 1))


@pytest.mark.parametrize("mode, text", [("search_replace", TWO_FILES), ("whole_file", WHOLE)])
def test_truncated_text_at_every_character(mode: str, text: str) -> None:
    full = parse_response(text, mode=mode)  # type: ignore[arg-type]
    for cut in range(len(text) + 1):
        edits = parse_response(text[:cut], mode=mode).edits  # type: ignore[arg-type]
        assert edits == full.edits[: len(edits)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["a.py", "\n", "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", "```", "x", " ", "\r", "**", ":"]
        )
    )
)
def test_parser_is_total_on_marker_soup(pieces: list[str]) -> None:
    text = "".join(pieces)
    for mode in ("search_replace", "whole_file"):
        result = parse_response(text, mode=mode)  # type: ignore[arg-type]
        assert isinstance(result, ParseResult)
        for edit in result.edits:
            assert edit.path


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_parser_is_total_on_random_bytes(data: bytes) -> None:
    assert isinstance(parse_response(data), ParseResult)
    assert isinstance(parse_response(data, mode="whole_file"), ParseResult)


CONTENT_LINE = st.text(alphabet=st.sampled_from(list("ab =<>`*:#\t") + ["é"]), max_size=8).filter(
    lambda line: not any(check(line) for check in (is_marker, fence_of)) and not line.endswith("\r")
)
PATH = st.sampled_from(["a.py", "src/b.js", "Makefile", "docs/c_d.md", "x/y/z.txt"])
NAME_STYLES = ["{p}", "**{p}**", "`{p}`:", "{p}:", "### {p}"]


@st.composite
def responses(draw: st.DrawFn) -> tuple[str, list[SearchReplaceEdit]]:
    """A well-formed response in varied styles, and the edits it holds."""
    parts, edits = [draw(st.sampled_from(["", "Sure.\n\n", "Here you go:\n"]))], []
    for number in range(1, draw(st.integers(1, 4)) + 1):
        path = draw(PATH)
        search = "".join(f"{line}\n" for line in draw(st.lists(CONTENT_LINE, max_size=3)))
        replace = "".join(f"{line}\n" for line in draw(st.lists(CONTENT_LINE, max_size=3)))
        styles = NAME_STYLES if "." in path else [style for style in NAME_STYLES if style != "{p}:"]
        name = draw(st.sampled_from(styles)).format(p=path)  # "Makefile:" reads as prose, by design
        fence = draw(st.sampled_from([None, "```", "```python", "~~~"]))
        block = f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"
        if fence:
            block = f"{fence}\n{block}{fence[:3]}\n"
        after = draw(st.sampled_from(["", "\n", "Done.\n\n"]))
        parts.append(f"{name}\n{block}{after}")
        edits.append(SearchReplaceEdit(path, search, replace, number))
    return "".join(parts), edits


@settings(max_examples=300, deadline=None)
@given(responses(), st.data())
def test_generated_responses_parse_fully_and_truncate_safely(
    case: tuple[str, list[SearchReplaceEdit]], data: st.DataObject
) -> None:
    text, expected = case
    full = parse_response(text)
    assert full == ParseResult(tuple(expected), ())
    raw = text.encode()
    for cut in data.draw(st.lists(st.integers(0, len(raw)), min_size=1, max_size=20)):
        edits = parse_response(raw[:cut]).edits
        assert edits == full.edits[: len(edits)]
