"""The conversation's state and the prompt for each turn: files in context, earlier turns, /run output.

Pure Python (no textual), so it is tested and reused without the UI. Files
are checked when added (``/add`` fails early on a bad path or range) and read
again for every turn, so the model always sees their current text; each
turn records read snapshots of them, so an edit to a file changed while the
model was answering is refused as stale.

Each turn's prompt carries the repo map (context/prompt_map.py), computed
from the repository at that moment and ranked toward the files in context,
in build_prompt's stable-prefix order (system, map, files, then the
conversation), so a turn's prompt starts with the previous turn's up to the
conversation.  ``PreparedTurn.prompt_tokens`` is the rendered chat as the
engine prefills it (context/prefill.py), and the estimate shown between
turns is that same rendered text divided by the measured characters per
token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from dgcode.context.errors import ContextError
from dgcode.context.gitcli import repo_root
from dgcode.context.prefill import (
    context_size_of,
    count_prefill,
    engine_of,
    fallback_render,
    renderer_for,
)
from dgcode.context.prompt import build_prompt, fence_for, system_text
from dgcode.context.prompt_map import PromptMap, build_prompt_map
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
    """The rendered chat (the model's template around every message) as the engine's tokenizer counts it."""
    breakdown: dict[str, int]
    """Tokens per section (``repo_map`` among them), then ``template``: what the chat template adds."""
    snapshots: dict[str, FileSnapshot]
    notes: tuple[str, ...] = ()
    rendered: str = ""
    """The prompt text the engine prefills (the rendered chat)."""
    repo_map: PromptMap = PromptMap()
    """The turn's repo map: its text, tokens, budget, the files it shows."""

    @property
    def chars(self) -> int:
        """Characters of the rendered prompt (of the messages' text when it was not rendered)."""
        return len(self.rendered) if self.rendered else sum(len(m["content"]) for m in self.messages)


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

    def __init__(self, root: Path, *, map_budget: int | None = None):
        self.root = Path(os.path.realpath(root))
        self.map_budget = map_budget
        """The repo map's token budget; None: prompt_map.map_budget of the engine's context size."""
        self.last_map = PromptMap()
        """The repo map of the last prepared turn (the estimate between turns counts it)."""
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
        """The next prompt's size before the model's tokenizer has counted it: the rendered chat (files,
        last turn's repo map, history, /run output; ChatML around the messages) over ``chars_per_token``."""
        extra = "\n\n".join(a.text for a in self.attachments)
        try:
            context = self._context(extra, include_git=False)
            prompt = build_prompt(context, count_tokens=lambda _text: 0, repo_map=self.last_map.text,
                                  history=self.history)
            chars = len(fallback_render(prompt.messages))
        except ContextError:  # a file went away: the plain sum of what is known
            chars = len(system_text()) + len(self.last_map.text) + sum(e.chars for e in self.entries)
            chars += sum(len(m["content"]) for m in self.history) + len(extra)
        return round(chars / chars_per_token)

    def _context(self, full: str, include_git: bool = True) -> EditorContext:
        if self.repo is None or not (self.entries or include_git):
            return EditorContext(self.repo or self.root, instruction=full)
        return gather_context(self.repo, files=[e.spec for e in self.entries], instruction=full,
                              include_git=include_git, max_diff_chars=MAX_DIFF_CHARS)

    def prepare(self, instruction: str, count_tokens, *, render_chat=None,
                context_size: int | None = None) -> PreparedTurn:
        """Read the context again, map the repository and build the prompt; ContextError if a file can no
        longer be read.

        ``count_tokens`` is the engine's (a bound method: its engine also renders the chat and tells its
        context size, see context/prefill.py); ``render_chat`` and ``context_size`` override those.
        """
        engine = engine_of(count_tokens)
        render = render_chat or (renderer_for(engine) if engine is not None else fallback_render)
        size = context_size or (context_size_of(engine) if engine is not None else None)
        full = "\n\n".join([instruction.strip(), *(a.text for a in self.attachments)])
        context = self._context(full)
        snapshots = {}
        for file in context.files:
            try:
                snapshots[file.path] = FileSnapshot.capture(context.root / file.path)
            except EditError:
                continue  # unreadable now: planning refuses its edits with the reason
        repo_map = PromptMap()
        if self.repo is not None:
            repo_map = build_prompt_map(self.repo, count_tokens=count_tokens, instruction=full,
                                        chat_files=[f.path for f in context.files], budget=self.map_budget,
                                        context_size=size)
        self.last_map = repo_map
        prompt = build_prompt(context, count_tokens=count_tokens, repo_map=repo_map.text, focus_map=repo_map.focus,
                              history=self.history)
        prefill = count_prefill(prompt.messages, count_tokens, render)
        breakdown = {**prompt.breakdown, "template": max(0, prefill.tokens - prompt.total)}
        return PreparedTurn(instruction, prompt.messages, prefill.tokens, breakdown, snapshots,
                            tuple(context.notes), prefill.text, repo_map)

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

    # --- a saved session (dgcode/workflows/chat/session_store.py) -------------------------------

    def restore(self, labels: list[str], history: list[dict[str, str]],
                attachments: list[Attachment] = ()) -> list[str]:
        """Put back a saved context, history and attachments; a note for each file left out (gone, unreadable,
        ignored)."""
        self.entries, self.attachments = [], list(attachments)
        self.history = [dict(m) for m in history][-2 * MAX_HISTORY_TURNS:]
        notes = []
        for label in labels:
            spec = parse_file_spec(label)
            where = (self.repo / spec.path).as_posix() if self.repo else spec.path
            try:
                entry, why = self.add(where + (f":{spec.lines}" if spec.lines else ""))
            except ContextError as error:
                notes.append(f"{label} left out of the restored context: {error}")
                continue
            if entry is None:
                notes.append(f"{label} left out of the restored context: " + "; ".join(why))
        return notes
