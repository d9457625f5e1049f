"""The conversation's state and the prompt for each turn: files in context, earlier turns, /run output.

Pure Python (no textual), so it is tested and reused without the UI. Files
are checked when added (``/add`` fails early on a bad path or range) and read
again for every turn, so the model always sees their current text; each
turn records read snapshots of them, so an edit to a file changed while the
model was answering is refused as stale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from dgcode.context.errors import ContextError
from dgcode.context.gitcli import repo_root
from dgcode.context.prompt import build_prompt, fence_for, system_text
from dgcode.context.sources import EditorContext, FileSpec, gather_context, parse_file_spec
from dgcode.edits.atomic import FileSnapshot
from dgcode.edits.errors import EditError
from dgcode.workflows.user_command import CommandResult

MAX_HISTORY_TURNS = 3
"""Earlier exchanges sent with a new message (older ones are dropped)."""
MAX_DIFF_CHARS = 4000
"""The uncommitted diff shown to the model is cut here."""
CHARS_PER_TOKEN = 4.0
"""For the estimate shown before the model's own tokenizer has counted (then its measured ratio is used)."""


@dataclass(frozen=True)
class ContextEntry:
    """A file (or line range) in the context, as last read."""

    spec: FileSpec
    """Repo-relative path and optional line range."""
    chars: int
    lines: int

    @property
    def label(self) -> str:
        return self.spec.path + (f":{self.spec.lines}" if self.spec.lines else "")


@dataclass(frozen=True)
class Attachment:
    """Text that goes with the next message (the output of a /run), and how the panel names it."""

    label: str
    text: str


@dataclass(frozen=True)
class PreparedTurn:
    """A message ready for the engine: chat messages, their token count, the files' read snapshots."""

    instruction: str
    messages: list[dict[str, str]]
    prompt_tokens: int
    """As counted by the model's tokenizer (the chat template adds a few more)."""
    breakdown: dict[str, int]
    snapshots: dict[str, FileSnapshot]
    notes: tuple[str, ...] = ()

    @property
    def chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


def run_output_text(result: CommandResult) -> str:
    """The /run output as the model reads it (wording in dgcode/workflows/chat/prompts/run_output.txt)."""
    raw = resources.files("dgcode.workflows.chat").joinpath("prompts/run_output.txt").read_text(encoding="utf-8")
    if result.timed_out:
        outcome = "was stopped at its time limit"
    else:
        outcome = "passed (exit status 0)" if result.passed else f"failed with exit status {result.exit_code}"
    output = result.output if result.output.endswith("\n") or not result.output else result.output + "\n"
    cut = " (cut to its start and end)" if result.truncated else ""
    return Template(raw.removesuffix("\n")).substitute(command=result.command, outcome=outcome, cut=cut,
                                                       fence=fence_for(output), output=output)


class Session:
    """What the next prompt is built from; the main screen owns one."""

    def __init__(self, root: Path):
        self.root = Path(os.path.realpath(root))
        try:
            self.repo: Path | None = repo_root(self.root)
        except ContextError:
            self.repo = None
        self.entries: list[ContextEntry] = []
        self.history: list[dict[str, str]] = []
        self.attachments: list[Attachment] = []

    # --- context files ----------------------------------------------------------------------------

    def _need_repo(self) -> Path:
        if self.repo is None:
            raise ContextError(f"{self.root} is not inside a git repository, so dgcode cannot add files "
                               "(run it in a repository, or `git init` first)")
        return self.repo

    def add(self, spec_text: str) -> tuple[ContextEntry | None, list[str]]:
        """Check and add one ``path[:range]``; (the entry or None if left out, notes). ContextError if bad."""
        repo = self._need_repo()
        spec = parse_file_spec(spec_text)
        context = gather_context(repo, files=[spec], include_git=False, cwd=self.root)
        notes = [s.message for s in context.skipped]
        if not context.files:
            return None, notes or [f"{spec_text}: nothing to add"]
        file = context.files[0]
        entry = ContextEntry(FileSpec(file.path, file.lines), len(file.text), file.text.count("\n"))
        whole = next((e for e in self.entries if e.spec.path == file.path and e.spec.lines is None), None)
        if whole is not None:
            return None, [f"{entry.label}: the whole of {file.path} is in the context already"]
        if any(e.label == entry.label for e in self.entries):
            return None, [f"{entry.label} is in the context already"]
        if file.lines is None:  # a whole file covers its ranges
            self.entries = [e for e in self.entries if e.spec.path != file.path]
        self.entries.append(entry)
        return entry, notes

    def drop(self, label: str = "") -> list[str]:
        """Remove a file or range (by label or path), "run" for /run output, or everything; what was removed."""
        if label == "run":
            removed = [a.label for a in self.attachments]
            self.attachments = []
            return removed
        if not label:
            removed = [e.label for e in self.entries]
            self.entries = []
            return removed
        normal = label.removeprefix("./")
        removed = [e.label for e in self.entries if normal in (e.label, e.spec.path)]
        self.entries = [e for e in self.entries if e.label not in removed]
        return removed

    def attach(self, attachment: Attachment) -> None:
        self.attachments.append(attachment)

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.entries]

    # --- turns ------------------------------------------------------------------------------------

    def estimate_tokens(self, chars_per_token: float = CHARS_PER_TOKEN) -> int:
        """A rough size of the next prompt, before the model's tokenizer has counted it."""
        chars = len(system_text()) + sum(e.chars for e in self.entries)
        chars += sum(len(m["content"]) for m in self.history) + sum(len(a.text) for a in self.attachments)
        return round(chars / chars_per_token)

    def prepare(self, instruction: str, count_tokens) -> PreparedTurn:
        """Read the context again and build the prompt; ContextError if a file can no longer be read."""
        full = "\n\n".join([instruction.strip(), *(a.text for a in self.attachments)])
        if self.repo is None:
            context = EditorContext(self.root, instruction=full)
        else:
            context = gather_context(self.repo, files=[e.spec for e in self.entries], instruction=full,
                                     max_diff_chars=MAX_DIFF_CHARS)
        snapshots = {}
        for file in context.files:
            try:
                snapshots[file.path] = FileSnapshot.capture(context.root / file.path)
            except EditError:
                continue  # unreadable now: planning refuses its edits with the reason
        prompt = build_prompt(context, count_tokens=count_tokens, history=self.history)
        return PreparedTurn(instruction, prompt.messages, prompt.total, prompt.breakdown, snapshots,
                            tuple(context.notes))

    def remember(self, instruction: str, answer: str) -> None:
        """Keep a finished exchange for the next prompts; /run output was sent, so it is used up."""
        self.history += [{"role": "user", "content": instruction}, {"role": "assistant", "content": answer}]
        self.history = self.history[-2 * MAX_HISTORY_TURNS:]
        self.attachments = []

    def revise_last_answer(self, answer: str) -> None:
        """The last exchange's answer was changed in place (a re-masked span): later prompts see the new text."""
        if self.history and self.history[-1]["role"] == "assistant":
            self.history[-1] = {"role": "assistant", "content": answer}

    def clear_history(self) -> None:
        self.history = []
