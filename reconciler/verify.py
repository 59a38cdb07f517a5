"""`camup-sync verify`: does the bucket still hold exactly what the manifest says was sent?

For every uploaded row (or those uploaded since a date): the object is there with the
recorded size and stored checksum (HEAD; `--deep` downloads and hashes it); the ledger
objects are there, hash as recorded, and their lines link into one unbroken chain; and a
file still in the folder unchanged (size, mtime) has the bytes that were sent. Read-only
and lock-free: it runs beside a running instance. One line per problem, then a summary.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Optional, Protocol

from . import localfs
from .ledger import broken_links, sha256_hex, split_lines
from .manifest import Manifest
from .models import LocalFile, ManifestEntry, unchanged
from .results import StoredObject
from .s3errors import ErrorKind, RemoteError, is_denied
from .text import printable

EXIT_OK, EXIT_PROBLEM, EXIT_REMOTE = 0, 1, 4


class Reader(Protocol):
    def head(self, key: str) -> Optional[StoredObject]: ...

    def local_checksum(self, fh: IO[bytes], size: int) -> Optional[str]: ...

    def get_bytes(self, key: str) -> Optional[bytes]: ...

    def download_hashes(self, key: str, sink: Callable[[bytes], None], chunk: int = ...) -> bool: ...


class Unreadable(Exception):
    """The store cannot be read (denied, unreachable): exit 4 with this sentence."""


@dataclass(frozen=True)
class Problem:
    kind: str  # missing | size | altered | ledger-missing | ledger-altered | chain | local-altered
    key: str
    detail: str

    def line(self) -> str:
        return f"{self.kind.upper():15} {printable(self.key)}: {printable(self.detail)}"


@dataclass
class Audit:
    problems: list[Problem] = field(default_factory=list)
    objects: int = 0
    ledger_objects: int = 0
    local_files: int = 0
    unwritten_ledger: int = 0

    def summary(self) -> str:
        pending = (f", {self.unwritten_ledger} ledger objects not written yet"
                   if self.unwritten_ledger else "")
        verdict = (f"{len(self.problems)} problems" if self.problems else "all hold")
        return (f"verify: {self.objects} objects, {self.ledger_objects} ledger objects, "
                f"{self.local_files} local files checked{pending}: {verdict}")

    def as_json(self) -> dict[str, Any]:
        return {"ok": not self.problems, "objects": self.objects,
                "ledger_objects": self.ledger_objects, "local_files": self.local_files,
                "unwritten_ledger_objects": self.unwritten_ledger,
                "problems": [vars(p) for p in self.problems]}


def _read(fn: Callable[[], Any], what: str) -> Any:
    """A read the audit cannot do without: denied or failing means the store is unreadable."""
    try:
        return fn()
    except RemoteError as exc:
        if is_denied(exc):
            raise Unreadable(f"the bucket cannot be read ({what}: {exc}); verify needs "
                             "s3:GetObject (and s3:ListBucket for a clear 404): run it with "
                             "read credentials, e.g. on another machine.") from None
        if exc.kind in (ErrorKind.FATAL, ErrorKind.RETRYABLE):
            raise Unreadable(f"the bucket cannot be read: {exc}") from None
        raise


def ledger_hashes(objects: list[tuple[str, str, bool, list[str]]]) -> dict[str, str]:
    """key -> the SHA-256 the ledger recorded for its latest upload."""
    out: dict[str, str] = {}
    for _obj, _sha, _written, lines in objects:
        for line in lines:
            record = json.loads(line)
            if record.get("sha256"):
                out[record["key"]] = record["sha256"]
    return out


def check_object(store: Reader, row: ManifestEntry, deep: bool, sha: Optional[str]) -> list[Problem]:
    found = _read(lambda: store.head(row.key), "HEAD")
    if found is None:
        return [Problem("missing", row.key, "the object is no longer in the bucket")]
    size, stored = found.size, found.checksum
    if size != row.size:
        return [Problem("size", row.key, f"the object has {size} bytes, {row.size} were uploaded")]
    if row.checksum and stored != row.checksum:
        why = ("its stored checksum differs from the one uploaded" if stored else "it has no stored "
               "checksum any more: replaced (or this store does not return checksums: use --deep)")
        return [Problem("altered", row.key, why)]
    if deep:
        return _deep(store, row, sha)
    return []


def _deep(store: Reader, row: ManifestEntry, sha: Optional[str]) -> list[Problem]:
    """Download and hash: the whole-file SHA-256 (ledger) and the upload's checksum."""
    whole = hashlib.sha256()
    with tempfile.TemporaryFile() as spool:
        def sink(piece: bytes) -> None:
            whole.update(piece)
            spool.write(piece)

        if not _read(lambda: store.download_hashes(row.key, sink), "GET"):
            return [Problem("missing", row.key, "the object is no longer in the bucket")]
        spool.flush()
        if sha:  # the ledger's whole-file SHA-256 does not depend on the part size used
            same, what = whole.hexdigest() == sha, "the ledger's SHA-256"
        elif row.checksum:
            same, what = store.local_checksum(spool, row.size) == row.checksum, "the checksum uploaded"
        else:
            return []
    return [] if same else [Problem("altered", row.key, f"its bytes no longer hash to {what}")]


def check_local(store: Reader, row: ManifestEntry, sha: Optional[str]) -> Optional[list[Problem]]:
    """None when the file is gone or changed since (a later pass uploads it again)."""
    now = localfs.restat(LocalFile(row.root, row.rel, row.size, row.mtime_ns, row.dev, row.ino))
    if now is None or not unchanged(now, row) or not (row.checksum or sha):
        return None
    try:
        with localfs.open_for_upload(now) as fh:  # no link followed, the scanned file only
            same = (store.local_checksum(fh, row.size) == row.checksum if row.checksum
                    else _sha256_of(fh) == sha)
    except OSError as exc:
        return [Problem("local-unreadable", row.key, f"{row.rel}: {exc.strerror or exc}")]
    return [] if same else [Problem("local-altered", row.key, f"{row.rel} has the same size and "
                                    "mtime as uploaded, but other bytes")]


def _sha256_of(fh: IO[bytes]) -> str:
    fh.seek(0)
    h = hashlib.sha256()
    for piece in iter(lambda: fh.read(1024 * 1024), b""):
        h.update(piece)
    return h.hexdigest()


def check_ledger(store: Reader, objects: list[tuple[str, str, bool, list[str]]], audit: Audit) -> None:
    """Each written ledger object is there with the recorded SHA-256, and the chain holds."""
    chained: list[tuple[str, int, str]] = []
    for key, sha, written, lines in objects:
        if not written:
            audit.unwritten_ledger += 1
            chained += [(key, i, line) for i, line in enumerate(lines, 1)]
            continue
        audit.ledger_objects += 1
        data = _read(lambda k=key: store.get_bytes(k), "GET ledger")
        if data is None:
            audit.problems.append(Problem("ledger-missing", key, "the ledger object is gone"))
            chained += [(key, i, line) for i, line in enumerate(lines, 1)]
            continue
        stored, why = split_lines(data)
        if sha256_hex(data) != sha or why:
            changed = [i for i, (a, b) in enumerate(zip(stored, lines), 1) if a != b]
            where = f"line {changed[0]}" if changed else why or "its length"
            audit.problems.append(Problem("ledger-altered", key, "its bytes differ from what was "
                                          f"written (first difference: {where})"))
        chained += [(key, i, line) for i, line in enumerate(stored if not why else lines, 1)]
    for obj, number, what in broken_links(chained):
        audit.problems.append(Problem("chain", obj, f"line {number}: {what}"))


def run(manifest: Manifest, store: Reader, since: float, deep: bool,
        progress: Callable[[int], Any] = lambda total: None) -> Audit:
    """The whole audit; raises Unreadable when the store cannot be read."""
    audit = Audit()
    objects = manifest.ledger_objects()
    shas = ledger_hashes(objects)
    rows = manifest.uploaded_since(since)
    bar = progress(len(rows))
    try:
        for row in rows:
            audit.objects += 1
            audit.problems += check_object(store, row, deep, shas.get(row.key))
            local = check_local(store, row, shas.get(row.key))
            if local is not None:
                audit.local_files += 1
                audit.problems += local
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    check_ledger(store, objects, audit)
    return audit
