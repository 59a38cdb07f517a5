"""The ledger: a hash chain of every upload, kept in the bucket and in the manifest.

After each pass that uploaded something, ONE immutable object
`{prefix}_camup/ledger/{host}/{YYYY-MM-DD}/{HHMMSS}Z-{n}.jsonl` (UTC: names sort in time
order) holds one JSON line per uploaded object. Each line's `prev` is the SHA-256 (hex) of
the previous line's bytes without its newline, across objects; the very first has 64
zeros. Changing, dropping or reordering any line breaks every link after it, so `verify`
can tell an altered or lost ledger object, and what it said is kept in the manifest too.

The chain functions are pure; `record` and `flush` are the small imperative part.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from loguru import logger

from .keys import RESERVED
from .s3errors import ErrorKind, RemoteError

GENESIS = "0" * 64
FIELDS = ("key", "size", "sha256", "mtime", "uploaded_at", "version_id", "prev")


@dataclass(frozen=True)
class Upload:
    """One uploaded object, as the ledger records it."""

    key: str
    size: int
    sha256: Optional[str]  # hex
    mtime_ns: int
    uploaded_at: float
    version_id: Optional[str] = None


def iso(seconds: float) -> str:
    """ISO 8601 UTC with a Z, to the microsecond."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link(line: str) -> str:
    """The `prev` of the line after this one: SHA-256 hex of its UTF-8 bytes, no newline."""
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def line_of(u: Upload, prev: str) -> str:
    record = {"key": u.key, "size": u.size, "sha256": u.sha256,
              "mtime": iso(u.mtime_ns / 1e9), "uploaded_at": iso(u.uploaded_at),
              "version_id": u.version_id, "prev": prev}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def chain(uploads: Sequence[Upload], last_line: Optional[str]) -> list[str]:
    """The lines for these uploads, linked to `last_line` (None: the chain starts here)."""
    prev = link(last_line) if last_line is not None else GENESIS
    lines = []
    for u in uploads:
        line = line_of(u, prev)
        lines.append(line)
        prev = link(line)
    return lines


def object_bytes(lines: Sequence[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def host_part(host: str) -> str:
    """A host name as one safe key segment."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", host).strip("._") or "host"


def object_key(prefix: str, host: str, when: float, n: int) -> str:
    t = dt.datetime.fromtimestamp(when, dt.timezone.utc)
    return f"{prefix}{RESERVED}ledger/{host_part(host)}/{t:%Y-%m-%d}/{t:%H%M%S}Z-{n}.jsonl"


def split_lines(data: bytes) -> tuple[list[str], Optional[str]]:
    """An object's lines, or the reason its bytes are not ledger lines."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], "not UTF-8"
    if text and not text.endswith("\n"):
        return [], "the last line does not end in a newline"
    return text.split("\n")[:-1], None


Break = tuple[str, int, str]  # (object key, line number from 1, text or what is wrong)


def broken_links(lines: Sequence[Break], first_prev: str = GENESIS) -> list[Break]:
    """Every place the chain breaks: lines are (object key, line number, text) in order.

    Returns (object key, line number from 1, what is wrong) for each break.
    """
    problems = []
    expected = first_prev
    for obj, number, text in lines:
        try:
            prev = json.loads(text).get("prev")
        except (ValueError, AttributeError):
            problems.append((obj, number, "not a JSON object"))
            expected = link(text)
            continue
        if prev != expected:
            problems.append((obj, number, "prev does not match the line before it (a line was "
                                          "altered, removed or inserted)"))
        expected = link(text)
    return problems


# ---- writing (the imperative part) ---------------------------------------------------------
class LedgerStore(Protocol):
    def put_immutable(self, key: str, data: bytes) -> Optional[str]: ...


class LedgerBook(Protocol):
    def ledger_last_line(self) -> Optional[str]: ...

    def ledger_count(self) -> int: ...

    def ledger_add(self, key: str, sha256: str, lines: list[str], now: float) -> None: ...

    def ledger_objects(self, unwritten_only: bool = False) -> list[tuple[str, str, bool, list[str]]]: ...

    def ledger_written(self, key: str) -> None: ...


def record(book: LedgerBook, uploads: Sequence[Upload], prefix: str, host: str, now: float) -> Optional[str]:
    """Chain this pass's uploads into the manifest as the next ledger object; its key."""
    if not uploads:
        return None
    lines = chain(uploads, book.ledger_last_line())
    key = object_key(prefix, host, now, book.ledger_count() + 1)
    book.ledger_add(key, sha256_hex(object_bytes(lines)), lines, now)
    return key


def flush(book: LedgerBook, store: LedgerStore) -> bool:
    """Write every ledger object the manifest holds but the bucket does not yet (this pass's,
    and any an earlier pass could not write). False when one could not be written."""
    for key, _sha, _written, lines in book.ledger_objects(unwritten_only=True):
        try:
            store.put_immutable(key, object_bytes(lines))
        except RemoteError as exc:
            if exc.kind is not ErrorKind.EXISTS:  # EXISTS: our earlier write, answer lost
                logger.warning("Could not write the ledger object {} ({}); the next pass tries "
                               "again", key, exc)
                return False
        book.ledger_written(key)
        logger.info("Ledger: wrote {} ({} uploads)", key, len(lines))
    return True


def write_pass(book: LedgerBook, store: Callable[[], LedgerStore], uploads: Sequence[Upload],
               prefix: str, host: str, now: Callable[[], float]) -> bool:
    """A pass's ledger: record its uploads, then write what is unwritten. The store is asked
    for only when there is something to write (an idle pass builds no S3 client)."""
    record(book, uploads, prefix, host, now())
    if not book.ledger_objects(unwritten_only=True):
        return True
    return flush(book, store())
