"""Multipart uploads from one held handle: each part hashed in a first read of its range,
then streamed through the throttle, up to `concurrency` parts at once.

An upload interrupted by a stop, a kill or a network failure is resumed rather than
restarted: a part already in the store is reused only when its size and checksum (or,
where the store keeps no part checksum, its MD5 ETag) match the local bytes read now.
Only a file that changed under us aborts its upload; anything else left behind is
resumed or aborted on the next pass from the manifest's record of it.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import IO, Any, Callable, Optional

from loguru import logger

from .checksums import MD5, Checksum, FileChanged, b64, composite, digest_range
from .events import TransferEvents
from .models import CREATING
from .s3errors import ErrorKind, RemoteError
from .throttle import BLOCK, MemoryBudget, RangeBody, SharedHandle, Throttle, send_body

Call = Callable[..., Any]  # Bucket._call: one S3 operation, failures as RemoteError


@dataclass(frozen=True)
class MultipartSettings:
    chunk: int
    concurrency: int
    checksum: Optional[Checksum]
    extra: dict[str, Any]
    part_md5: bool = False  # Content-MD5 on every part: now always sent without a checksum
    # (a streamed part needs a digest the store checks, Object Lock or not)
    whole_sha256: bool = False  # hash the whole file while reading (for the ledger)


class MultipartUpload:
    """One multipart upload of `size` bytes from `fh` to `key` (new or resumed)."""

    def __init__(self, call: Call, key: str, settings: MultipartSettings, throttle: Throttle,
                 overwrite: bool = True, conditional: bool = True,
                 memory: Optional[MemoryBudget] = None):
        self._call = call
        self.memory = memory or MemoryBudget(64 * 1024 * 1024)
        self.key = key
        self.s = settings
        self.throttle = throttle
        self.overwrite = overwrite  # False: complete only if no object is at key (IfNoneMatch)
        self.conditional = conditional  # False once the store has rejected IfNoneMatch
        self.reused = 0  # parts found in the store and not sent again
        self.version_id: Optional[str] = None  # of the completed object, where versioned
        self.sha256: Optional[str] = None  # hex of every byte read, with settings.whole_sha256
        self.base = 0  # where in the file the bytes start (set by run)

    def run(self, fh: IO[bytes], size: int, events: TransferEvents,
            resume_id: Optional[str]) -> Optional[str]:
        self.base = fh.tell()
        existing = self._parts(resume_id) if resume_id else None
        if resume_id and existing is None:  # vanished or unusable: its row must not outlive it
            events.multipart(resume_id, False)
        if existing is None:
            extra = dict(self.s.extra)
            if self.s.checksum:
                extra["ChecksumAlgorithm"] = self.s.checksum.name
            intent = CREATING + self.key  # a kill before the new id is recorded leaves this
            events.multipart(intent, True)
            answer = self._call("create_multipart_upload", Key=self.key, **extra)
            upload_id = answer["UploadId"]
            events.multipart(upload_id, True)
            # A create that failed or was retried by botocore may have made an upload whose id
            # we never saw: the intent row then stays, and the next pass aborts any upload at
            # this key the manifest does not know. A clean first answer leaves nothing unknown.
            if not answer.get("ResponseMetadata", {}).get("RetryAttempts"):
                events.multipart(intent, False)
            existing = {}
        else:
            upload_id = resume_id  # type: ignore[assignment]
        try:
            parts, digests = self._send(fh, size, upload_id, existing, events)
            events.check_unchanged()  # before CompleteMultipartUpload publishes the object
        except FileChanged:
            if self.abort_quietly(upload_id):  # these parts can never complete this file
                events.multipart(upload_id, False)
            raise
        if existing:
            logger.info("Resumed {}: {} of {} parts were already in the bucket", self.key,
                        self.reused, len(parts))
        try:
            self._complete(upload_id, parts)
        except RemoteError as exc:
            # Another writer got there first: leave nothing behind.
            if exc.kind is ErrorKind.EXISTS and self.abort_quietly(upload_id):
                events.multipart(upload_id, False)
            raise
        events.multipart(upload_id, False)
        if not self.s.checksum:
            return None
        return composite(self.s.checksum, digests)

    def _complete(self, upload_id: str, parts: list[dict[str, Any]]) -> None:
        """CompleteMultipartUpload; with overwrite False, only if nothing is at key yet (412 ->
        RemoteError EXISTS). A store that rejects the condition is asked once without it."""
        kwargs: dict[str, Any] = {"Key": self.key, "UploadId": upload_id,
                                  "MultipartUpload": {"Parts": parts}}
        if not self.overwrite and self.conditional:
            try:
                self.version_id = self._call("complete_multipart_upload", IfNoneMatch="*",
                                             **kwargs).get("VersionId")
                return
            except RemoteError as exc:
                if not rejects_condition(exc):
                    raise
                self.conditional = False
                logger.info("The store does not support conditional multipart completes; {} is "
                            "completed without one (checked by HEAD before the upload)", self.key)
        self.version_id = self._call("complete_multipart_upload", **kwargs).get("VersionId")

    def _parts(self, upload_id: str) -> Optional[dict[int, dict[str, Any]]]:
        """The parts already uploaded, or None when the upload cannot be continued: it no
        longer exists, or listing its parts is denied or failing (then it is aborted, best
        effort, and a new upload starts)."""
        parts: dict[int, dict[str, Any]] = {}
        marker = 0
        try:
            while True:
                page = self._call("list_parts", Key=self.key, UploadId=upload_id,
                                  PartNumberMarker=marker)
                for p in page.get("Parts", ()):
                    parts[p["PartNumber"]] = p
                if not page.get("IsTruncated"):
                    return parts
                marker = page["NextPartNumberMarker"]
        except RemoteError as exc:
            if exc.code in ("NoSuchUpload", "404", "NoSuchKey"):
                return None
            if exc.kind in (ErrorKind.THIS_FILE, ErrorKind.RETRYABLE):
                logger.warning("Cannot list the parts of the interrupted upload of {} ({}); "
                               "starting a new upload", self.key, exc)
                self.abort_quietly(upload_id)
                return None
            raise

    def _reusable(self, part: Optional[dict[str, Any]], handle: SharedHandle, offset: int,
                  length: int, digest: Optional[bytes]) -> bool:
        if part is None or part.get("Size") != length:
            return False
        if self.s.checksum and part.get(self.s.checksum.field) and digest is not None:
            return part[self.s.checksum.field] == b64(digest)
        etag = str(part.get("ETag", "")).strip('"')
        return etag == digest_range(handle.read_at, offset, length, hashlib.md5).hex()

    def _part(self, handle: SharedHandle, number: int, offset: int, length: int, upload_id: str,
              existing: dict[int, dict[str, Any]], events: TransferEvents) -> tuple[dict[str, Any], bytes]:
        """One part: hash its range, reuse it if the store has it already, else stream it."""
        algorithm = self.s.checksum or MD5
        with self.memory.hold(BLOCK):  # the one block buffered by the hash pass, then the body
            digest = digest_range(handle.read_at, offset, length, algorithm.new)
            field = self.s.checksum.field if self.s.checksum else "ContentMD5"
            kwargs = {field: b64(digest)}
            done = existing.get(number)
            if self._reusable(done, handle, offset, length, digest if self.s.checksum else None):
                assert done is not None
                self.reused += 1
                events.sent(length)
                reused = {"PartNumber": number, "ETag": done["ETag"]}
                return (reused | kwargs if self.s.checksum else reused), digest
            body = RangeBody(handle, offset, length, self.throttle, events.sent, algorithm.new)
            resp = send_body(body, lambda: self._call(
                "upload_part", Key=self.key, UploadId=upload_id, PartNumber=number, Body=body,
                **kwargs), digest)  # a part whose bytes changed mid-send: FileChanged, aborted
        part = {"PartNumber": number, "ETag": resp["ETag"]}
        return (part | kwargs if self.s.checksum else part), digest

    def _send(self, fh: IO[bytes], size: int, upload_id: str, existing: dict[int, dict[str, Any]],
              events: TransferEvents) -> tuple[list[dict[str, Any]], list[bytes]]:
        """Send the parts, up to `concurrency` at once, each from its own range of the handle
        (ranges count from fh's position at the start of run(): 0, or a live segment's start)."""
        handle = SharedHandle(fh, self.base)
        limit = threading.BoundedSemaphore(self.s.concurrency)
        futures: list[Future] = []

        def send(number: int, offset: int, length: int) -> tuple[dict[str, Any], bytes]:
            try:
                return self._part(handle, number, offset, length, upload_id, existing, events)
            finally:
                limit.release()

        whole = hashlib.sha256() if self.s.whole_sha256 else None
        with ThreadPoolExecutor(self.s.concurrency, "part") as pool:
            for number, offset in enumerate(range(0, size, self.s.chunk), start=1):
                length = min(self.s.chunk, size - offset)
                if whole is not None:  # the ledger's whole-file SHA-256: ranges in order
                    for at in range(offset, offset + length, BLOCK):
                        whole.update(handle.read_at(at, min(BLOCK, offset + length - at)))
                limit.acquire()  # parts in order; at most `concurrency` in flight
                if any(f.done() and f.exception() for f in futures):
                    limit.release()
                    break
                futures.append(pool.submit(send, number, offset, length))
            wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                if f.done() and f.exception():
                    for other in futures:
                        other.cancel()
                    raise f.exception()  # type: ignore[misc]
        self.sha256 = whole.hexdigest() if whole is not None else None
        results = [f.result() for f in futures]
        digests = [d for _, d in results] if self.s.checksum else []
        return [p for p, _ in results], digests

    def abort(self, upload_id: str) -> None:
        try:
            self._call("abort_multipart_upload", Key=self.key, UploadId=upload_id)
        except RemoteError as exc:
            if exc.code not in ("NoSuchUpload", "404"):
                raise

    def abort_quietly(self, upload_id: str) -> bool:
        """Abort, best effort: False (and a warning) when it failed; a later pass retries."""
        try:
            self.abort(upload_id)
            return True
        except RemoteError as exc:
            logger.warning("Could not abort the multipart upload of {} ({}); a later pass "
                           "tries again", self.key, exc)
            return False


def rejects_condition(exc: RemoteError) -> bool:
    """Did the store refuse the IfNoneMatch header itself (rather than find the key taken)?"""
    if exc.code == "NotImplemented":
        return True
    if exc.code not in ("InvalidRequest", "400", "BadRequest", "InvalidArgument"):
        return False
    text = f"{exc} {exc.__cause__ or ''}".lower()
    return "if-none-match" in text or "ifnonematch" in text or "conditional" in text
