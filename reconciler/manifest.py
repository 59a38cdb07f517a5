"""The manifest: a SQLite cache of what the bucket holds and what the folder looked like.

With migrations.py, dbfile.py and tables.py, the only sqlite3 users. WAL mode, small
transactions, written only after S3 confirms, so a kill at any instant leaves either the
old row or the new one. A file that is not a valid manifest (or is from a future version)
is moved aside and rebuilt from the listing: a cache, never trusted blindly, never fatal.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

from .dbfile import (
    CHECK_EVERY_SECONDS,
    ManifestError,
    check_integrity,
    is_disk_problem,
    last_check_if_untouched,
    make_private,
    move_aside,
    stamp_clean_close,
    write_error,
)
from .lock import make_private_dir
from .migrations import MIGRATIONS, SCHEMA_VERSION, _migrate
from .models import EntryState, LocalFile, ManifestEntry, Observation, PendingMultipart
from .tables import ADD_SENT, ManifestTables
from .text import normal_target

__all__ = ["CHECK_EVERY_SECONDS", "MIGRATIONS", "SCHEMA_VERSION", "Manifest", "ManifestError",
           "normal_target"]
TARGET = "target"  # meta row: the bucket the rows describe

_COLUMNS = ("root, rel, key, state, size, mtime_ns, dev, ino, checksum, obs_size, obs_mtime_ns, "
            "obs_count, obs_first, attempts, next_attempt_at, last_error, uploaded_at, obs_since, "
            "unverified")
_STATES = {s.value: s for s in EntryState}


def _entry(row: tuple) -> ManifestEntry:
    (root, rel, key, state, size, mtime_ns, dev, ino, checksum, obs_size, obs_mtime_ns,
     obs_count, obs_first, attempts, next_at, last_error, uploaded_at, obs_since, unverified) = row
    obs = (Observation(obs_size, obs_mtime_ns, obs_count, obs_first, obs_since)
           if obs_count is not None else None)
    return ManifestEntry(root, rel, key, _STATES[state], size, mtime_ns, dev, ino, checksum,
                         obs, attempts, next_at, last_error, uploaded_at, bool(unverified))


class Manifest(ManifestTables):
    def __init__(self, db: sqlite3.Connection, path: str, fresh: bool, moved_aside: Optional[str] = None):
        self.db = db
        self.path = path
        self.fresh = fresh  # new or rebuilt: the bucket listing must fill it in
        self.moved_aside = moved_aside
        self._lock = threading.RLock()  # upload threads record multipart ids through us
        self.checked_at = 0.0  # writable: when its integrity was last checked (see close)

    # ---- opening -------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path | str, target: str = "") -> Manifest:
        """Open for writing, creating or migrating; a corrupt file is moved aside.

        `target` names the bucket (and endpoint) the rows describe: a manifest written for
        another bucket is moved aside too, or nothing would be uploaded to the new one.
        """
        target = normal_target(target)
        m = cls._open_or_rebuild(str(path))
        recorded = m.meta(TARGET)
        if target and recorded != target and (recorded is None or normal_target(recorded) == target):
            m.set_meta(TARGET, target)  # also rewrites a row an older version stored unnormalised
        elif target and recorded != target:
            m.close()
            aside = move_aside(str(path), "other-bucket")
            m = cls._open_or_rebuild(str(path))
            m.set_meta(TARGET, target)
            m.moved_aside = (f"{aside} (it was for {normal_target(recorded or '')}, the config now "
                             f"says {target})")
        return m

    @classmethod
    def _open_or_rebuild(cls, path: str) -> Manifest:
        try:
            make_private_dir(os.path.dirname(path) or ".")
        except OSError as exc:
            raise ManifestError(f"cannot create the state dir for {path} ({exc.strerror}): "
                                "set state_dir to a writable local folder.") from None
        existed = os.path.exists(path)
        make_private(path)
        try:
            return cls._open_valid(path, existed)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and is_disk_problem(exc):
                raise write_error(exc, path) from None
            aside = move_aside(path)
            make_private(path)
            m = cls._open_valid(path, False)
            m.moved_aside = f"{aside} ({exc})"
            return m

    @classmethod
    def _open_valid(cls, path: str, existed: bool) -> Manifest:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        checked_at = last_check_if_untouched(path) if existed else None
        try:
            if existed and checked_at is None:
                check_integrity(db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL+NORMAL: a power cut loses at most
            # the last commits, never consistency; the listing recovers those.
            fresh = _migrate(db) or not existed
        except BaseException:
            db.close()
            raise
        m = cls(db, path, fresh)
        m.checked_at = checked_at or time.time()  # a writable manifest stamps its clean close
        return m

    @classmethod
    def open_readonly(cls, path: Path | str, target: str = "") -> Optional[Manifest]:
        """For --dry-run and status: never creates, migrates or writes anything.

        None when there is no usable manifest for `target` (as a fresh one would be).
        """
        path = str(path)
        if not os.path.exists(path):
            return None
        # No -wal file means no writer is active (a clean close removes it): open immutable,
        # which creates no -wal/-shm files, so a preview leaves the state dir untouched.
        live = os.path.exists(path + "-wal")
        uri = Path(os.path.abspath(path)).as_uri() + ("?mode=ro" if live else "?immutable=1")
        try:
            db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                db.close()
                return None
            db.execute("SELECT count(*) FROM files").fetchone()
            row = db.execute("SELECT value FROM meta WHERE name = ?", (TARGET,)).fetchone()
            if target and row and normal_target(row[0]) != normal_target(target):
                db.close()
                return None
        except sqlite3.DatabaseError:
            return None
        return cls(db, path, fresh=False)

    def close(self) -> None:
        self.db.close()
        if self.checked_at and self.path != ":memory:":
            stamp_clean_close(self.path, self.checked_at)

    # ---- reading -------------------------------------------------------------------
    def entries_for(self, root: str) -> dict[tuple[str, str], ManifestEntry]:
        """Every row of one watch dir, in one query."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM files WHERE root = ?", (root,))
        return {(r[0], r[1]): _entry(r) for r in rows}

    def entries_in_dirs(self, root: str, dirs: Iterable[str]) -> dict[tuple[str, str], ManifestEntry]:
        """The rows of files directly in these folders of one watch dir (not in their
        subfolders): what a pass that skipped the other folders needs."""
        out: dict[tuple[str, str], ManifestEntry] = {}
        sql = (f"SELECT {_COLUMNS} FROM files WHERE root = ? AND rel >= ? AND rel < ? "
               "AND instr(substr(rel, ?), '/') = 0")
        for d in dirs:
            # '0' follows '/' in code order: [d, d[:-1] + '0') is every rel under d.
            upper = d[:-1] + "0" if d else "\U0010ffff"
            for r in self.db.execute(sql, (root, d, upper, len(d) + 1)):
                out[(r[0], r[1])] = _entry(r)
        return out

    def uploaded_by_identity(self) -> dict[tuple[int, int, int, int], str]:
        """(volume, file id, size, mtime) -> key of every uploaded file, in one query."""
        rows = self.db.execute(
            "SELECT dev, ino, size, mtime_ns, key FROM files WHERE state = 'uploaded' AND ino != 0")
        return {(dev, ino, size, mtime): key for dev, ino, size, mtime, key in rows}

    def all_entries(self) -> list[ManifestEntry]:
        return [_entry(r) for r in self.db.execute(f"SELECT {_COLUMNS} FROM files")]

    def meta(self, name: str) -> Optional[str]:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def state_counts(self) -> dict[str, dict[str, float]]:
        """Per state: files, bytes (uploaded size, or last observed size), oldest first_seen."""
        rows = self.db.execute(
            "SELECT state, count(*), coalesce(sum(CASE WHEN state = 'uploaded' THEN size "
            "ELSE coalesce(obs_size, size) END), 0), min(obs_first) FROM files GROUP BY state")
        return {state: {"files": n, "bytes": b, "oldest_first_seen": oldest}
                for state, n, b, oldest in rows}

    def unverified(self) -> list[ManifestEntry]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM files WHERE state = 'uploaded' AND unverified = 1 ORDER BY rel")
        return [_entry(r) for r in rows]

    def uploaded_since(self, since: float = 0.0) -> list[ManifestEntry]:
        """Uploaded rows (uploaded_at >= since), oldest upload first: what `verify` audits."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM files WHERE state = 'uploaded' AND "
                               "coalesce(uploaded_at, 0) >= ? ORDER BY uploaded_at, root, rel", (since,))
        return [_entry(r) for r in rows]

    def failing(self) -> list[ManifestEntry]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM files WHERE state = 'failed' ORDER BY next_attempt_at")
        return [_entry(r) for r in rows]

    def open_multiparts(self) -> list[PendingMultipart]:
        rows = self.db.execute("SELECT upload_id, key, started_at, root, rel, size, mtime_ns, "
                               "part_size FROM multipart ORDER BY started_at, upload_id")
        return [PendingMultipart(*r) for r in rows]

    # ---- writing (each a small transaction) ----------------------------------------
    def _write(self, sql: str, rows: Iterable[tuple], *more: tuple[str, Iterable[tuple]]) -> None:
        """One transaction: `sql` for every row, then each (sql, rows) of `more`."""
        try:
            with self._lock, self.db:
                self.db.execute("BEGIN IMMEDIATE")
                for statement, params in ((sql, rows), *more):
                    self.db.executemany(statement, params)
        except sqlite3.OperationalError as exc:
            raise write_error(exc, self.path) from None

    def set_meta(self, name: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", [(name, value)])

    def record_uploaded(self, rows: list[tuple[LocalFile, str, Optional[str]]], now: float,
                        unverified: bool = False, sent: Optional[dict[str, int]] = None) -> None:
        """(file, key, checksum) rows the bucket now holds; one transaction for the batch,
        with the bytes they sent counted by local day (`sent`, for daily_budget).
        `unverified`: sent, but the store would not let us confirm it (write-only keys)."""
        self._write(
            f"INSERT OR REPLACE INTO files ({_COLUMNS}) VALUES "
            "(?, ?, ?, 'uploaded', ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, 0, NULL, NULL, ?, NULL, ?)",
            [(f.root, f.rel, key, f.size, f.mtime_ns, f.dev, f.ino, checksum, now, int(unverified))
             for f, key, checksum in rows], (ADD_SENT, list((sent or {}).items())))

    def record_overwritten(self, file: LocalFile, key: str, now: float) -> None:
        """We wrote key, but the file changed meanwhile: not done, yet the object is ours."""
        self._write(
            "INSERT INTO files (root, rel, key, state, uploaded_at) VALUES (?, ?, ?, 'pending', ?) "
            "ON CONFLICT (root, rel) DO UPDATE SET key = excluded.key, state = CASE WHEN "
            "files.state = 'uploaded' THEN 'pending' ELSE files.state END, "
            "uploaded_at = excluded.uploaded_at, obs_count = NULL",
            [(file.root, file.rel, key, now)])

    def record_failed(self, file: LocalFile, key: str, error: str, next_attempt_at: float) -> None:
        self._write(
            "INSERT INTO files (root, rel, key, state, attempts, next_attempt_at, last_error) "
            "VALUES (?, ?, ?, 'failed', 1, ?, ?) ON CONFLICT (root, rel) DO UPDATE SET "
            "state = 'failed', key = excluded.key, attempts = files.attempts + 1, "
            "next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error, "
            "obs_count = NULL",
            [(file.root, file.rel, key, next_attempt_at, error)])

    def record_observations(self, rows: list[tuple[LocalFile, str, Observation]]) -> None:
        """Stability history of files not yet uploaded; one transaction for the batch."""
        if not rows:
            return
        self._write(
            "INSERT INTO files (root, rel, key, state, obs_size, obs_mtime_ns, obs_count, "
            "obs_first, obs_since) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?) ON CONFLICT (root, rel) "
            "DO UPDATE SET obs_size = excluded.obs_size, obs_mtime_ns = excluded.obs_mtime_ns, "
            "obs_count = excluded.obs_count, obs_first = excluded.obs_first, "
            "obs_since = excluded.obs_since",
            [(f.root, f.rel, key, o.size, o.mtime_ns, o.count, o.first_seen, o.since)
             for f, key, o in rows])

    def forget(self, ids: list[tuple[str, str]], uploaded_too: bool = False) -> None:
        """Drop rows of files that are gone; uploaded rows only when asked (pruning)."""
        if ids:
            keep = "" if uploaded_too else " AND state != 'uploaded'"
            self._write(f"DELETE FROM files WHERE root = ? AND rel = ?{keep}", ids)
            if not uploaded_too:  # gone before its whole upload: its segments stay in the bucket
                self.forget_live(ids)

    def reset_observation(self, file: LocalFile) -> None:
        self._write("UPDATE files SET obs_count = NULL WHERE root = ? AND rel = ?",
                    [file.id])

    def multipart_started(self, upload_id: str, key: str, now: float,
                          file: Optional[LocalFile] = None, part_size: int = 0) -> None:
        row = (upload_id, key, now, file.root if file else None, file.rel if file else None,
               file.size if file else 0, file.mtime_ns if file else 0, part_size)
        self._write("INSERT OR REPLACE INTO multipart (upload_id, key, started_at, root, rel, size, "
                    "mtime_ns, part_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [row])

    def multipart_ended(self, upload_id: str) -> None:
        self._write("DELETE FROM multipart WHERE upload_id = ?", [(upload_id,)])


