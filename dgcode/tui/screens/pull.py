"""/models and /pull on the main screen: see the registry, and download a full model without leaving the app.

A mixin of MainScreen. ``/models`` lists the registry (dgcode.models.registry)
with what the store holds (dgcode.models.store), as `dgcode models list`
does. ``/pull NAME[:QUANT]`` runs ``dgcode.models.pull.pull`` in a thread
worker, one pull at a time, so the app stays responsive: the worker keeps
the newest progress report on the job, and a timer on the UI redraws a note
in the transcript with it (bytes done of the total) ten times a second, so a
stalled transfer still shows how far it got. On success a line says where
the file was placed and which ``/model`` switches to it (nothing switches by
itself). Escape cancels a pull when no answer or /run is running: the pull's
next progress report (within one transfer chunk) raises PullCancelled inside
it; huggingface_hub and ``place`` remove their temp files as it unwinds, and
the pull gives a file its name only once it is verified, so nothing is left
under the model's name. Any failure is one line, and the app stays usable.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from rich.filesize import decimal as human_size
from rich.text import Text
from textual import work
from textual.message import Message
from textual.timer import Timer

from dgcode.engine.errors import ModelFileError
from dgcode.models import store
from dgcode.models.download import DownloadError
from dgcode.models.hub import HubError, RemoteFile
from dgcode.models.pull import PullResult, pull
from dgcode.models.registry import ModelEntry, Registry, RegistryError, load_registry
from dgcode.tui.widgets.transcript import Note

PROGRESS_INTERVAL_S = 0.1
"""How often the progress note is redrawn while a pull runs."""
PULL_USAGE = "usage: /pull NAME[:QUANT]  e.g. /pull dream-coder or /pull dream-coder:Q8_0; /models lists the names"
CANCELLED = "nothing was put under the model's name; /pull it again to start over"


class PullCancelled(Exception):
    """Raised from the pull's progress callback once escape asked it to stop."""


@dataclass
class PullJob:
    """The pull running now."""

    entry: ModelEntry
    quant: str
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: tuple[str, int, int | None] | None = None
    """The newest report: (phase, bytes done, total), set by the worker; phase "downloading" or "verifying"."""
    started: bool = False
    """The hub answered (its line is in the transcript): the progress note goes below it."""
    note: Note | None = None
    """The transcript note that shows the progress (made with the first report after the start)."""
    timer: Timer | None = None

    @property
    def label(self) -> str:
        return f"{self.entry.name} {self.quant}"

    @property
    def spec(self) -> str:
        """What /model takes to switch to this file."""
        return self.entry.name if self.quant == self.entry.default_quant else f"{self.entry.name}:{self.quant}"


def one_line(text: str) -> str:
    """A message as one line, with the CLI's pointers turned into the TUI's."""
    text = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return text.replace("`dgcode models list` shows", "/models lists")


def models_text(registry: Registry, pulling: PullJob | None = None) -> Text:
    """What /models shows: each model's name, architecture, quantizations, and what is downloaded (with sizes)."""
    rows = []
    for entry in registry:
        files = store.local_files(entry)
        quants = " ".join(f"{q}*" if q == entry.default_quant else q for q in entry.files) or "no GGUF known"
        have = [f"{f.quant} {human_size(f.size_bytes)}" for f in files if f.complete]
        have += [f"{f.quant} partial {human_size(f.size_bytes)}" for f in files if not f.complete]
        state = "downloaded: " + ", ".join(have) if have else "not downloaded"
        if pulling is not None and pulling.entry.name == entry.name:
            state += f" (pulling {pulling.quant} now)"
        rows.append((entry.name, entry.architecture, quants, state, bool(have)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    text = Text.assemble(("models dgcode knows", "bold"), f" ({len(rows)}):\n")
    for name, arch, quants, state, downloaded in rows:
        text.append(f"  {name:<{widths[0]}}", "bold" if downloaded else "")
        text.append(f"  {arch:<{widths[1]}}  {quants:<{widths[2]}}  ")
        text.append(state + "\n", "green" if downloaded else "dim")
    text.append(f"models folder: {store.models_dir()}\n", "dim")
    text.append("/pull NAME[:QUANT] downloads one (* marks the quantization it takes by default); "
                "/model NAME switches to a downloaded one")
    return text


class PullMixin:
    """Runs /models and /pull; mixed into MainScreen."""

    pulling: PullJob | None = None
    """The pull running now (one at a time)."""

    @dataclass
    class PullStarted(Message):
        """The hub answered and the transfer (or the copy from the Hugging Face cache) begins."""

        text: str

    @dataclass
    class PullFinished(Message):
        result: PullResult

    @dataclass
    class PullFailed(Message):
        """The pull failed (``error`` says why) or was cancelled."""

        error: str
        cancelled: bool = False

    def command_models(self, _arg: str) -> None:
        try:
            registry = load_registry()
        except RegistryError as error:
            self.transcript.add_note(f"/models: {one_line(error)}", "error")
            return
        self.transcript.add_note(models_text(registry, self.pulling))

    def command_pull(self, arg: str) -> None:
        if not arg:
            self.transcript.add_note(PULL_USAGE, "error")
            return
        if self.pulling is not None:
            self.transcript.add_note(f"already pulling {self.pulling.label} (one pull at a time; esc cancels it)",
                                     "warning")
            return
        try:
            entry, quant = load_registry().parse_spec(arg.split()[0])
            quant = entry.file_for(quant).quant
        except RegistryError as error:
            self.transcript.add_note(f"/pull {arg}: {one_line(error)}", "error")
            return
        job = self.pulling = PullJob(entry, quant)
        if not entry.verified and not store.local_path(entry, quant).is_file():
            self.transcript.add_note(f"note: the file names of {entry.name} are not verified: {one_line(entry.note)}",
                                     "warning")
        self.transcript.add_note(f"pulling {job.label} … (esc cancels it; you can keep working)")
        job.timer = self.set_interval(PROGRESS_INTERVAL_S, self.show_pull_progress)
        self.pull_model(job)

    def cancel_pull(self) -> bool:
        """Ask the running pull to stop (it does at its next progress report); True if one was running."""
        job = self.pulling
        if job is None or job.cancel.is_set():
            return False
        job.cancel.set()
        return True

    # --- the worker -------------------------------------------------------------------------------

    @staticmethod
    def _reporter(job: PullJob, phase: str):
        """The pull's progress callback (in the worker): raises once cancelled, else keeps the report on the job."""

        def report(done: int, total: int | None) -> None:
            if job.cancel.is_set():
                raise PullCancelled()
            job.progress = (phase, done, total)

        return report

    @work(thread=True, group="pull", exit_on_error=False)
    def pull_model(self, job: PullJob) -> None:
        """The pull, off the UI thread; it ends by posting PullFinished or PullFailed."""
        qfile = job.entry.files[job.quant]

        def on_start(remote: RemoteFile) -> None:
            if job.cancel.is_set():
                raise PullCancelled()
            size = human_size(remote.size) if remote.size else "unknown size"
            self.post_message(self.PullStarted(
                f"{qfile.file} ({size}) is in the Hugging Face cache: nothing to download" if remote.cached
                else f"downloading {qfile.file} ({size}) from {remote.url}"))

        try:
            result = pull(job.entry, job.quant, progress=self._reporter(job, "downloading"), on_start=on_start,
                          verify_progress=self._reporter(job, "verifying"))
        except PullCancelled:
            self.post_message(self.PullFailed(CANCELLED, cancelled=True))
        except (DownloadError, HubError, ModelFileError, RegistryError, OSError) as error:
            # fetch turns any exception of the transfer (PullCancelled too) into a DownloadError
            cancelled = job.cancel.is_set() and isinstance(error.__context__, PullCancelled)
            self.post_message(self.PullFailed(CANCELLED if cancelled else one_line(error), cancelled))
        except Exception as error:  # noqa: BLE001 - the app must outlive any bug in the pull
            self.post_message(self.PullFailed(f"{type(error).__name__}: {one_line(error)}"))
        else:
            self.post_message(self.PullFinished(result))

    # --- its messages -----------------------------------------------------------------------------

    def on_pull_mixin_pull_started(self, message: PullStarted) -> None:
        self.transcript.add_note(message.text)
        if self.pulling is not None:
            self.pulling.started = True

    def show_pull_progress(self, job: PullJob | None = None, ended: bool = False) -> None:
        """Redraw the progress note with the newest report (the timer calls it while the pull runs)."""
        job = job or self.pulling
        if job is None or job.progress is None or not job.started:
            return
        phase, done, total = job.progress
        shown = f"{human_size(done)} / {human_size(total)} ({done * 100 // total}%)" if total else human_size(done)
        hint = "" if ended else " · cancelling …" if job.cancel.is_set() else " · esc cancels"
        text = f"{job.label}: {phase} {shown}{hint}"
        if job.note is None:
            job.note = self.transcript.add_note(text)
        elif job.note.text != text:
            job.note.text = text
            job.note.update(Text(text))

    def _pull_ended(self) -> PullJob | None:
        job, self.pulling = self.pulling, None
        if job is not None:
            if job.timer is not None:
                job.timer.stop()
            self.show_pull_progress(job, ended=True)
        return job

    def on_pull_mixin_pull_finished(self, message: PullFinished) -> None:
        job = self._pull_ended()
        result = message.result
        spec = job.spec if job is not None else result.entry.name
        if result.already_present:
            self.transcript.add_note(f"{result.entry.name} {result.quant} is already downloaded: {result.path}. "
                                     f"/model {spec} switches to it", "ok")
        else:
            source = "taken from the Hugging Face cache" if result.from_hf_cache else "downloaded"
            checked = (f"sha256 checked against the {result.checked_against}" if result.checked_against
                       else "no sha256 known")
            self.transcript.add_note(f"pulled {result.entry.name} {result.quant} ({source}, "
                                     f"{human_size(result.size_bytes)}, {checked}, GGUF header OK) to "
                                     f"{result.path}. /model {spec} switches to it", "ok")
        for note in result.notes:
            self.transcript.add_note(f"note: {note}")

    def on_pull_mixin_pull_failed(self, message: PullFailed) -> None:
        job = self._pull_ended()
        label = job.label if job is not None else "the model"
        if message.cancelled:
            self.transcript.add_note(f"/pull {label} cancelled: {message.error}", "warning")
        else:
            self.transcript.add_note(f"/pull {label} failed: {message.error}", "error")
