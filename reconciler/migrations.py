"""The manifest's schema: named migrations, applied in order, each in the transaction
that records it (sqlite-utils' migrations.py). A new table or column is a new function
appended to MIGRATIONS."""

from __future__ import annotations

import sqlite3
from typing import Callable


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


def _v8_dir_state(db: sqlite3.Connection) -> None:
    """One row per folder, so an idle pass can skip unchanged quiet folders (dirstate.py)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS dirs (root TEXT NOT NULL, rel_dir TEXT NOT NULL, "
        "mtime_ns INTEGER NOT NULL, newest_mtime INTEGER NOT NULL, all_uploaded INTEGER NOT NULL, "
        "checked_at INTEGER NOT NULL, files INTEGER NOT NULL DEFAULT 0, "
        "PRIMARY KEY (root, rel_dir)) WITHOUT ROWID")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2_resumable_multipart,
                                                          _v3_live_segments, _v4_unverified_uploads,
                                                          _v5_ledger, _v6_alerts,
                                                          _v7_daily_bytes, _v8_dir_state]
SCHEMA_VERSION = len(MIGRATIONS)


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
