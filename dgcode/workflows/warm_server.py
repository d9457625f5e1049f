"""A warm model for dgcode itself: `dgcode serve` leaves a record, and fix, the hook and the TUI use a live one.

Loading a model costs seconds (llama.cpp's load, a first prefill); a user who
keeps ``dgcode serve`` running has it loaded already. While it serves,
``announce`` keeps a record in the user's runtime folder
(``$XDG_RUNTIME_DIR/dgcode``, else ``$DGCODE_DATA_DIR/run``; the folder is the
user's only, mode 0700): ``serve-<pid>.json`` with the URL, the process id and
the model file's identity (real path, size, mtime). ``find_warm_server`` is
what the other front ends ask before loading a model themselves: a record
counts only when its process is alive, it serves exactly this file (same
real path, size and mtime), it needs no API key, and its ``/health`` answers
(as a dgcode server, for that model) within a short timeout. A dead
server's record is removed. The setting ``warm_server = false`` turns the
search off.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dgcode.fsio import write_text_atomic

HEALTH_TIMEOUT_S = 2.0
RECORD_GLOB = "serve-*.json"


def runtime_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "").strip()
    if runtime:
        return Path(runtime) / "dgcode"
    from dgcode.models.store import data_dir

    return data_dir() / "run"


def model_identity(path: Path) -> dict[str, object]:
    real = os.path.realpath(path)
    st = os.stat(real)
    return {"path": real, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass(frozen=True)
class ServerRecord:
    pid: int
    url: str
    model: dict
    keyed: bool


def announce(url: str, model_path: Path, keyed: bool) -> Path:
    """Write this process's record (atomically, readable by the user only); returns its path."""
    folder = runtime_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    record = {"pid": os.getpid(), "url": url, "model": model_identity(model_path), "keyed": keyed}
    return write_text_atomic(folder / f"serve-{os.getpid()}.json", json.dumps(record))


def withdraw(path: Path) -> None:
    path.unlink(missing_ok=True)


def _records() -> list[tuple[Path, ServerRecord]]:
    found = []
    folder = runtime_dir()
    for path in sorted(folder.glob(RECORD_GLOB)) if folder.is_dir() else []:
        try:
            raw = json.loads(path.read_text())
            found.append((path, ServerRecord(int(raw["pid"]), str(raw["url"]), dict(raw["model"]),
                                             bool(raw.get("keyed", False)))))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged record is skipped (and left for its writer)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthy(url: str) -> bool:
    import httpx

    root = url[:-3] if url.endswith("/v1") else url
    try:
        answer = httpx.get(root + "/health", timeout=HEALTH_TIMEOUT_S)
        return answer.status_code == 200 and answer.json().get("server") == "dgcode" and answer.json()["loaded"]
    except Exception:  # noqa: BLE001 - a server that does not answer well is not used
        return False


def find_warm_server(model_path: Path) -> str | None:
    """The URL of a live ``dgcode serve`` of exactly ``model_path`` that needs no key, else None."""
    try:
        wanted = model_identity(model_path)
    except OSError:
        return None
    for path, record in _records():
        if not _alive(record.pid):
            path.unlink(missing_ok=True)
            continue
        if record.keyed or record.model != wanted:
            continue
        if _healthy(record.url):
            return record.url
    return None
