"""Carry out a plan's uploads: a bounded pool of files in flight, each with its retries.

Talks to the store and the file system through small seams (Protocols and injected
functions) so every branch can be tested; the real ones are wired in passes.py.
Results are handed back on the calling thread, which alone writes the manifest.
"""

from __future__ import annotations

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from queue import Empty, SimpleQueue
from typing import IO, Callable, Optional, Protocol

from loguru import logger

from .checksums import ChangedAfterPublish, FileChanged
from .events import NO_EVENTS, TransferEvents
from .keys import keep_both_key
from .localfs import FileLocked, LinkRefused, NotTheScannedFile, open_for_upload
from .models import CREATING, Action, ActionKind, LocalFile, Reason, stat_unchanged
from .plan import Found, Taken, when_taken
from .results import Outcome, Stored, StoredObject, UploadResult
from .s3errors import ErrorKind, RemoteError, is_denied
from .text import printable


class Store(Protocol):
    def upload(self, fh: IO[bytes], key: str, size: int, overwrite: bool,
               events: TransferEvents = NO_EVENTS,
               resume_id: Optional[str] = None) -> Stored | Optional[str]: ...

    def head(self, key: str) -> Optional[StoredObject]: ...

    def same_content(self, fh: IO[bytes], size: int, found: StoredObject) -> bool: ...


class Abandoned(Exception):
    """A stop was requested: the upload in flight is dropped cleanly, nothing recorded."""


class PassAborted(Exception):
    """The bucket is unusable; no further file can succeed this pass."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, rand: Callable[[], float]) -> float:
        """Exponential with 'equal jitter': half fixed, half random, capped."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** min(attempt - 1, 64)))  # no overflow
        return ceiling / 2 + rand() * ceiling / 2


def _differs(fh: IO[bytes], file: LocalFile) -> bool:
    st = os.fstat(fh.fileno())  # the held handle itself: the path may have moved meanwhile
    return not stat_unchanged(st, file)


@dataclass
class Executor:
    store: Store
    retry: RetryPolicy
    parallel_files: int = 4
    on_conflict: str = "keep_both"
    # Files smaller than small_below go in one request from memory: round trips, not
    # bandwidth, limit them, so they have slots of their own (parallel_small) beside
    # the parallel_files slots of bigger files. 0: every file takes a parallel_files slot.
    parallel_small: int = 0
    small_below: int = 0
    sleep: Callable[[float], None] = lambda s: None
    rand: Callable[[], float] = random.random
    progress: Callable[[int], None] = lambda n: None
    on_multipart: Callable[[str, str, bool], None] = lambda upload_id, key, started: None
    opener: Callable[[LocalFile], IO[bytes]] = open_for_upload  # no link followed, identity checked
    stop: threading.Event = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.stop is None:
            self.stop = threading.Event()
        self._halt = threading.Event()  # this run only: a fatal pass must not stop the program

    def _stopping(self) -> bool:
        return self.stop.is_set() or self._halt.is_set()

    def run(self, uploads: list[Action], record: Callable[[UploadResult], None]) -> Optional[str]:
        """Upload in order, small files and bigger ones each within their own number in
        flight; returns a fatal error, if any. Each upload thread hands its result to one
        queue, which the calling thread (the manifest's writer) empties."""
        fatal: Optional[str] = None
        queue = list(reversed(uploads))
        finished: SimpleQueue[tuple[Action, UploadResult | BaseException]] = SimpleQueue()
        slots = {False: self.parallel_files, True: self.parallel_small}
        busy = {False: 0, True: 0}
        with ThreadPoolExecutor(self.parallel_files + self.parallel_small, "upload") as pool:

            def start(action: Action) -> None:
                pool.submit(self._upload_into, action, finished)

            try:
                while True:
                    if not fatal and not self.stop.is_set():
                        self._start_in_order(queue, busy, slots, start)
                    if not busy[False] and not busy[True]:
                        break
                    try:  # a timeout, so Ctrl+C / Ctrl+Break reach their handler on Windows,
                        action, outcome = finished.get(timeout=0.5)  # where a blocked wait is not
                    except Empty:  # interrupted by a signal
                        continue
                    busy[self._is_small(action)] -= 1
                    judged = self._judged(action, outcome)
                    if isinstance(judged, PassAborted):
                        fatal = fatal or str(judged)
                        self._halt.set()  # the others stop at their next part or attempt
                    else:
                        record(judged)
            except BaseException:  # record() failed, or Ctrl+C: the uploads in flight stop
                self._halt.set()  # at their next block instead of running to their end
                raise
        return fatal

    def _start_in_order(self, queue: list[Action], busy: dict[bool, int], slots: dict[bool, int],
                        start: Callable[[Action], None]) -> None:
        """Start the next files while their slots allow; in order: a file whose slots are
        full holds back the files after it."""
        while queue:
            small = self._is_small(queue[-1])
            if busy[small] >= slots[small]:
                return
            busy[small] += 1
            start(queue.pop())

    @staticmethod
    def _judged(action: Action, outcome: UploadResult | BaseException) -> UploadResult | PassAborted:
        if isinstance(outcome, PassAborted):
            return outcome
        if isinstance(outcome, Exception):  # one file's surprise must not end the pass
            logger.opt(exception=outcome).debug("Upload of {} raised", action.key)
            return UploadResult(action, Outcome.FAILED, key=action.key,
                                error=f"unexpected error: {outcome!r}")
        if isinstance(outcome, BaseException):  # raised again on the calling thread
            raise outcome
        return outcome

    def _upload_into(self, action: Action,
                     finished: SimpleQueue[tuple[Action, UploadResult | BaseException]]) -> None:
        """On an upload thread: the result, or what was raised, for the calling thread."""
        try:
            finished.put((action, self.upload_one(action)))
        except BaseException as exc:
            finished.put((action, exc))

    def _is_small(self, action: Action) -> bool:
        return self.parallel_small > 0 and action.file is not None and action.file.size < self.small_below

    def upload_one(self, action: Action) -> UploadResult:
        file = action.file
        assert file is not None
        try:
            fh = self.opener(file)
        except FileNotFoundError:
            return UploadResult(action, Outcome.GONE)
        except FileLocked:
            return UploadResult(action, Outcome.LOCKED)
        except LinkRefused as exc:  # the regular file the scan saw is no longer at its name
            logger.warning("Not uploading {}: {}", printable(file.rel), exc.strerror)
            return UploadResult(action, Outcome.GONE)
        except NotTheScannedFile as exc:  # another file took its name: judged afresh when stable
            logger.info("Not uploading {} now: {}", printable(file.rel), exc.strerror)
            return UploadResult(action, Outcome.CHANGED)
        except OSError as exc:
            return UploadResult(action, Outcome.FAILED, error=f"cannot read the file: {exc.strerror or exc}")
        with fh:
            if _differs(fh, file):
                return UploadResult(action, Outcome.CHANGED)
            key, overwrite = action.key, action.overwrite
            if action.kind is ActionKind.ADOPT:  # listed with the same size: trust it only if
                verdict = self._verify_listed(fh, action)  # the stored checksum matches too
                if isinstance(verdict, UploadResult):
                    return verdict
                key, overwrite = verdict
            result = self._attempts(fh, action, key, overwrite)
            # Changed after the pre-publish check: the object is ours, but the file is not done.
            if result.outcome is Outcome.UPLOADED and _differs(fh, file):
                return replace(result, outcome=Outcome.CHANGED)
            return result

    def _verify_listed(self, fh: IO[bytes], action: Action) -> UploadResult | tuple[str, bool]:
        try:
            return self._resolve_existing(fh, action, action.key)
        except FileChanged:  # without the key: the object there is not ours
            return UploadResult(action, Outcome.CHANGED)
        except RemoteError as exc:
            if exc.kind is ErrorKind.FATAL:
                raise PassAborted(str(exc)) from exc
            return UploadResult(action, Outcome.FAILED, key=action.key, error=str(exc))

    def _attempts(self, fh: IO[bytes], action: Action, key: str, overwrite: bool) -> UploadResult:
        file = action.file
        assert file is not None
        last, denied = "no attempt made", False
        attempt = 0
        # A multipart upload left by an earlier attempt or run is continued, not restarted.
        events = AttemptEvents(self, fh, file, key, action.resume_id)
        while attempt < self.retry.max_attempts:
            attempt += 1
            if self._stopping():
                return UploadResult(action, Outcome.STOPPED, key=key, attempts=attempt - 1)
            logger.info("Uploading {} -> {} attempt {}", printable(file.rel), printable(key), attempt)
            fh.seek(0)
            try:
                events.key = key  # multipart ids are told to the pass under the key in flight
                sent = self.store.upload(fh, key, file.size, overwrite, events,
                                         events.upload_id if key == action.key else None)
                stored = sent if isinstance(sent, Stored) else Stored(sent)  # or just a checksum
                return UploadResult(action, Outcome.UPLOADED, key=key, checksum=stored.checksum,
                                    attempts=attempt, version_id=stored.version_id,
                                    sha256=stored.sha256)
            except Abandoned:
                return UploadResult(action, Outcome.STOPPED, key=key, attempts=attempt)
            except ChangedAfterPublish:  # our object, of bytes that changed: overwritten later
                return UploadResult(action, Outcome.CHANGED, key=key, attempts=attempt)
            except FileChanged:  # caught before publishing: the key holds nothing of this
                return UploadResult(action, Outcome.CHANGED, attempts=attempt)
            except RemoteError as exc:
                judged = self._refused(exc, fh, action, key, overwrite, attempt)
                if isinstance(judged, UploadResult):
                    return judged
                if isinstance(judged, tuple):  # the key was taken: another key, or overwrite
                    key, overwrite = judged
                    attempt -= 1  # finding the key taken is not a failed attempt
                    continue
                if judged.kind is ErrorKind.FATAL:
                    raise PassAborted(str(judged)) from judged
                last, denied = str(judged), is_denied(judged)
                if judged.kind is ErrorKind.THIS_FILE:  # retrying cannot help this file
                    break
                logger.warning("Upload of {} failed (attempt {} of {}): {}", printable(file.rel), attempt,
                               self.retry.max_attempts, judged)
            except OSError as exc:
                last = f"cannot read the file: {exc.strerror or exc}"
                break
            if attempt < self.retry.max_attempts:
                self.sleep(self.retry.delay(attempt, self.rand))
        return UploadResult(action, Outcome.FAILED, key=key, attempts=attempt, error=last, denied=denied)

    def _refused(self, exc: RemoteError, fh: IO[bytes], action: Action, key: str, overwrite: bool,
                 attempt: int) -> UploadResult | tuple[str, bool] | RemoteError:
        """A failed attempt judged: a conditional write found the key taken (the planner's
        `when_taken` says what that means), or an error for the retry loop to weigh."""
        if exc.kind is not ErrorKind.EXISTS:
            return exc
        try:
            resolved = self._resolve_existing(fh, action, key)
        except FileChanged:  # nothing of ours was written: the key stays theirs
            return UploadResult(action, Outcome.CHANGED, attempts=attempt)
        except RemoteError as head_failed:
            return head_failed  # judged like a failed upload: retried, or this file fails
        if isinstance(resolved, UploadResult):
            return replace(resolved, attempts=attempt)
        if resolved != (key, overwrite):
            return resolved
        # Refused as taken, yet HEAD finds nothing there: an attempt like any other, so a
        # store that keeps saying so cannot loop us forever.
        return RemoteError(ErrorKind.RETRYABLE, f"{key} was refused as existing, but no object is there")

    def _resolve_existing(self, fh: IO[bytes], action: Action, key: str) -> UploadResult | tuple[str, bool]:
        """A conditional write found the key taken: planner's `when_taken` says what to do
        given what a HEAD of the key shows."""
        file = action.file
        assert file is not None
        found, stored = self._look(fh, file, key)
        verdict = when_taken(found, self.on_conflict,
                             action.reason is Reason.CONFLICT_KEEP_BOTH or key != action.key)
        if verdict is Taken.AGAIN:
            return key, False  # vacant after all (deleted meanwhile): a conditional write again
        if verdict is Taken.ADOPT:
            return UploadResult(action, Outcome.ADOPTED, key=key, checksum=stored)
        if verdict is Taken.UNVERIFIED:
            logger.warning("{} is taken and these credentials may not read it (HEAD denied): most "
                           "likely our own earlier PUT whose answer was lost. Recorded as uploaded "
                           "(unverified); {} is kept locally and not sent again", printable(key),
                           printable(file.rel))
            return UploadResult(action, Outcome.UNVERIFIED, key=key)
        if verdict is Taken.SKIP:
            return UploadResult(action, Outcome.CONFLICT_SKIPPED, key=key)
        if verdict is Taken.OVERWRITE:
            return key, True
        if verdict is Taken.FAIL:
            return UploadResult(action, Outcome.FAILED, key=key,
                                error=f"both {action.key} and {key} hold other content")
        alt = keep_both_key(key, file.size, file.mtime_ns)
        logger.warning("{} already holds other content in the bucket; keeping both: uploading "
                       "{} as {}", printable(key), printable(file.rel), printable(alt))
        return alt, False

    def _look(self, fh: IO[bytes], file: LocalFile, key: str) -> tuple[Found, Optional[str]]:
        """HEAD the key: ours only when the size matches and the store's checksum (or ETag) is
        that of our bytes."""
        try:
            found = self.store.head(key)
        except RemoteError as exc:
            if is_denied(exc):
                return Found.DENIED, None
            raise
        if found is None:
            return Found.NOTHING, None
        if self.store.same_content(fh, file.size, found):  # size, then content, any part size
            return Found.SAME, found.checksum
        return Found.OTHER, found.checksum


@dataclass
class AttemptEvents(TransferEvents):
    """What one file's attempts hear: bytes sent (a stop request ends the attempt there),
    multipart ids (kept for the next attempt, told to the pass under the key in flight),
    and the check that the held file is still the one planned, before anything is published."""

    executor: Executor
    fh: IO[bytes]
    file: LocalFile
    key: str
    upload_id: Optional[str] = None  # a multipart upload of this file a later attempt continues

    def sent(self, n: int) -> None:
        if self.executor._stopping():
            raise Abandoned()
        self.executor.progress(n)

    def multipart(self, uid: str, started: bool) -> None:
        if not uid.startswith(CREATING):  # an intent row is for the manifest, never resumable
            self.upload_id = uid if started else (None if uid == self.upload_id else self.upload_id)
        self.executor.on_multipart(uid, self.key, started)

    def check_unchanged(self) -> None:  # the size and mtime it was planned with
        if _differs(self.fh, self.file):
            raise FileChanged(f"{self.file.rel} changed while it was read")
