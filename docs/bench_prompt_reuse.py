"""How much of each turn's prompt a causal-prefill engine could reuse from the last one's KV cache.

Builds the real prompts, the TUI's (``Session.prepare``) over a few turns and
the fix pipeline's (``run_fix``) over two rounds, for a small repository: a
copy of dgcode/context/ in a temporary git repository.  Prompts are rendered
and tokenized by a tiny synthetic GGUF's template and tokenizer
(dgcode/engine/synthetic.py, shape "test", arch qwen2: ChatML, a 4,096-token
byte-level BPE).  For every turn it prints the prompt's tokens, the repo
map's tokens and the common token prefix with the previous turn's prompt:
what an engine that prefills causally (docs/engine.md) keeps in its cache.

    .venv/bin/python docs/bench_prompt_reuse.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from dgcode.engine.engine import Engine, EngineOptions  # noqa: E402
from dgcode.engine.synthetic import write_synthetic_gguf  # noqa: E402
from dgcode.workflows.chat.session import Session  # noqa: E402
from dgcode.workflows.fix.pipeline import FixRequest, run_fix  # noqa: E402
from dgcode.workflows.fix.report import Answer  # noqa: E402

N_CTX = 8192
"""The context size the map budget is taken from (the synthetic model only tokenizes)."""
TURNS = [  # (files added before the turn, the message)
    (["prompt.py", "repomap.py"], "Make build_prompt reject an empty instruction."),
    ([], "Add a docstring to fit_items explaining the binary search."),
    ([], "Rename LINE_PREFIX to MAP_LINE_PREFIX everywhere."),
    (["tagcache.py"], "Let TagCache.save skip writing when nothing changed."),
    ([], "Now explain what fingerprint() protects against."),
]
ANSWER = "Here is the change: nothing yet, this is a measurement."


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def make_repo(folder: Path) -> Path:
    root = folder / "repo"
    shutil.copytree(HERE / "dgcode" / "context", root, ignore=shutil.ignore_patterns("__pycache__"))
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "copy")
    return root


def report(rows: list[tuple[str, int, int, int]]) -> None:
    print(f"{'turn':<10}{'prompt':>8}{'map':>6}{'reused':>8}{'share':>7}")
    for label, prompt, map_tokens, reused in rows:
        share = f"{reused / prompt:.0%}" if prompt else "-"
        print(f"{label:<10}{prompt:>8}{map_tokens:>6}{reused:>8}{share:>7}")
    later = rows[1:]
    total = sum(r[1] for r in later)
    print(f"reuse rate over turns 2-{len(rows)}: {sum(r[3] for r in later) / total:.0%} of {total} prompt tokens")


class BenchEngine:
    """The fix pipeline's seam over the synthetic engine: real template and tokenizer, canned answers."""

    def __init__(self, engine: Engine):
        self.engine, self.prompts = engine, []

    def count_tokens(self, text: str) -> int:
        return len(self.engine.tokenize(text))

    def render_chat(self, messages) -> str:
        return self.engine.chat_prompt(messages)

    def describe(self) -> dict:
        return {"n_ctx": N_CTX}

    def generate(self, messages, settings, on_step=None) -> Answer:
        self.prompts.append(messages)
        return Answer(ANSWER, 10, 1, "eos", 1.0, 0.01)

    def close(self) -> None:
        pass


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        model = write_synthetic_gguf(folder / "test.gguf", "test", arch="qwen2", dtype="f16", seed=1)
        root = make_repo(folder)
        with Engine(model, EngineOptions(n_ctx=512)) as engine:  # it only renders and tokenizes
            seam = BenchEngine(engine)
            session = Session(root)
            rows, previous = [], []
            for number, (files, message) in enumerate(TURNS, 1):
                for path in files:
                    session.add(str(root / path))
                turn = session.prepare(message, seam.count_tokens, render_chat=seam.render_chat,
                                       context_size=N_CTX)
                tokens = engine.tokenize(turn.rendered)
                assert len(tokens) == turn.prompt_tokens
                rows.append((f"tui {number}", len(tokens), turn.repo_map.tokens, common_prefix(previous, tokens)))
                previous = tokens
                session.remember(message, ANSWER)
            print(f"TUI: {len(TURNS)} turns, map budget {turn.repo_map.budget} tokens (n_ctx {N_CTX})")
            report(rows)

            said: list[str] = []
            run_fix(FixRequest(root, paths=("prompt.py",), instruction="Make build_prompt reject an empty "
                               "instruction.", rounds=2), seam, say=said.append)
            rows, previous = [], []
            for number, messages in enumerate(seam.prompts, 1):
                tokens = engine.tokenize(engine.chat_prompt(messages))
                map_tokens = next((int(line.split("repo map ")[1].split()[0]) for line in said
                                   if line.startswith(f"round {number}:") and "repo map" in line), 0)
                rows.append((f"fix {number}", len(tokens), map_tokens, common_prefix(previous, tokens)))
                previous = tokens
            print(f"\nfix: {len(seam.prompts)} rounds (the first answer is unusable, so round 2 re-asks)")
            report(rows)


if __name__ == "__main__":
    main()
