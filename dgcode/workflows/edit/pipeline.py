"""The range rewrite: one range of a file masked and re-denoised between the text before it and after it.

``run_edit`` takes a resolved target (range_target.py) and plain steps:

1. cut the file at the range (``edits.infill.request_infill``): the text
   before it, the span, the text after it;
2. build the chat (wording in ``prompts/edit/range_*.txt``): the instruction,
   the path and the span's current text; the answer is the file itself, so
   the text before the span is the answer's fixed prefix and the text after
   it its fixed suffix, and the model sees both sides while it denoises;
3. size the slot (budget.py) from the span's token count and the context
   left, and denoise it; an answer that fills its slot is denoised once more
   in a slot twice as large; one that ends early shrinks the span;
4. turn the answer into an ``InfillEdit`` and plan it (dry run, with the
   file's read snapshot, so a file changed meanwhile is refused), check that
   every byte outside the range is unchanged, show it (``confirm``: all,
   nothing, or some of its hunks), and apply exactly what was accepted with
   ``apply_edits``: snapshot, journal, `dgcode undo` reverts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dgcode.context.prompt import fence_for, fence_language, fill
from dgcode.edits.apply import apply_edits
from dgcode.edits.diff import FileChange
from dgcode.edits.hunks import Accepted, accepted_changes, apply_accepted, is_everything
from dgcode.edits.infill import InfillRequest, infill_edit, request_infill
from dgcode.engine.errors import EngineError, InvalidSettingsError, ModelFileError, PromptTooLongError
from dgcode.engine.settings import SamplerSettings
from dgcode.workflows.edit.budget import choose_budget, grown, settings_for
from dgcode.workflows.edit.engine import RangeEngine
from dgcode.workflows.edit.range_target import RangeTarget
from dgcode.workflows.edit.report import Attempt, EditReport
from dgcode.workflows.model_engine import StepObserver

Confirm = Callable[[tuple[FileChange, ...]], Accepted]
"""True (apply all), False (none), or the accepted change (fewer hunks; exactly those bytes are written)."""


@dataclass(frozen=True)
class EditRequest:
    """What to rewrite, how, and with which sampler settings (their ``max_tokens`` is replaced by the budget)."""

    root: Path
    target: RangeTarget
    instruction: str
    settings: SamplerSettings = field(default_factory=SamplerSettings)
    budget: int | None = None
    """``--budget``: the slot's size, instead of the rule (budget.py)."""
    dry_run: bool = False


def range_messages(target: RangeTarget, infill: InfillRequest, instruction: str) -> list[dict[str, str]]:
    """The system and user messages; the assistant's answer (the file) is the prefix, the slot and the suffix."""
    what = f" ({target.category} {target.name})" if target.name else ""
    span = infill.span
    task = fill("edit/range_task", path=target.path, start=target.start, end=target.end, what=what,
                instruction=instruction.strip(), fence=fence_for(span), language=fence_language(target.path),
                span=span)
    return [{"role": "system", "content": fill("edit/range_system")}, {"role": "user", "content": task}]


def byte_lines(data: bytes) -> list[bytes]:
    """``data`` cut after each ``\\n`` (a lone ``\\r`` is text, as in edits.textfile); the bytes, endings kept."""
    parts = data.split(b"\n")
    return [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def outside_problem(change: FileChange, start: int, end: int) -> str | None:
    """Why ``change`` touches a byte outside lines start..end of the old file, or None when it does not."""
    old = byte_lines(change.old_bytes or b"")
    new = byte_lines(change.new_bytes)
    after = len(old) - end
    if new[:start - 1] != old[:start - 1]:
        return f"the rewrite changes {change.path} before line {start}"
    if len(new) < start - 1 + after or (after and new[len(new) - after:] != old[end:]):
        return f"the rewrite changes {change.path} after line {end}"
    return None


def _new_end(change: FileChange, target: RangeTarget) -> int:
    """The last line of the rewritten range in the new file (start - 1 when the rewrite deleted the lines)."""
    old_lines = len(target.text_file.lines)
    new_lines = len(byte_lines(change.new_bytes))
    return target.end + new_lines - old_lines


def run_edit(request: EditRequest, engine: RangeEngine, *, confirm: Confirm = lambda _c: True,
             say: Callable[[str], None] = lambda _m: None, on_step: StepObserver | None = None) -> EditReport:
    """Rewrite the request's range; see the module docstring.

    Raises PromptTooLongError (the file or the budget does not fit the context), ModelFileError and
    InvalidSettingsError (set-up problems); any other engine failure ends the run with status ``error``.
    """
    began = time.monotonic()
    target = request.target
    infill = request_infill(target.path, target.text_file, target.start, target.end)
    messages = range_messages(target, infill, request.instruction)
    notes: list[str] = []
    attempts: list[Attempt] = []
    counts: dict[str, object] = {"prompt_tokens": 0, "suffix_tokens": 0}

    def report(status: str, message: str, **extra) -> EditReport:
        return EditReport(status, message, target, request.instruction, attempts=tuple(attempts),
                          dry_run=request.dry_run, notes=tuple(notes), total_s=time.monotonic() - began,
                          **counts, **extra)

    try:
        n_ctx = engine.context_size()
        prompt_tokens = engine.count_tokens(engine.render_chat(messages) + infill.before)
        suffix_tokens = engine.count_tokens(infill.after) if infill.after else 0
        counts.update(prompt_tokens=prompt_tokens, suffix_tokens=suffix_tokens)
        span_tokens = engine.count_tokens(infill.span)
        budget = choose_budget(span_tokens, n_ctx - prompt_tokens - suffix_tokens, request.budget)
        if budget.capped:
            notes.append(f"the budget is capped at {budget.tokens} tokens by the context ({n_ctx}); the rewrite "
                         "may be cut off: raise n_ctx for more room")
        while budget is not None:
            say(f"rewriting {target.describe()}: {span_tokens} span tokens, a slot of {budget.tokens} "
                f"({budget.source}), prefilling {prompt_tokens} + {suffix_tokens} tokens")
            answer = engine.generate(messages, settings_for(request.settings, budget.tokens), on_step,
                                     prefix=infill.before, suffix=infill.after)
            attempts.append(Attempt(budget, answer))
            say(f"{answer.tokens} tokens in {answer.steps} steps, {answer.tok_per_s:.1f} tok/s, "
                f"stopped: {answer.stop_reason}")
            budget = grown(budget) if answer.stop_reason == "length" and len(attempts) == 1 else None
            if budget is not None:
                say(f"the answer filled its whole slot: denoising again in a slot of {budget.tokens}")
    except (ModelFileError, InvalidSettingsError, PromptTooLongError):
        raise
    except EngineError as error:
        return report("error", f"the engine failed: {error}; nothing was written")
    answer = attempts[-1].answer
    if answer.stop_reason == "cancelled":
        return report("error", "cancelled before the answer was complete; nothing was written")
    if answer.stop_reason == "length":
        notes.append(f"the answer filled its whole slot of {attempts[-1].budget.tokens} tokens without ending, so "
                     "it may be cut off; check the diff, or rerun with a larger --budget")
    edit = infill_edit(infill, answer.text)
    counts["replacement"] = edit.replace
    if edit.replace == edit.expected:
        return report("unchanged", f"the model gave {target.describe()} back unchanged; nothing was written")
    snapshots = {target.path: target.snapshot}
    plan = apply_edits(request.root, [edit], dry_run=True, read_snapshots=snapshots)
    if not plan.ok or not plan.changes:
        reasons = [str(r["reason"]) for r in plan.edit_results() if r["status"] != "applied"]
        return report("failed", "the rewrite cannot be applied: " + ("; ".join(reasons) or "it changes nothing"))
    change = plan.changes[0]
    problem = outside_problem(change, target.start, target.end)
    if problem:  # never expected: apply_infill splices lines; refused rather than trusted
        return report("failed", f"{problem}; refused, nothing was written", change=change)
    new_end = _new_end(change, target)
    shown = f"lines {target.start}-{new_end}" if new_end >= target.start else "no lines (the range was deleted)"
    if request.dry_run:
        return report("proposed", f"dry run: {target.describe()} would become {shown}; nothing was written",
                      change=change, new_end=new_end)
    accepted = accepted_changes((change,), confirm((change,)))
    if not accepted:
        return report("not_applied", "the rewrite was not applied", change=change, new_end=new_end)
    if is_everything((change,), accepted):
        applied = apply_edits(request.root, [edit], read_snapshots=snapshots)
    else:  # some hunks only: exactly the accepted bytes, still inside the range
        change = accepted[0]
        new_end = _new_end(change, target)
        shown = f"lines {target.start}-{new_end}" if new_end >= target.start else "no lines (the range was deleted)"
        applied = apply_accepted(request.root, accepted, read_snapshots=snapshots)
    if not applied.written:
        reasons = [str(r["reason"]) for r in applied.edit_results() if r["status"] != "applied"]
        why = applied.error or "; ".join(reasons) or "the rewrite could not be written"
        return report("error" if applied.recovery_needed else "failed", why, change=change, new_end=new_end)
    return report("applied", f"rewrote {target.describe()}, now {shown}; `dgcode undo` reverts it",
                  change=change, new_end=new_end, written=applied.written)
