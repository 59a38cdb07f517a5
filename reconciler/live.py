"""Live upload: carry out the planner's live segments, and drop segments no longer needed.

The planner decides which file sends which byte range as which segment (plan.live_segment);
this module only acts and records. A segment is read through a handle that shares read,
write and delete with the recorder (localfs.open_live), covers only [sent, size the planner
saw), and travels with the same checksum as any upload. Concatenating a file's segments
in key order gives a byte-exact prefix of the recording; segments are deleted newest
first, so a reader (`recover`) never sees a gap in the middle.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import IO, Callable, Optional, Protocol

from loguru import logger

from .checksums import FileChanged, read_exact
from .events import TransferEvents
from .localfs import open_live
from .models import Action, LiveState, LocalFile
from .results import PassReport
from .s3errors import ErrorKind, RemoteError
from .text import printable

FileId = tuple[str, str]
HEAD_BYTES = 1024 * 1024  # a rewrite is detected by the hash of the first segment's first MiB
_told_denied: set[str] = set()  # bucket names we already warned about (once per process)


class SegmentStore(Protocol):
    name: str

    def upload_range(self, fh: IO[bytes], key: str, start: int, length: int,
                     events: TransferEvents) -> Optional[str]: ...

    def delete(self, key: str) -> None: ...


class LiveRecord(Protocol):
    def record_segment(self, file: LocalFile, base: str, seq: int, end: int, now: float,
                       head: tuple[str, int] = ("", 0)) -> None: ...

    def forget_live(self, ids: list[FileId]) -> None: ...


def head_hash(fh: IO[bytes], length: int) -> str:
    fh.seek(0)
    return hashlib.sha256(read_exact(fh, length)).hexdigest()


def observe_heads(states: Mapping[FileId, LiveState], files: list[LocalFile],
                  opener: Callable[[LocalFile], IO[bytes]] = open_live) -> dict[FileId, LiveState]:
    """Observe, before planning: does each live file still start with its first segment's bytes?"""
    by_id = {f.id: f for f in files}
    out: dict[FileId, LiveState] = {}
    for fid, state in states.items():
        file = by_id.get(fid)
        if file is not None and state.head_len and file.size >= state.head_len:
            try:
                with opener(file) as fh:
                    state = replace(state, head_intact=head_hash(fh, state.head_len) == state.head_sha)
            except (OSError, FileChanged) as exc:  # unreadable now: judged on a later pass
                logger.debug("Cannot read the start of {}: {}", printable(file.rel), exc)
        out[fid] = state
    return out


@dataclass
class SegmentEvents(TransferEvents):
    """A segment's upload tells the pass of its multipart uploads, under the segment's key."""

    key: str
    on_multipart: Callable[[str, str, bool], None]

    def multipart(self, upload_id: str, started: bool) -> None:
        self.on_multipart(upload_id, self.key, started)


@dataclass
class LiveSender:
    store: SegmentStore
    record: LiveRecord
    report: PassReport
    on_multipart: Callable[[str, str, bool], None] = lambda upload_id, key, started: None
    opener: Callable[[LocalFile], IO[bytes]] = open_live
    stopping: Callable[[], bool] = lambda: False

    def send(self, segments: list[Action]) -> None:
        for action in segments:
            if self.stopping():
                return
            self._segment(action)

    def _segment(self, a: Action) -> None:
        file = a.file
        assert file is not None
        if a.drop is not None and not self._drop(a.drop, "it shrank or was rewritten"):
            return  # the old segments must go before seq 0 is written again
        start, end = a.span
        try:
            fh = self.opener(file)
        except FileNotFoundError:
            logger.info("Gone before its live segment: {}", printable(file.rel))
            return
        except OSError as exc:
            logger.warning("Cannot read {} for its live segment: {}", printable(file.rel), exc)
            return
        with fh:
            if os.fstat(fh.fileno()).st_size < end:  # shrank since the scan: re-planned next pass
                logger.info("{} shrank before its live segment; the next pass starts over",
                            printable(file.rel))
                return
            try:
                self.store.upload_range(fh, a.key, start, end - start,
                                        SegmentEvents(a.key, self.on_multipart))
                head = (head_hash(fh, min(end, HEAD_BYTES)), min(end, HEAD_BYTES)) if start == 0 else ("", 0)
            except RemoteError as exc:
                if exc.kind is ErrorKind.FATAL:
                    raise
                self.report.failed += 1
                logger.error("Live segment {} of {} failed: {}; the next pass sends it", printable(a.key),
                             printable(file.rel), exc)
                return
            except (OSError, FileChanged) as exc:
                logger.warning("Cannot read {} for its live segment: {}", printable(file.rel), exc)
                return
        base, seq = a.key[:-6], int(a.key[-6:])
        # The pass's start, not the end of the upload: the next pass, interval_seconds later,
        # must find the interval elapsed even when this segment took a while to send.
        self.record.record_segment(file, base, seq, end, self.report.started_at, head)
        self.report.segments += 1
        self.report.segment_bytes += end - start
        logger.info("Live segment {} of {}: bytes {}-{} -> s3://{}/{}", seq, printable(file.rel),
                    start, end, self.store.name, printable(a.key))

    def finish(self, done: list[Action]) -> None:
        """Files now whole in the bucket: delete their segments and forget them."""
        for a in done:
            if a.drop is not None and a.file is not None and not self.stopping():
                self._drop(a.drop, "it is uploaded whole")

    def _drop(self, state: LiveState, why: str) -> bool:
        """Delete a file's segments, newest first (plus one a killed run may have left
        unrecorded); True when they are gone, or can never be (no s3:DeleteObject)."""
        keys = [*state.keys(), f"{state.base}{state.segments:06d}"]
        for key in reversed(keys):
            try:
                self.store.delete(key)
            except RemoteError as exc:
                if exc.kind is ErrorKind.FATAL:
                    raise
                if exc.kind is not ErrorKind.THIS_FILE:
                    logger.warning("Could not delete live segment {} ({}); the next pass tries "
                                   "again", printable(key), exc)
                    return False
                if self.store.name not in _told_denied:
                    _told_denied.add(self.store.name)
                    logger.warning("Cannot delete live segments ({}); they are left in the bucket: "
                                   "add a lifecycle rule that expires {{prefix}}_camup/live/ (see "
                                   "the README), or grant s3:DeleteObject", exc)
                break
        self.record.forget_live([(state.root, state.rel)])
        logger.info("Deleted the {} live segment(s) of {}: {}", state.segments,
                    printable(state.rel), why)
        return True
