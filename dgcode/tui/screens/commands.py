"""Slash commands on the main screen: /add /drop /ls /run /trust /diff /undo /theme /help /quit.

A mixin of MainScreen (it uses the screen's session, transcript and panel).
Names, help and completion are in dgcode/workflows/chat/commands.py; /remask and /model
have their own mixins (screens/remask.py, screens/model.py), and so do /clear and /history
(screens/sessions.py). ``/add`` takes globs and folders too: the repository's listable files
(git's list minus .dgcodeignore) that match, at most MAX_ADDED_FILES, each checked like one
path (size cap, binary, ignore rules). ``/run`` runs the
person's own command (never anything from a model answer) in a thread worker
and offers its output as context for the next message; a bare ``/run`` runs
the configured check command (``fix.cmd``), which a repository's own config
can set only once the person has trusted it (``/trust``, the same record as
``dgcode trust``); ``/undo`` also runs in
a worker, because it takes a git snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.message import Message

from dgcode.config import printable, shown_path
from dgcode.context.errors import ContextError
from dgcode.context.gitstate import read_git_state
from dgcode.context.prompt import fence_for
from dgcode.edits.apply import UndoReport, undo
from dgcode.trust import TrustStoreError, trust_config_file
from dgcode.workflows.chat.commands import (
    COMMANDS,
    MAX_ADDED_FILES,
    THEMES,
    CommandLine,
    expand_add,
    help_text,
    parse_command,
    theme_label,
)
from dgcode.workflows.chat.session import Attachment, run_output_text
from dgcode.workflows.chat.user_run import StoppableCommand
from dgcode.workflows.user_command import CommandResult

KEYS_HELP = ("enter sends · shift+enter or ctrl+j: new line · up/down: history · tab completes · "
             "@ offers files to mention (tab adds one to the context) · esc cancels an answer, stops a /run or a /pull · "
             "f2 context panel · f3 light/dark theme · f4 re-mask the last answer's weakest span · ctrl+r send failed edits back to the model · "
             "ctrl+p command palette · "
             "ctrl+c twice (or ctrl+q, /quit) quits")
DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("diff ", "bold"), ("@@", "cyan"), ("+", "green"),
               ("-", "red"))
"""How /diff colours a line, by how it starts (the first match wins)."""
RUN_LINES_SHOWN = 30
"""Lines of /run output shown in the transcript (the model gets head and tail of all of it)."""


def resolve(line: CommandLine) -> CommandLine | None:
    """The command ``line`` names, by full name or a unique prefix."""
    if line.spec is not None:
        return line
    matches = [spec for spec in COMMANDS if spec.name.startswith(line.name)] if line.name else []
    return CommandLine(matches[0].name, line.arg) if len(matches) == 1 else None


def diff_text(diff: str) -> Text:
    """A unified diff with its added lines green, removed lines red and hunk headers cyan."""
    text = Text()
    for line in diff.rstrip("\n").split("\n"):
        style = next((style for start, style in DIFF_STYLES if line.startswith(start)), "")
        text.append(line + "\n", style=style)
    text.rstrip()
    return text


class CommandsMixin:
    """Runs slash commands; mixed into MainScreen."""

    @dataclass
    class RunFinished(Message):
        """The person's /run command ended (``stopped``: escape or quitting killed it)."""

        result: CommandResult
        stopped: bool = False

    user_run: StoppableCommand | None = None
    """The /run command running now (escape stops it; so does leaving the app)."""

    @dataclass
    class UndoFinished(Message):
        """/undo ended (reverted, or refused with a reason)."""

        report: UndoReport

    def run_command(self, text: str) -> None:
        typed = parse_command(text)
        line = resolve(typed) if typed else None
        if line is None:
            typed_name = text.split()[0]
            matches = [f"/{spec.name}" for spec in COMMANDS if typed and typed.name and spec.name.startswith(typed.name)]
            self.transcript.add_note(f"{typed_name} could be {', '.join(matches)}: type more of it" if matches
                                     else f"unknown command {typed_name}; /help lists the commands", "error")
            return
        getattr(self, f"command_{line.name}")(line.arg)
        self.refresh_panel()
        self.save_session()

    # --- context ----------------------------------------------------------------------------------

    def command_add(self, arg: str) -> None:
        if not arg:
            self.transcript.add_note("usage: /add PATH[:RANGE] | GLOB | FOLDER ...  e.g. /add src/app.py:10-40, "
                                     "/add 'src/*.py', /add src", "error")
            return
        self.add_paths(arg.split())

    def add_paths(self, specs: list[str]) -> None:
        """Add each ``PATH[:RANGE]``, glob or folder to the context, saying what was added and left out."""
        for spec in specs:
            files = expand_add(spec, self.session.root, self.session.repo, self.repo_files.files()) \
                if self.session.repo is not None else None
            if files is None:
                self._add_one(spec, spec)
            elif not files:
                self.transcript.add_note(f"/add {spec}: no file the model may see matches it (ignored files, "
                                         ".git and files outside the repository are never added)", "warning")
            else:
                self._add_matches(spec, files)

    def _add_one(self, spec: str, shown: str, quiet: bool = False):
        try:
            entry, notes = self.session.add(spec)
        except ContextError as error:
            self.transcript.add_note(f"/add {shown}: {error}", "error")
            return None
        if entry is not None and not quiet:
            self.transcript.add_note(f"added {entry.label} ({entry.lines} lines)", "ok")
        if not quiet:
            for note in notes:
                self.transcript.add_note(note, "warning")
        return entry, notes

    def _add_matches(self, pattern: str, files: list[str]) -> None:
        repo = self.session.repo
        added, left_out = [], []
        budget = self.context_budget()
        used = self.session.estimate_tokens(self._chars_per_token) if budget is not None else 0
        for number, path in enumerate(files):
            if number >= MAX_ADDED_FILES:
                left_out.append(f"{len(files) - number} more (at most {MAX_ADDED_FILES} files from one /add)")
                break
            if path in self.session.labels:
                continue
            result = self._add_one((repo / path).as_posix(), path, quiet=True)
            if result is None:
                continue
            entry, notes = result
            tokens = round(entry.chars / self._chars_per_token) if entry is not None else 0
            if entry is not None and budget is not None and used + tokens > budget:
                self.session.drop(entry.label)
                left_out.append(f"{path} and {len(files) - number - 1} more: the prompt would not fit the "
                                f"model's context ({budget} tokens with room for the answer)")
                break
            if entry is not None:
                added.append(entry)
                used += tokens
            else:
                left_out.extend(notes)
        if added:
            lines = sum(e.lines for e in added)
            self.transcript.add_note(f"/add {pattern}: added {len(added)} file(s), {lines} lines: "
                                     + ", ".join(e.label for e in added), "ok")
        if left_out:
            self.transcript.add_note(f"/add {pattern}: left out " + "; ".join(left_out), "warning")
        if not added and not left_out:
            self.transcript.add_note(f"/add {pattern}: every matching file is in the context already")

    def context_budget(self) -> int | None:
        """Prompt tokens files may fill before the answer's budget no longer fits (None: the size is unknown)."""
        described = self.engine.describe() if self.engine else None
        size = (described or {}).get("n_ctx") or self.n_ctx
        return max(int(size) - self.settings.max_tokens, 0) if size else None

    def command_drop(self, arg: str) -> None:
        removed = self.session.drop(arg)
        if removed:
            self.transcript.add_note("dropped " + ", ".join(removed), "ok")
        elif arg:
            self.transcript.add_note(f"{arg} is not in the context; /ls lists it", "warning")
        else:
            self.transcript.add_note("the context has no files", "warning")

    def command_ls(self, _arg: str) -> None:
        lines = [f"{e.label}  ({e.lines} lines, ≈{e.chars // 4} tokens)" for e in self.session.entries]
        lines += [f"{a.label}  (goes with the next message)" for a in self.session.attachments]
        body = "\n".join(lines) if lines else "no files in the context; /add PATH"
        self.transcript.add_note(f"{body}\nprompt ≈{self.session.estimate_tokens()} tokens before your message")

    # --- the person's command ---------------------------------------------------------------------

    def command_run(self, arg: str) -> None:
        if not arg and self.check_command:
            arg = str(self.check_command)
        if not arg:
            if self.untrusted is not None and "fix.cmd" in self.untrusted.values:
                self.transcript.add_note("not running the check command of this repository's .dgcode.toml: the "
                                         "config is not trusted. /trust trusts it; /run COMMAND runs your own.",
                                         "warning")
                return
            self.transcript.add_note("usage: /run COMMAND  (your own command; dgcode never runs model output); "
                                     "with fix.cmd configured, a bare /run runs it", "error")
            return
        if self.user_run is not None and self.user_run.running:
            self.transcript.add_note(f"`{self.user_run.command}` is still running: esc stops it", "warning")
            return
        self.transcript.add_note(f"running `{arg}` … (esc stops it)")
        self.user_run = StoppableCommand(arg, self.session.root, self.run_timeout_s)
        self.run_user(self.user_run)

    @work(thread=True, group="run", exclusive=True, exit_on_error=False)
    def run_user(self, run: StoppableCommand) -> None:
        try:
            result = run.run()
        except OSError as error:
            result = CommandResult(run.command, 127, f"could not run it: {error}\n", 0.0)
        self.post_message(self.RunFinished(result, run.stopped))

    def stop_user_run(self) -> bool:
        """Kill the running /run command's process group (escape, quitting); True if one was running."""
        run = self.user_run
        return run is not None and run.stop()

    def on_commands_mixin_run_finished(self, message: RunFinished) -> None:
        result = message.result
        self.user_run = None
        if message.stopped:
            self.transcript.add_note(f"`{result.command}` stopped after {result.seconds:.1f} s (its process group "
                                     "was killed); its output is not attached", "warning")
            return
        status = ("timed out" if result.timed_out else "passed" if result.passed
                  else f"failed (exit status {result.exit_code})")
        lines = result.output.rstrip("\n").split("\n") if result.output.strip() else []
        shown = "\n".join(lines[-RUN_LINES_SHOWN:])
        cut = f"(last {RUN_LINES_SHOWN} of {len(lines)} lines)\n" if len(lines) > RUN_LINES_SHOWN else ""
        fence = fence_for(shown)
        self.transcript.add_markdown(f"`{result.command}` {status} in {result.seconds:.1f} s\n\n{cut}"
                                     + (f"{fence}text\n{shown}\n{fence}" if shown else "*(no output)*"))
        label = f"/run {result.command} ({'ok' if result.passed else 'failed'})"
        self.session.attach(Attachment(label, run_output_text(result)))
        self.transcript.add_note("its output goes with your next message; /drop run removes it")
        self.refresh_panel()

    def command_trust(self, _arg: str) -> None:
        untrusted = self.untrusted
        if untrusted is None:
            self.transcript.add_note("nothing to trust: this repository's config sets no command, or it is trusted",
                                     "ok")
            return
        try:
            trust_config_file(untrusted.file, untrusted.digest)
        except TrustStoreError as error:
            self.transcript.add_note(f"/trust: {error}", "error")
            return
        self.untrusted = None
        self.check_command = untrusted.values.get("fix.cmd", self.check_command)
        self.transcript.add_note(f"trusted {shown_path(untrusted.file)} as dgcode read it at start; if it changes, "
                                 "it must be trusted again. A bare /run now runs "
                                 f"`{printable(str(self.check_command))}`", "ok")

    # --- the working tree -------------------------------------------------------------------------

    def command_diff(self, _arg: str) -> None:
        if self.session.repo is None:
            self.transcript.add_note("not a git repository: no diff to show", "error")
            return
        try:
            state = read_git_state(self.session.repo)
        except ContextError as error:
            self.transcript.add_note(f"/diff: {error}", "error")
            return
        diff = state.staged + state.unstaged
        if not (diff or state.untracked):
            self.transcript.add_note("no uncommitted changes")
            return
        untracked = "untracked: " + ", ".join(state.untracked) if state.untracked else ""
        self.transcript.add_note(diff_text("\n".join(part for part in (diff.rstrip("\n"), untracked) if part))
                                 ).add_class("-diff")

    def command_undo(self, _arg: str) -> None:
        self.transcript.add_note("undoing dgcode's last apply …")
        self.undo_last()

    @work(thread=True, group="edits", exit_on_error=False)
    def undo_last(self) -> None:
        try:
            report = undo(self.edit_root)
        except Exception as error:  # noqa: BLE001 - reported, never lost in the worker
            report = UndoReport(False, message=f"undo failed: {type(error).__name__}: {error}")
        self.post_message(self.UndoFinished(report))

    def on_commands_mixin_undo_finished(self, message: UndoFinished) -> None:
        report = message.report
        for item in report.files:
            self.transcript.add_note(f"{item.path}: {item.action}", "ok" if report.undone else "warning")
        self.transcript.add_note(report.message, "ok" if report.undone else "error")

    # --- the conversation -------------------------------------------------------------------------

    def command_theme(self, arg: str) -> None:
        choice = arg.lower()
        if choice and choice not in THEMES:
            self.transcript.add_note(f"/theme {arg}: choose {' or '.join(THEMES)}", "error")
            return
        if not choice:  # switch to the other one
            choice = "light" if theme_label(self.app.theme) == "dark" else "dark"
        self.app.theme = THEMES[choice]
        self.transcript.add_note(f"theme: {choice}")

    def command_help(self, _arg: str) -> None:
        self.transcript.add_note(f"{help_text()}\n\n{KEYS_HELP}")

    def command_quit(self, _arg: str) -> None:
        self.app.exit()  # DgcodeApp.exit saves the session first

    def command_exit(self, arg: str) -> None:
        self.command_quit(arg)
