"""A single PutObject of bytes from the held handle, with the checksum (or Content-MD5) the
store verifies. A small body is read once and sent from memory by the native client
(native.py); any other is hashed in a first read, then streamed through the throttle in
blocks. A mixin of remote.Bucket (calls go through its `_call`): no boto3 of its own."""

from __future__ import annotations

import hashlib
from base64 import b64decode
from typing import IO, Any, Callable, Optional

from loguru import logger

from .checksums import DIGEST_MISMATCH, MD5, ChangedAfterPublish, SentOtherBytes, b64, read_exact_at
from .events import TransferEvents
from .native import LazyNative, NativePut, NativeRefused
from .results import Stored
from .s3errors import UNSUPPORTED_CODES, ErrorKind, RemoteError
from .settings import SMALL_FILE_BYTES  # bigger bodies stream from the file through botocore
from .throttle import BLOCK, BURST_SECONDS, MemoryBudget, RangeBody, SharedHandle, Throttle, send_body

# `check`'s probe object, written through botocore and through the native client, with the
# Content-MD5 a bucket with a default retention requires.
CHECK_PROBE = b"camup-sync check"
CHECK_PROBE_MD5 = b64(hashlib.md5(CHECK_PROBE).digest())


class SinglePut:
    """Needs the Bucket's `_call`, `_extra`, `checksum`, `throttle`, `memory`, `whole_sha256`,
    `native`."""

    _call: Callable[..., Any]
    _extra: Callable[[], dict[str, Any]]
    checksum: Any
    throttle: Throttle
    memory: MemoryBudget
    whole_sha256: bool
    algorithm_header: bool
    native: Optional[LazyNative]  # the native client for small bodies, made on first use

    def _put(self, fh: IO[bytes], key: str, size: int, overwrite: bool,
             events: TransferEvents) -> Stored:
        """Hash the bytes in a first read, then send them; the bytes start at fh's current
        position (0, or a live segment's start). A small body is read once into memory and
        sent as read by the native client; any other is streamed through the throttle from
        a second read, and a file that changes between the reads is refused by the store
        (digest mismatch) or caught by hashing what was sent."""
        handle = SharedHandle(fh, fh.tell())
        native = self._native_for(size)
        with self.memory.hold(size if native else BLOCK):
            body = read_exact_at(handle.read_at, 0, size) if native else None
            digest, sha = self._hash_pass(handle, size, body)
            events.check_unchanged()
            kwargs = self._put_params(digest, overwrite)
            if native is not None and body is not None:
                resp = self._with_algorithm_fallback(
                    kwargs, lambda: self._send_in_memory(native, key, body, events, kwargs))
            else:
                try:
                    resp = self._with_algorithm_fallback(
                        kwargs, lambda: self._send_streamed(handle, key, size, events, kwargs))
                except SentOtherBytes:
                    self._unpublish(key)
                    raise
        return Stored(kwargs.get(self.checksum.field) if self.checksum else None,
                      resp.get("VersionId"), sha)

    def put_probe_native(self, key: str) -> Optional[str]:
        """`check`'s probe through the native client (a small upload's path); None when
        small uploads do not use it (off, awscrt missing, a proxy set). A store answer
        botocore handles itself is said, not failed: uploads then go through botocore."""
        native = self.native.get() if self.native is not None else None
        if native is None:
            return None
        try:
            native.put(key, CHECK_PROBE, {"ContentMD5": CHECK_PROBE_MD5})
        except NativeRefused as exc:
            self.native.off()  # type: ignore[union-attr]
            return f"the store answered it with {exc}: small uploads go through botocore"
        return "small uploads go through awscrt's native S3 client"

    def _native_for(self, size: int) -> Optional[NativePut]:
        """The native client, when this body may go in one request from memory: small, and
        within one burst of the bandwidth cap (so the cap still shapes the wire)."""
        if self.native is None or size >= SMALL_FILE_BYTES:
            return None
        rate = self.throttle.rate
        if rate and size > rate * BURST_SECONDS:
            return None
        return self.native.get()

    def _put_params(self, digest: bytes, overwrite: bool) -> dict[str, Any]:
        kwargs = self._extra()
        if self.checksum:
            kwargs[self.checksum.field] = b64(digest)
            if self.algorithm_header:  # as the SDKs send it: moto keeps a checksum only with it
                kwargs["ChecksumAlgorithm"] = self.checksum.name
        else:  # no flexible checksum: the classic Content-MD5 still guards the bytes
            kwargs["ContentMD5"] = b64(digest)  # (and a locked write must carry one)
        if not overwrite:
            kwargs["IfNoneMatch"] = "*"
        return kwargs

    def _unpublish(self, key: str) -> None:
        """A store that verifies nothing kept bytes that changed mid-send under a checksum
        they do not have: remove that object (it is ours); if that is refused, say that
        the key holds our object, which the next pass overwrites."""
        try:
            self._call("delete_object", Key=key)
        except RemoteError as exc:
            raise ChangedAfterPublish(f"the file changed while it was sent, and the object "
                                      f"could not be removed ({exc})") from exc

    def _send_streamed(self, handle: SharedHandle, key: str, size: int, events: TransferEvents,
                       kwargs: dict[str, Any]) -> Any:
        expected = kwargs.get(self.checksum.field) if self.checksum else kwargs.get("ContentMD5")
        body = RangeBody(handle, 0, size, self.throttle, events.sent, (self.checksum or MD5).new)
        return send_body(body, lambda: self._call("put_object", Key=key, Body=body, **kwargs),
                         b64decode(expected) if expected else None)

    def _send_in_memory(self, native: NativePut, key: str, body: bytes, events: TransferEvents,
                        kwargs: dict[str, Any]) -> Any:
        """The bytes were hashed as they are here: what is sent is what the checksum says."""
        for at in range(0, len(body), BLOCK):  # charged block by block, as a streamed body is
            n = min(BLOCK, len(body) - at)
            self.throttle.consume(n)
            events.sent(n)
        try:
            return native.put(key, body, kwargs, waiting=lambda: events.sent(0))
        except NativeRefused as exc:  # a redirect, a signature or TLS botocore handles itself
            if self.native is not None:
                self.native.off()
            logger.info("The store answered the native S3 client with {}; uploads go through "
                        "botocore from now on", exc)
            return self._call("put_object", Key=key, Body=body, **kwargs)
        except RemoteError as exc:
            if exc.code in DIGEST_MISMATCH:  # cannot be the file: these bytes did not change
                raise RemoteError(ErrorKind.RETRYABLE, f"the store received other bytes than "
                                  f"were sent ({exc.code})", exc.code) from exc
            raise

    def _with_algorithm_fallback(self, kwargs: dict[str, Any], send: Callable[[], Any]) -> Any:
        try:
            return send()
        except RemoteError as exc:
            if "ChecksumAlgorithm" not in kwargs or not _rejects_algorithm_header(exc):
                raise
            self.algorithm_header = False  # remembered for the rest of this process
            logger.info("The store refuses the x-amz-sdk-checksum-algorithm header; the checksum "
                        "is sent without it")
            del kwargs["ChecksumAlgorithm"]
            return send()

    def _hash_pass(self, handle: SharedHandle, size: int,
                   body: Optional[bytes] = None) -> tuple[bytes, Optional[str]]:
        """One read of the bytes (or the body already read): the digest the request
        carries (checksum, else MD5) and, when the ledger wants it, their SHA-256 hex."""
        is_sha = self.checksum is not None and self.checksum.name == "SHA256"
        main = (self.checksum or MD5).new()
        whole = hashlib.sha256() if self.whole_sha256 and not is_sha else None
        blocks = [body] if body is not None else (
            read_exact_at(handle.read_at, at, min(BLOCK, size - at)) for at in range(0, size, BLOCK))
        for data in blocks:
            main.update(data)
            if whole is not None:
                whole.update(data)
        digest = main.digest()
        if not self.whole_sha256:
            return digest, None
        return digest, digest.hex() if whole is None else whole.hexdigest()


def _rejects_algorithm_header(exc: RemoteError) -> bool:
    """Did the store refuse the x-amz-sdk-checksum-algorithm header itself (some S3-compatible
    stores answer "Unsupported header")?"""
    text = f"{exc} {exc.__cause__ or ''}".lower()
    return exc.code in UNSUPPORTED_CODES and "sdk-checksum-algorithm" in text
