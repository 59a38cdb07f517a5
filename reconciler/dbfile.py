"""The manifest's SQLite file itself: its integrity check (and when it may be skipped),
moving a bad file aside, private permissions, and disk errors as sentences."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from typing import Optional

from .logs import private_opener


class ManifestError(Exception):
    """The manifest cannot be written (disk full, read-only); the message says what to do."""


CHECK_EVERY_SECONDS = 24 * 3600


def stamp(path: str) -> str:
    """The file as the last writer left it: size and mtime."""
    st = os.stat(path)
    return f"{st.st_size} {st.st_mtime_ns}"


def stamp_clean_close(path: str, checked_at: float) -> None:
    """After our own clean close: the file as SQLite left it (size, mtime) and when it was
    last fully checked, in PATH.ok."""
    try:
        if os.path.isfile(path) and not os.path.exists(path + "-wal"):  # never for ":memory:"
            with open(path + ".ok", "w", encoding="ascii", opener=private_opener) as f:
                f.write(f"{stamp(path)} {checked_at!r}")
    except OSError:
        pass  # no stamp: the next open runs the full check


def last_check_if_untouched(path: str) -> Optional[float]:
    """When the file was last fully checked, if it is exactly as our last clean close left
    it and that check is under CHECK_EVERY_SECONDS old; else None (check it now).

    The integrity check reads every page (seconds at a million rows), so an idle pass
    skips it; a crash (a -wal left), a change by anything else, or a day brings it back,
    and damage SQLite meets while reading still raises at once."""
    try:
        if os.path.exists(path + "-wal"):
            return None
        with open(path + ".ok", encoding="ascii") as f:
            size, mtime, checked = f.read().split()
        fresh = time.time() - float(checked) < CHECK_EVERY_SECONDS
        return float(checked) if fresh and f"{size} {mtime}" == stamp(path) else None
    except (OSError, ValueError):
        return None


def check_integrity(db: sqlite3.Connection) -> None:
    result = db.execute("PRAGMA quick_check").fetchone()
    if not result or result[0] != "ok":
        raise sqlite3.DatabaseError(f"integrity check failed: {result}")


def move_aside(path: str, why: str = "corrupt") -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = f"{path}.{why}-{stamp}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.replace(path + suffix, aside + suffix)
    return aside


def make_private(path: str) -> None:
    """The manifest file 0600 before SQLite opens it: its -wal and -shm files take the same
    mode. An existing one (from an older version) is tightened too."""
    if path == ":memory:":  # SQLite's name for no file at all
        return
    with contextlib.suppress(OSError):  # opening it for real says what is wrong, in ManifestError's words
        os.close(private_opener(path, os.O_CREAT | os.O_RDWR))


def is_disk_problem(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("disk is full", "disk i/o", "readonly", "unable to open"))


def write_error(exc: sqlite3.OperationalError, path: str) -> ManifestError:
    if "full" in str(exc).lower():
        return ManifestError(f"the disk holding the manifest {path} is full: free some space; "
                             "nothing was lost, the next pass catches up.")
    return ManifestError(f"cannot write the manifest {path} ({exc}): check that state_dir is "
                         "a writable local folder.")
