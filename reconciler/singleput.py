"""A single PutObject streamed from the held handle: the bytes hashed in a first read,
then sent through the throttle in blocks, with the checksum (or Content-MD5) the store
verifies. A mixin of remote.Bucket (calls go through its `_call`): no boto3 of its own."""

from __future__ import annotations

import hashlib
from base64 import b64decode
from typing import IO, Any, Callable, Optional

from loguru import logger

from .checksums import MD5, ChangedAfterPublish, FileChanged, SentOtherBytes, b64
from .events import TransferEvents
from .results import Stored
from .s3errors import UNSUPPORTED_CODES, RemoteError
from .throttle import BLOCK, MemoryBudget, RangeBody, SharedHandle, Throttle, send_body


class SinglePut:
    """Needs the Bucket's `_call`, `_extra`, `checksum`, `throttle`, `memory`, `whole_sha256`."""

    _call: Callable[..., Any]
    _extra: Callable[[], dict[str, Any]]
    checksum: Any
    throttle: Throttle
    memory: MemoryBudget
    whole_sha256: bool
    algorithm_header: bool

    def _put(self, fh: IO[bytes], key: str, size: int, overwrite: bool,
             events: TransferEvents) -> Stored:
        """Hash the bytes in a first read, then stream them through the throttle; a file
        that changes between the two reads is refused by the store (digest mismatch).
        The bytes start at fh's current position (0, or a live segment's start)."""
        handle = SharedHandle(fh, fh.tell())
        with self.memory.hold(BLOCK):
            digest, sha = self._hash_pass(handle, size)
            events.check_unchanged()
            kwargs = self._extra()
            stored = None
            if self.checksum:
                stored = b64(digest)
                kwargs[self.checksum.field] = stored
                if self.algorithm_header:  # as the SDKs send it: moto keeps a checksum only with it
                    kwargs["ChecksumAlgorithm"] = self.checksum.name
            else:  # no flexible checksum: the classic Content-MD5 still guards the bytes
                kwargs["ContentMD5"] = b64(digest)  # (and a locked write must carry one)
            if not overwrite:
                kwargs["IfNoneMatch"] = "*"
            try:
                resp = self._send_put(handle, key, size, events, kwargs)
            except SentOtherBytes:
                self._unpublish(key)
                raise
        return Stored(stored, resp.get("VersionId"), sha)

    def _unpublish(self, key: str) -> None:
        """A store that verifies nothing kept bytes that changed mid-send under a checksum
        they do not have: remove that object (it is ours); if that is refused, say that
        the key holds our object, which the next pass overwrites."""
        try:
            self._call("delete_object", Key=key)
        except RemoteError as exc:
            raise ChangedAfterPublish(f"the file changed while it was sent, and the object "
                                      f"could not be removed ({exc})") from exc

    def _send_put(self, handle: SharedHandle, key: str, size: int, events: TransferEvents,
                  kwargs: dict[str, Any]) -> Any:
        expected = kwargs.get(self.checksum.field) if self.checksum else kwargs.get("ContentMD5")
        algorithm = (self.checksum or MD5).new

        def send() -> Any:
            body = RangeBody(handle, 0, size, self.throttle, events.sent, algorithm)
            return send_body(body, lambda: self._call("put_object", Key=key, Body=body, **kwargs),
                             b64decode(expected) if expected else None)

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

    def _hash_pass(self, handle: SharedHandle, size: int) -> tuple[bytes, Optional[str]]:
        """One read of the bytes: the digest the request carries (checksum, else MD5) and,
        when the ledger wants it, their SHA-256 hex (the same digest with SHA-256)."""
        is_sha = self.checksum is not None and self.checksum.name == "SHA256"
        main = (self.checksum or MD5).new()
        whole = hashlib.sha256() if self.whole_sha256 and not is_sha else None
        for at in range(0, size, BLOCK):
            n = min(BLOCK, size - at)
            data = handle.read_at(at, n)
            if len(data) != n:
                raise FileChanged(f"read {len(data)} bytes where {n} were expected")
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
