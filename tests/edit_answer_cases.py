"""Model answers as small local models write them, with the bytes each should give (or None: must be refused).

Shared by tests/test_edits_forgiving.py and docs/bench_edit_forgiveness.py
(which measures the share applied correctly, before and after a change).
Each case is one habit from aider's edit-block tests and recorded answers
(file name in its own fence, ``<source>`` fence, a blank first SEARCH line,
``...`` elision, an exact match beside an indentation-shifted one, a new
file built in two blocks), plus the well-formed answers and the dangerous
ones (ambiguous, a second divider inside the text, a SEARCH only another
file holds) that must keep working or keep being refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GREET = "def greet(name):\n    message = 'hi ' + name\n    return message\n"
CALC = (
    "import math\n\n\n"
    "def area(r):\n    value = math.pi * r * r\n    return value\n\n\n"
    "def perimeter(r):\n    value = 2 * math.pi * r\n    return value\n"
)
NESTED = "x = 1\n\n\ndef f():\n    x = 1\n    return x\n"


@dataclass(frozen=True)
class AnswerCase:
    name: str
    habit: str
    """'well-formed', a habit aider forgives, or 'must refuse'."""
    answer: str
    files: dict[str, str] = field(default_factory=dict)
    expected: dict[str, str] | None = None
    """Every file's content after applying; None: the answer must be refused and nothing written."""


def _block(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


CASES: tuple[AnswerCase, ...] = (
    AnswerCase("plain block", "well-formed",
               "greet.py\n```python\n" + _block("    return message\n", "    return message.upper()\n") + "```\n",
               {"greet.py": GREET},
               {"greet.py": GREET.replace("return message", "return message.upper()")}),
    AnswerCase("two blocks, one file", "well-formed",
               "calc.py\n```python\n" + _block("    value = math.pi * r * r\n", "    value = math.pi * r ** 2\n")
               + "```\n\nAnd the perimeter:\n\n```python\n" + _block("    value = 2 * math.pi * r\n", "    value = math.tau * r\n")
               + "```\n",
               {"calc.py": CALC},
               {"calc.py": CALC.replace("math.pi * r * r", "math.pi * r ** 2").replace("2 * math.pi * r",
                                                                                        "math.tau * r")}),
    AnswerCase("new file", "well-formed",
               "util.py\n```python\n" + _block("", "def one():\n    return 1\n") + "```\n",
               {}, {"util.py": "def one():\n    return 1\n"}),
    AnswerCase("file name in its own fence", "DeepSeek-Coder file name fence",
               "Here's the change:\n\n ```python\ngreet.py\n```\n```python\n"
               + _block("    return message\n", "    return message + '!'\n") + "```\n",
               {"greet.py": GREET},
               {"greet.py": GREET.replace("return message", "return message + '!'")}),
    AnswerCase("file name in its own fence, no space", "DeepSeek-Coder file name fence",
               "```\ncalc.py\n```\n\n```python\n" + _block("import math\n", "import math as m\n") + "```\n",
               {"calc.py": CALC},
               {"calc.py": CALC.replace("import math\n", "import math as m\n")}),
    AnswerCase("source fence", "aider <source> fence",
               "greet.py\n<source>python\n" + _block("    message = 'hi ' + name\n", "    message = f'hi {name}'\n")
               + "</source>\n",
               {"greet.py": GREET},
               {"greet.py": GREET.replace("'hi ' + name", "f'hi {name}'")}),
    AnswerCase("source fence holding backticks", "aider <source> fence",
               "notes.md\n<source>\n" + _block("```sh\nmake\n```\n", "```sh\nmake test\n```\n") + "</source>\n",
               {"notes.md": "# Notes\n\n```sh\nmake\n```\n"},
               {"notes.md": "# Notes\n\n```sh\nmake test\n```\n"}),
    AnswerCase("blank first SEARCH line", "spurious blank line (aider issue 25)",
               "greet.py\n```python\n" + _block("\ndef greet(name):\n    message = 'hi ' + name\n",
                                                "def greet(name: str):\n    message = 'hi ' + name\n") + "```\n",
               {"greet.py": GREET},
               {"greet.py": GREET.replace("def greet(name):", "def greet(name: str):")}),
    AnswerCase("blank first line in SEARCH and REPLACE", "spurious blank line (aider issue 25)",
               "greet.py\n```python\n" + _block("\ndef greet(name):\n", "\ndef greet(name, punctuation=''):\n")
               + "```\n",
               {"greet.py": GREET},
               {"greet.py": GREET.replace("def greet(name):", "def greet(name, punctuation=''):")}),
    AnswerCase("elided middle", "... elision",
               "calc.py\n```python\n" + _block("def area(r):\n...\n    return value\n\n\ndef perimeter(r):\n",
                                               "def area(r: float) -> float:\n...\n    return round(value, 6)\n\n\n"
                                               "def perimeter(r):\n")
               + "```\n",
               {"calc.py": CALC},
               {"calc.py": CALC.replace("def area(r):", "def area(r: float) -> float:").replace(
                   "    value = math.pi * r * r\n    return value\n",
                   "    value = math.pi * r * r\n    return round(value, 6)\n")}),
    AnswerCase("elision across functions", "... elision",
               "calc.py\n```python\n" + _block("def area(r):\n...\ndef perimeter(r):\n",
                                               "def area(radius):\n...\ndef perimeter(radius):\n") + "```\n",
               {"calc.py": CALC},
               {"calc.py": CALC.replace("def area(r):", "def area(radius):").replace("def perimeter(r):",
                                                                                      "def perimeter(radius):")}),
    AnswerCase("exact beside an indented one", "exact match preferred",
               "nested.py\n```python\n" + _block("x = 1\n", "x = 2\n") + "```\n",
               {"nested.py": NESTED}, {"nested.py": NESTED.replace("x = 1\n", "x = 2\n", 1)}),
    AnswerCase("new file in two blocks", "new file built in two blocks",
               "util.py\n```python\n" + _block("", "def one():\n    return 1\n") + "```\n\nutil.py\n```python\n"
               + _block("", "\n\ndef two():\n    return 2\n") + "```\n",
               {}, {"util.py": "def one():\n    return 1\n\n\ndef two():\n    return 2\n"}),
    AnswerCase("ambiguous", "must refuse",
               "calc.py\n```python\n" + _block("    return value\n", "    return -value\n") + "```\n",
               {"calc.py": CALC}),
    AnswerCase("ambiguous at the same looser level", "must refuse",
               "nested.py\n```python\n" + _block("    x = 1\n", "    x = 3\n") + "```\n",
               {"nested.py": "def f():\n        x = 1\n\n\ndef g():\n        x = 1\n"}),
    AnswerCase("elided piece ambiguous", "must refuse",
               "calc.py\n```python\n" + _block("def area(r):\n...\n    return value\n...\n    return value\n",
                                               "def area(r):\n...\n    return 0\n...\n    return 0\n") + "```\n",
               {"calc.py": CALC}),
    AnswerCase("elision only in SEARCH", "must refuse",
               "calc.py\n```python\n" + _block("def area(r):\n...\n    return value\n",
                                               "def area(r):\n    return 0\n") + "```\n",
               {"calc.py": CALC}),
    AnswerCase("second divider in the text", "must refuse",
               "greet.py\n```python\n<<<<<<< SEARCH\n    return message\n=======\n    x = 1\n=======\n"
               "    return x\n>>>>>>> REPLACE\n```\n",
               {"greet.py": GREET}),
    AnswerCase("SEARCH only another file holds", "must refuse",
               "greet.py\n```python\n" + _block("    value = 2 * math.pi * r\n", "    value = 0\n") + "```\n",
               {"greet.py": GREET, "calc.py": CALC}),
    AnswerCase("empty SEARCH on an existing file", "must refuse",
               "greet.py\n```python\n" + _block("", "print('hi')\n") + "```\n",
               {"greet.py": GREET}),
    AnswerCase("blank first SEARCH line, still ambiguous", "must refuse",
               "calc.py\n```python\n" + _block("\n    return value\n", "    return 0\n") + "```\n",
               {"calc.py": CALC}),
)


def run_case(case: AnswerCase, root) -> tuple[bool, str]:
    """Apply ``case.answer`` in ``root`` (a fresh git repository holding ``case.files``): (as expected?, detail)."""
    from pathlib import Path

    from dgcode.edits.apply import apply_response

    root = Path(root)
    before = {path: (root / path).read_bytes() for path in case.files}
    report = apply_response(root, case.answer)
    now = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
           if p.is_file() and ".git" not in p.relative_to(root).parts and ".dgcode" not in p.relative_to(root).parts}
    detail = "; ".join([*(r["reason"] for r in report.edit_results() if r["reason"]), *report.parse_problems])
    if case.expected is None:
        return (not report.ok and now == before), detail or "refused"
    wanted = {path: text.encode() for path, text in case.expected.items()}
    return (report.ok and now == wanted), detail
