"""The manifest's smaller tables, one group of methods each, mixed into Manifest: pass
history, the daily byte count, alerts, the ledger, live segments and folder state. The
files table (what each file is) and opening the database stay in manifest.py."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any, Callable, Optional

from .dbfile import write_error
from .logs import strip_userinfo
from .models import AlertState, DirRecord, EntryState, LiveState, LocalFile
from .results import PassReport

ADD_SENT = ("INSERT INTO daily_bytes (day, bytes) VALUES (?, ?) ON CONFLICT (day) DO "
            "UPDATE SET bytes = daily_bytes.bytes + excluded.bytes")  # (day, bytes) more sent


def local_day(now: float) -> str:
    """The local calendar day of `now` (YYYY-MM-DD): what daily_budget counts by."""
    return time.strftime("%Y-%m-%d", time.localtime(now))


class ManifestTables:
    """Needs the Manifest's connection, lock, path and one-transaction writer."""

    db: sqlite3.Connection
    path: str
    _lock: threading.RLock
    _write: Callable[[str, Iterable[tuple]], None]

    def dirs_for(self, root: str) -> dict[str, DirRecord]:
        """The folder records of one watch dir, by relative folder ("" = the watch dir)."""
        rows = self.db.execute("SELECT rel_dir, mtime_ns, newest_mtime, all_uploaded, checked_at, "
                               "files FROM dirs WHERE root = ?", (root,))
        return {r[0]: DirRecord(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows}

    def passes(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT started_at, finished_at, exit_code, report FROM passes "
            "ORDER BY id DESC LIMIT ?", (limit,))
        return [{"started_at": s, "finished_at": f, "exit_code": c,
                 "report": json.loads(r) if r else {}} for s, f, c, r in rows]

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
            raise write_error(exc, self.path) from None

    def ledger_written(self, key: str) -> None:
        self._write("UPDATE ledger_objects SET written = 1 WHERE key = ?", [(key,)])

    def bytes_sent_on(self, day: str) -> int:
        """Bytes uploaded on one local day (YYYY-MM-DD)."""
        row = self.db.execute("SELECT bytes FROM daily_bytes WHERE day = ?", (day,)).fetchone()
        return int(row[0]) if row else 0

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

    def save_dirs(self, root: str, records: Iterable[DirRecord], gone: Iterable[str]) -> None:
        """Folder records this pass listed, and folders it found gone; one transaction."""
        rows = [(root, d.rel_dir, d.mtime_ns, d.newest_mtime_ns, int(d.all_uploaded),
                 d.checked_at_ns, d.files) for d in records]
        dead = [(root, rel_dir) for rel_dir in gone]
        if not rows and not dead:
            return
        try:
            with self._lock, self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("DELETE FROM dirs WHERE root = ? AND rel_dir = ?", dead)
                self.db.executemany(
                    "INSERT OR REPLACE INTO dirs (root, rel_dir, mtime_ns, newest_mtime, "
                    "all_uploaded, checked_at, files) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.OperationalError as exc:
            raise write_error(exc, self.path) from None

    def start_pass(self, now: float) -> int:
        try:
            with self._lock, self.db:
                cur = self.db.execute("INSERT INTO passes (started_at) VALUES (?)", (now,))
                self.db.execute("DELETE FROM passes WHERE id < ? - 1000", (cur.lastrowid,))
        except sqlite3.OperationalError as exc:
            raise write_error(exc, self.path) from None
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
            raise write_error(exc, self.path) from None

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
            raise write_error(exc, self.path) from None
