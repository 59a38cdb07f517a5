"""The manifest: a SQLite cache of what the bucket holds and what the folder looked like.

The only sqlite3 user. WAL mode, small transactions, written only after S3 confirms, so
a kill at any instant leaves either the old row or the new one. A file that is not a
valid manifest (or is from a future version) is moved aside and rebuilt from the
listing: the manifest is a cache, never trusted blindly and never fatal.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from .lock import make_private_dir
from .logs import private_opener, strip_userinfo
from .models import (
    AlertState,
    EntryState,
    LiveState,
    LocalFile,
    ManifestEntry,
    Observation,
    PassReport,
    PendingMultipart,
)

SCHEMA_VERSION = 7
TARGET = "target"  # meta row: the bucket the rows describe


def local_day(now: float) -> str:
    """The local calendar day of `now` (YYYY-MM-DD): what daily_budget counts by."""
    return time.strftime("%Y-%m-%d", time.localtime(now))
def normal_target(target: str) -> str:
    """"endpoint|bucket" in one spelling: no user:password@ (never stored), scheme and host in
    lower case, no default port, no trailing '/', no query; so the same store written another
    way is still the same manifest."""
    url, sep, bucket = target.rpartition("|")
    if not sep or url == "aws":
        return target
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return f"{strip_userinfo(url)}|{bucket}"
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}|{bucket}"


class ManifestError(Exception):
    """The manifest cannot be written (disk full, read-only); the message says what to do."""


def _v1(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE files (
            root TEXT NOT NULL, rel TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL,
            size INTEGER NOT NULL DEFAULT 0, mtime_ns INTEGER NOT NULL DEFAULT 0,
            dev INTEGER NOT NULL DEFAULT 0, ino INTEGER NOT NULL DEFAULT 0,
            checksum TEXT,
            obs_size INTEGER, obs_mtime_ns INTEGER, obs_count INTEGER, obs_first REAL,
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL, last_error TEXT,
            uploaded_at REAL,
            PRIMARY KEY (root, rel)
        ) WITHOUT ROWID;
        CREATE INDEX files_identity ON files (dev, ino) WHERE state = 'uploaded' AND ino != 0;
        CREATE TABLE passes (
            id INTEGER PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL,
            exit_code INTEGER, report TEXT
        );
        CREATE TABLE multipart (
            upload_id TEXT PRIMARY KEY, key TEXT NOT NULL, started_at REAL NOT NULL
        );
        """
    )


def _v2_resumable_multipart(db: sqlite3.Connection) -> None:
    """Remember which file (and part size) a multipart upload was for, so it can resume."""
    for column in ("root TEXT", "rel TEXT", "size INTEGER NOT NULL DEFAULT 0",
                   "mtime_ns INTEGER NOT NULL DEFAULT 0", "part_size INTEGER NOT NULL DEFAULT 0"):
        db.execute(f"ALTER TABLE multipart ADD COLUMN {column}")


def _v3_live_segments(db: sqlite3.Connection) -> None:
    """Live upload: each file's segments sent so far, and when it was first seen unfinished."""
    db.execute("ALTER TABLE files ADD COLUMN obs_since REAL")
    db.execute(
        """CREATE TABLE IF NOT EXISTS live (
            root TEXT NOT NULL, rel TEXT NOT NULL, base TEXT NOT NULL,
            segments INTEGER NOT NULL, sent INTEGER NOT NULL, last_at REAL,
            head_sha TEXT NOT NULL DEFAULT '', head_len INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (root, rel)
        ) WITHOUT ROWID""")
def _v4_unverified_uploads(db: sqlite3.Connection) -> None:
    """An uploaded row the store refused us the read to confirm (write-only credentials)."""
    db.execute("ALTER TABLE files ADD COLUMN unverified INTEGER NOT NULL DEFAULT 0")


def _v5_ledger(db: sqlite3.Connection) -> None:
    """The hash-chained ledger: each object written (or still to write) and its lines."""
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS ledger_objects (
            seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL,
            created_at REAL NOT NULL, written INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS ledger_lines (
            id INTEGER PRIMARY KEY, object_seq INTEGER NOT NULL, line TEXT NOT NULL
        );
        """
    )


def _v6_alerts(db: sqlite3.Connection) -> None:
    """Open alerts (so a --once run every 5 minutes does not resend them) and when each file
    waiting to upload was first seen ready (the backlog alert)."""
    db.execute("CREATE TABLE IF NOT EXISTS alerts (name TEXT PRIMARY KEY, opened_at REAL NOT NULL, "
               "sent_at REAL, detail TEXT NOT NULL DEFAULT '')")
    db.execute("CREATE TABLE IF NOT EXISTS ready_since (root TEXT NOT NULL, rel TEXT NOT NULL, "
               "since REAL NOT NULL, PRIMARY KEY (root, rel)) WITHOUT ROWID")


def _v7_daily_bytes(db: sqlite3.Connection) -> None:
    """Bytes uploaded per local calendar day, for transfer.daily_budget across runs."""
    db.execute("CREATE TABLE IF NOT EXISTS daily_bytes (day TEXT PRIMARY KEY, "
               "bytes INTEGER NOT NULL DEFAULT 0)")


# Named migrations, applied in order, each in the transaction that records it.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2_resumable_multipart,
                                                          _v3_live_segments, _v4_unverified_uploads,
                                                          _v5_ledger, _v6_alerts,
                                                          _v7_daily_bytes]
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


class Manifest:
    def __init__(self, db: sqlite3.Connection, path: str, fresh: bool, moved_aside: Optional[str] = None):
        self.db = db
        self.path = path
        self.fresh = fresh  # new or rebuilt: the bucket listing must fill it in
        self.moved_aside = moved_aside
        self._lock = threading.RLock()  # upload threads record multipart ids through us

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
            aside = _move_aside(str(path), "other-bucket")
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
        _make_private(path)
        try:
            return cls._open_valid(path, existed)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and _is_disk_problem(exc):
                raise _write_error(exc, path) from None
            aside = _move_aside(path)
            _make_private(path)
            m = cls._open_valid(path, False)
            m.moved_aside = f"{aside} ({exc})"
            return m

    @classmethod
    def _open_valid(cls, path: str, existed: bool) -> Manifest:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            if existed:
                _check_integrity(db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL+NORMAL: a power cut loses at most
            # the last commits, never consistency; the listing recovers those.
            fresh = _migrate(db) or not existed
        except BaseException:
            db.close()
            raise
        return cls(db, path, fresh)

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

    # ---- reading -------------------------------------------------------------------
    def entries_for(self, root: str) -> dict[tuple[str, str], ManifestEntry]:
        """Every row of one watch dir, in one query."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM files WHERE root = ?", (root,))
        return {(r[0], r[1]): _entry(r) for r in rows}

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

    def passes(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT started_at, finished_at, exit_code, report FROM passes "
            "ORDER BY id DESC LIMIT ?", (limit,))
        return [{"started_at": s, "finished_at": f, "exit_code": c,
                 "report": json.loads(r) if r else {}} for s, f, c, r in rows]

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

    # ---- the ledger ----------------------------------------------------------------
    def ledger_last_line(self) -> Optional[str]:
        row = self.db.execute("SELECT line FROM ledger_lines ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def ledger_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM ledger_objects").fetchone()[0])

    def ledger_objects(self, unwritten_only: bool = False) -> list[tuple[str, str, bool, list[str]]]:
        """(object key, sha256 hex, written, its lines) in chain order."""
        where = " WHERE written = 0" if unwritten_only else ""
        objects = self.db.execute(f"SELECT seq, key, sha256, written FROM ledger_objects{where} "
                                  "ORDER BY seq").fetchall()
        out = []
        for seq, key, sha, written in objects:
            lines = [r[0] for r in self.db.execute(
                "SELECT line FROM ledger_lines WHERE object_seq = ? ORDER BY id", (seq,))]
            out.append((key, sha, bool(written), lines))
        return out

    def ledger_add(self, key: str, sha256: str, lines: list[str], now: float) -> None:
        """Remember a ledger object before it is written: a crash leaves it to write again."""
        try:
            with self._lock, self.db:
                self.db.execute("BEGIN IMMEDIATE")
                cur = self.db.execute("INSERT INTO ledger_objects (key, sha256, created_at) "
                                      "VALUES (?, ?, ?)", (key, sha256, now))
                self.db.executemany("INSERT INTO ledger_lines (object_seq, line) VALUES (?, ?)",
                                    [(cur.lastrowid, line) for line in lines])
        except sqlite3.OperationalError as exc:
            raise _write_error(exc, self.path) from None

    def ledger_written(self, key: str) -> None:
        self._write("UPDATE ledger_objects SET written = 1 WHERE key = ?", [(key,)])

    def failing(self) -> list[ManifestEntry]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM files WHERE state = 'failed' ORDER BY next_attempt_at")
        return [_entry(r) for r in rows]

    def bytes_sent_on(self, day: str) -> int:
        """Bytes uploaded on one local day (YYYY-MM-DD)."""
        row = self.db.execute("SELECT bytes FROM daily_bytes WHERE day = ?", (day,)).fetchone()
        return int(row[0]) if row else 0

    def open_multiparts(self) -> list[PendingMultipart]:
        rows = self.db.execute("SELECT upload_id, key, started_at, root, rel, size, mtime_ns, "
                               "part_size FROM multipart ORDER BY started_at, upload_id")
        return [PendingMultipart(*r) for r in rows]

    def exit_codes(self, limit: int) -> list[Optional[int]]:
        """The exit codes of the last `limit` passes, newest first."""
        rows = self.db.execute("SELECT exit_code FROM passes ORDER BY id DESC LIMIT ?", (limit,))
        return [r[0] for r in rows]

    def alerts(self) -> dict[str, AlertState]:
        rows = self.db.execute("SELECT name, opened_at, sent_at, detail FROM alerts ORDER BY name")
        return {r[0]: AlertState(*r) for r in rows}

    def oldest_ready_since(self) -> Optional[float]:
        """When the longest-waiting ready file was first seen ready; None: no backlog."""
        return self.db.execute("SELECT min(since) FROM ready_since").fetchone()[0]

    # ---- writing (each a small transaction) ----------------------------------------
    def _write(self, sql: str, rows: Iterable[tuple]) -> None:
        try:
            with self._lock, self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise _write_error(exc, self.path) from None

    def set_meta(self, name: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", [(name, value)])

    def record_uploaded(self, rows: list[tuple[LocalFile, str, Optional[str]]], now: float,
                        unverified: bool = False) -> None:
        """(file, key, checksum) rows the bucket now holds; one transaction for the batch.
        `unverified`: sent, but the store would not let us confirm it (write-only keys)."""
        self._write(
            f"INSERT OR REPLACE INTO files ({_COLUMNS}) VALUES "
            "(?, ?, ?, 'uploaded', ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, 0, NULL, NULL, ?, NULL, ?)",
            [(f.root, f.rel, key, f.size, f.mtime_ns, f.dev, f.ino, checksum, now, int(unverified))
             for f, key, checksum in rows])

    def add_sent(self, day: str, n: int) -> None:
        """Count n more bytes uploaded on `day` (one small row per day)."""
        self._write("INSERT INTO daily_bytes (day, bytes) VALUES (?, ?) ON CONFLICT (day) DO "
                    "UPDATE SET bytes = daily_bytes.bytes + excluded.bytes", [(day, n)])

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

    # ---- live segments --------------------------------------------------------------
    def live_states(self) -> dict[tuple[str, str], LiveState]:
        rows = self.db.execute("SELECT root, rel, base, segments, sent, last_at, head_sha, "
                               "head_len FROM live")
        return {(r[0], r[1]): LiveState(*r) for r in rows}

    def record_segment(self, file: LocalFile, base: str, seq: int, end: int, now: float,
                       head: tuple[str, int] = ("", 0)) -> None:
        """Segment `seq` of `file` is in the bucket; its bytes end at `end`. Segment 0
        starts the row afresh (a restart too) with the hash of the file's first bytes."""
        if seq == 0:
            self._write("INSERT OR REPLACE INTO live (root, rel, base, segments, sent, last_at, "
                        "head_sha, head_len) VALUES (?, ?, ?, 1, ?, ?, ?, ?)",
                        [(file.root, file.rel, base, end, now, head[0], head[1])])
        else:
            self._write("UPDATE live SET segments = ?, sent = ?, last_at = ? WHERE root = ? AND "
                        "rel = ? AND segments = ?", [(seq + 1, end, now, file.root, file.rel, seq)])

    def forget_live(self, ids: list[tuple[str, str]]) -> None:
        if ids:
            self._write("DELETE FROM live WHERE root = ? AND rel = ?", ids)

    def reset_observation(self, file: LocalFile) -> None:
        self._write("UPDATE files SET obs_count = NULL WHERE root = ? AND rel = ?",
                    [file.id])

    def start_pass(self, now: float) -> int:
        try:
            with self._lock, self.db:
                cur = self.db.execute("INSERT INTO passes (started_at) VALUES (?)", (now,))
                self.db.execute("DELETE FROM passes WHERE id < ? - 1000", (cur.lastrowid,))
        except sqlite3.OperationalError as exc:
            raise _write_error(exc, self.path) from None
        return int(cur.lastrowid or 0)

    def finish_pass(self, pass_id: int, report: PassReport) -> None:
        body = strip_userinfo(json.dumps({k: v for k, v in vars(report).items()}))
        self._write("UPDATE passes SET finished_at = ?, exit_code = ?, report = ? WHERE id = ?",
                    [(report.finished_at, report.exit_code, body, pass_id)])

    def save_alerts(self, alerts: dict[str, AlertState]) -> None:
        """Replace the open alerts; no write when nothing changed (idle passes stay read-only)."""
        if alerts == self.alerts():
            return
        try:
            with self._lock, self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("DELETE FROM alerts")
                self.db.executemany("INSERT INTO alerts (name, opened_at, sent_at, detail) "
                                    "VALUES (?, ?, ?, ?)",
                                    [(a.name, a.opened_at, a.sent_at, a.detail) for a in alerts.values()])
        except sqlite3.OperationalError as exc:
            raise _write_error(exc, self.path) from None

    def note_ready(self, ready: Iterable[tuple[str, str]], now: float) -> None:
        """Files that were ready this pass: those still not uploaded keep (or get) their
        first-seen-ready time; every other row goes."""
        known = {(r, p): s for r, p, s in self.db.execute("SELECT root, rel, since FROM ready_since")}
        waiting = {}
        for fid in ready:
            row = self.db.execute("SELECT state FROM files WHERE root = ? AND rel = ?", fid).fetchone()
            if row is None or row[0] != EntryState.UPLOADED.value:
                waiting[fid] = known.get(fid, now)
        if waiting == known:
            return
        try:
            with self._lock, self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("DELETE FROM ready_since")
                self.db.executemany("INSERT INTO ready_since (root, rel, since) VALUES (?, ?, ?)",
                                    [(r, p, s) for (r, p), s in waiting.items()])
        except sqlite3.OperationalError as exc:
            raise _write_error(exc, self.path) from None

    def multipart_started(self, upload_id: str, key: str, now: float,
                          file: Optional[LocalFile] = None, part_size: int = 0) -> None:
        row = (upload_id, key, now, file.root if file else None, file.rel if file else None,
               file.size if file else 0, file.mtime_ns if file else 0, part_size)
        self._write("INSERT OR REPLACE INTO multipart (upload_id, key, started_at, root, rel, size, "
                    "mtime_ns, part_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [row])

    def multipart_ended(self, upload_id: str) -> None:
        self._write("DELETE FROM multipart WHERE upload_id = ?", [(upload_id,)])


def _migrate(db: sqlite3.Connection) -> bool:
    """Apply pending migrations; True when the schema was created just now."""
    db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(f"schema version {version} is newer than this camup-sync")
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        with db:
            db.execute("BEGIN IMMEDIATE")
            migration(db)
            db.execute(f"PRAGMA user_version = {number}")
    return version == 0


def _check_integrity(db: sqlite3.Connection) -> None:
    result = db.execute("PRAGMA quick_check").fetchone()
    if not result or result[0] != "ok":
        raise sqlite3.DatabaseError(f"integrity check failed: {result}")


def _move_aside(path: str, why: str = "corrupt") -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = f"{path}.{why}-{stamp}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.replace(path + suffix, aside + suffix)
    return aside


def _make_private(path: str) -> None:
    """The manifest file 0600 before SQLite opens it: its -wal and -shm files take the same
    mode. An existing one (from an older version) is tightened too."""
    if path == ":memory:":  # SQLite's name for no file at all
        return
    with contextlib.suppress(OSError):  # opening it for real says what is wrong, in ManifestError's words
        os.close(private_opener(path, os.O_CREAT | os.O_RDWR))


def _is_disk_problem(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("disk is full", "disk i/o", "readonly", "unable to open"))


def _write_error(exc: sqlite3.OperationalError, path: str) -> ManifestError:
    if "full" in str(exc).lower():
        return ManifestError(f"the disk holding the manifest {path} is full: free some space; "
                             "nothing was lost, the next pass catches up.")
    return ManifestError(f"cannot write the manifest {path} ({exc}): check that state_dir is "
                         "a writable local folder.")
