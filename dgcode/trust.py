"""Trust of a repository's own config file: which exact ``.dgcode.toml`` contents the user has allowed.

A repository's ``.dgcode.toml`` travels with a clone, so whoever wrote it
could make ``dgcode fix`` or the commit hook run any command.  As git refuses
repository hooks and direnv asks for ``direnv allow``, a setting that runs
something (``KeySpec.needs_trust``; today ``fix.cmd``) is taken from a
repository's file only after the user has trusted that file's exact bytes.

The record lives outside every repository, in dgcode's data folder
(``DGCODE_DATA_DIR`` or ``platformdirs.user_data_dir("dgcode")``), as one JSON
file ``trusted-configs.json``::

    {"version": 1, "trusted": {"/abs/real/path/.dgcode.toml": {"sha256": "...", "trusted_at": "..."}}}

It is keyed by the config file's real path (so by the repository) and holds
the SHA-256 of the bytes the user saw: a changed file needs trust again.
The record is written atomically (temp file, fsync, ``os.replace``); a record
that is not this shape is refused (``TrustStoreError``), never half-read,
and nothing is trusted through it.  Nothing here imports a front end; the
command line's ``dgcode trust``, ``dgcode fix``'s prompt and the TUI's
``/trust`` all come through ``trust_config_file``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path

from dgcode.fsio import write_text_atomic

TRUST_FILE_NAME = "trusted-configs.json"
TRUST_VERSION = 1


class TrustStoreError(Exception):
    """The trust record cannot be read or written; ``str(error)`` says which file and why."""


def trust_file() -> Path:
    """Where the trust record lives (outside every repository)."""
    from dgcode.models.store import data_dir

    return data_dir() / TRUST_FILE_NAME


def config_digest(data: bytes) -> str:
    """The SHA-256 (hex) a trust decision is keyed by."""
    return hashlib.sha256(data).hexdigest()


def _key(config_file: Path) -> str:
    return os.path.realpath(config_file)


def _read_record(path: Path) -> dict[str, dict[str, str]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise TrustStoreError(f"{path}: cannot be read: {error.strerror or error}") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise TrustStoreError(f"{path}: not a dgcode trust record (not JSON); remove it to start again") from None
    trusted = document.get("trusted") if isinstance(document, dict) else None
    if (not isinstance(document, dict) or document.get("version") != TRUST_VERSION or not isinstance(trusted, dict)
            or not all(isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("sha256"), str)
                       for k, v in trusted.items())):
        raise TrustStoreError(f"{path}: not a dgcode trust record of version {TRUST_VERSION}; "
                              "remove it to start again")
    return trusted


def _write_record(path: Path, trusted: dict[str, dict[str, str]]) -> None:
    text = json.dumps({"version": TRUST_VERSION, "trusted": trusted}, indent=2, sort_keys=True) + "\n"
    try:
        write_text_atomic(path, text)
    except OSError as error:
        raise TrustStoreError(f"{path}: cannot be written: {error.strerror or error}") from None


def is_trusted(config_file: Path, digest: str) -> bool:
    """Whether the user trusted ``config_file`` with exactly the contents hashing to ``digest``.

    An unreadable or damaged record trusts nothing (and the error is not
    raised here: a config load must not fail because of it; ``dgcode trust``
    reports it).
    """
    try:
        entry = _read_record(trust_file()).get(_key(config_file))
    except TrustStoreError:
        return False
    return entry is not None and entry.get("sha256") == digest


def trust_config_file(config_file: Path, digest: str) -> None:
    """Record that the user trusts ``config_file`` with the contents hashing to ``digest``.

    ``digest`` is the hash of the bytes the user was shown, not of the file
    as it is now: if it changed in between, the new contents stay untrusted.
    """
    path = trust_file()
    trusted = _read_record(path)
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    trusted[_key(config_file)] = {"sha256": digest, "trusted_at": stamp}
    _write_record(path, trusted)


def revoke_config_file(config_file: Path) -> bool:
    """Forget any trust of ``config_file``; whether there was one."""
    path = trust_file()
    trusted = _read_record(path)
    if trusted.pop(_key(config_file), None) is None:
        return False
    _write_record(path, trusted)
    return True
