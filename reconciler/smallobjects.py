"""Objects beside the recordings: live segments (a byte range of a growing file), the
immutable ledger objects and small reads of them. A mixin of remote.Bucket
(calls go through its `_call`), so it needs no boto3 of its own."""

from __future__ import annotations

import hashlib
from typing import IO, Any, Callable, Optional

from .checksums import (
    b64,
)
from .events import TransferEvents
from .results import Stored
from .s3errors import RemoteError


class SmallObjects:
    """Needs the Bucket's `_call`, `_extra`, `checksum` and `upload`."""

    _call: Callable[..., Any]
    _extra: Callable[[], dict[str, Any]]
    checksum: Any
    upload: Callable[..., Stored]

    def upload_range(self, fh: IO[bytes], key: str, start: int, length: int,
                     events: TransferEvents) -> Optional[str]:
        """Send bytes [start, start + length) of fh to key, with the usual checksum; a live
        segment of ours may be replaced (one left by a run killed before recording it)."""
        fh.seek(start)
        return self.upload(fh, key, length, True, events)

    def put_immutable(self, key: str, data: bytes) -> Optional[str]:
        """A small object that must never be replaced (ledger): conditional, locked when
        configured, with a checksum; returns its version id. EXISTS if the key is taken."""
        kwargs = self._extra()
        if self.checksum:
            kwargs[self.checksum.field] = b64(self.checksum.of(data))
        # Always: a PUT under Object Lock needs Content-MD5 or the SDK's algorithm header
        # (AWS and moto refuse it otherwise), and every store accepts Content-MD5.
        kwargs["ContentMD5"] = b64(hashlib.md5(data).digest())
        resp = self._call("put_object", Key=key, Body=data, IfNoneMatch="*",
                          ContentType="application/x-ndjson", **kwargs)
        return resp.get("VersionId")

    def get_bytes(self, key: str) -> Optional[bytes]:
        """The whole object (small ones: the ledger), or None when there is none."""
        try:
            return self._call("get_object", Key=key)["Body"].read()
        except RemoteError as exc:
            if exc.code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
