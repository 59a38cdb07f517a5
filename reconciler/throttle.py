"""Shaping the bytes on the wire: a token bucket shared by every upload thread, the
request bodies that draw from it block by block, and the cap on bytes buffered.

The rate may change while uploads are in flight (transfer.bandwidth_schedule): the
bucket asks its rate source again about once a second, so a new rate applies within
seconds to every body being sent, not just to the next file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Callable, Optional, Union

from .checksums import DIGEST_MISMATCH, FileChanged, SentOtherBytes
from .s3errors import RemoteError

BLOCK = 64 * 1024  # bytes read from the file (and charged to the bucket) at a time
BURST_SECONDS = 1.0  # after idling, at most this many seconds' worth goes at once
RATE_CHECK_SECONDS = 1.0  # how often the rate source is asked again

RateSource = Callable[[], Optional[int]]


class Throttle:
    """consume(n) blocks until n more bytes fit under the rate; no limit while it is None.

    The bucket starts empty and holds at most BURST_SECONDS of tokens, so neither the
    first file nor one after an idle spell goes at line rate for longer than that.
    Tokens may go negative (a block is admitted, and its sender waits off the debt), so
    threads queue fairly without a condition variable.
    """

    def __init__(self, rate: Union[Optional[int], RateSource],
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._rate_of: RateSource = rate if callable(rate) else (lambda: rate)  # type: ignore[assignment,return-value]
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.stamp = clock()
        self._checked = self.stamp
        self._rate = self._rate_of()
        self._tokens = 0.0

    @property
    def rate(self) -> Optional[int]:
        with self._lock:
            return self._current(self._clock())

    def _current(self, now: float) -> Optional[int]:
        if now - self._checked >= RATE_CHECK_SECONDS:
            self._checked = now
            self._rate = self._rate_of()
        return self._rate

    def consume(self, n: int) -> None:
        with self._lock:
            now = self._clock()
            rate = self._current(now)
            if not rate:
                self._tokens, self.stamp = 0.0, now
                return
            self._tokens = min(rate * BURST_SECONDS, self._tokens + (now - self.stamp) * rate)
            self.stamp = now
            self._tokens -= n
            wait = -self._tokens / rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


class MemoryBudget:
    """A byte semaphore: transfer.max_memory_mb across all files and parts in flight."""

    def __init__(self, capacity: int):
        self.capacity = max(1, capacity)
        self.free = self.capacity
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, n: int) -> Iterator[None]:
        n = min(n, self.capacity)  # one request may always go, however small the budget
        with self._cond:
            self._cond.wait_for(lambda: self.free >= n)
            self.free -= n
        try:
            yield
        finally:
            with self._cond:
                self.free += n
                self._cond.notify_all()


class SharedHandle:
    """One open file read at their own offsets by several threads (parts in parallel).

    Offsets count from `base` (where an upload of a range starts, e.g. a live segment).
    A lock around seek+read rather than os.pread, which Windows lacks.
    """

    def __init__(self, fh: IO[bytes], base: int = 0):
        self.fh = fh
        self.base = base
        self._lock = threading.Lock()

    def read_at(self, offset: int, n: int) -> bytes:
        with self._lock:
            self.fh.seek(self.base + offset)
            return self.fh.read(n)


class RangeBody:
    """A request body: bytes [offset, offset+length) of a held file, read in BLOCKs, each
    charged to the throttle as it is read, so the cap shapes what goes on the wire.

    Seekable (botocore rewinds it on a retry) and sized (for Content-Length). A short
    read means the file shrank under us: `changed` is set and FileChanged raised.
    `on_bytes(n)` hears of each block as it goes (n = bytes never sent before, so a
    rewound resend is not counted twice; 0 still lets it raise, e.g. to stop). Whatever
    the body raises is kept in `failure`: botocore wraps exceptions from a body, so the
    caller re-raises the original (see remote.send_body).
    """

    def __init__(self, handle: SharedHandle, offset: int, length: int,
                 throttle: Optional[Throttle] = None,
                 on_bytes: Optional[Callable[[int], None]] = None,
                 hasher: Optional[Callable[[], Any]] = None):
        self.handle = handle
        self._new_hash = hasher  # hashes the bytes as sent, for stores that verify nothing
        self._hash = hasher() if hasher is not None else None
        self._hashed_to = 0
        self.offset = offset
        self.length = length
        self.throttle = throttle
        self.on_bytes = on_bytes
        self.pos = 0
        self.changed = False
        self.failure: Optional[BaseException] = None
        self._sent = 0  # the furthest position ever read: what progress has been told
        self._buf = b""
        self._buf_at = 0  # position of _buf[0] within the body

    def __len__(self) -> int:
        return self.length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.length}[whence]
        self.pos = max(0, base + pos)
        self._buf = b""  # a rewind is a resend: its bytes are charged again
        if self.pos == 0 and self._new_hash is not None:  # botocore's retry: hashed afresh
            self._hash, self._hashed_to = self._new_hash(), 0
        return self.pos

    def read(self, n: Optional[int] = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while chunk := self.read(BLOCK):
                parts.append(chunk)
            return b"".join(parts)
        n = min(n, self.length - self.pos)
        if n <= 0:
            return b""
        start = self.pos - self._buf_at
        if not 0 <= start < len(self._buf):
            self._fill()
            start = 0
        data = self._buf[start:start + n]
        self.pos += len(data)
        return data

    def sent_digest(self) -> Optional[bytes]:
        """The digest of the bytes this body sent, in order, or None when it cannot tell
        (no hasher, or a seek it could not follow)."""
        if self._hash is None or self._hashed_to != self.length:
            return None
        return bytes(self._hash.digest())

    def _fill(self) -> None:
        try:
            size = min(BLOCK, self.length - self.pos)
            if self.throttle is not None:
                self.throttle.consume(size)
            data = self.handle.read_at(self.offset + self.pos, size)
            if len(data) != size:
                self.changed = True
                raise FileChanged(f"read {len(data)} bytes where {size} were expected")
            if self._hash is not None and self.pos == self._hashed_to:
                self._hash.update(data)
                self._hashed_to += size
            new = max(0, self.pos + size - self._sent)
            self._sent += new
            if self.on_bytes is not None:
                self.on_bytes(new)
        except BaseException as exc:
            self.failure = exc
            raise
        self._buf, self._buf_at = data, self.pos


def send_body(body: RangeBody, call: Callable[[], Any], expected: Optional[bytes] = None) -> Any:
    """One request with a streamed body. What the body itself raised (a file that shrank,
    a stop from the progress callback) comes out as itself, not as botocore's wrapping of
    it; bytes the store found not to match the checksum sent are FileChanged too. With
    `expected` (the digest the request claims), bytes sent that do not hash to it raise
    SentOtherBytes after the request: a store that verifies nothing (moto) stored them."""
    try:
        answer = call()
        sent = body.sent_digest() if expected is not None else None
        if sent is not None and sent != expected:
            raise SentOtherBytes("the file changed while it was sent (the bytes sent do not "
                                 "match the checksum the request carried)", answer)
        return answer
    except RemoteError as exc:
        if body.failure is not None:
            raise body.failure from exc
        if exc.code in DIGEST_MISMATCH:
            raise FileChanged(f"the file changed while it was sent ({exc.code})") from exc
        raise
