"""Do these local bytes equal the stored object? Whatever part size and whichever store
wrote it: the stored checksum compared by value and part count (the part size learned
from the store), else the MD5 ETag. A mixin of remote.Bucket (calls go through its
`_call`), so it needs no boto3 of its own."""

from __future__ import annotations

from typing import IO, Any, Callable, Optional

from loguru import logger

from .checksums import (
    b64,
    checksum_matches,
    composite,
    digest_range,
    md5_etag_matches,
    parts_for,
)
from .config import MIB, Transfer
from .results import StoredObject
from .s3errors import UNSUPPORTED_CODES, ErrorKind, RemoteError
from .text import printable
from .throttle import SharedHandle

Progress = Callable[[int], None]


class ContentChecks:
    """Needs the Bucket's `_call`, `transfer` and `checksum`."""

    _call: Callable[..., Any]
    transfer: Transfer
    checksum: Any

    def same_content(self, fh: IO[bytes], size: int, found: Optional[StoredObject]) -> bool:
        """Are the first `size` bytes of fh exactly the object head() found?

        The stored checksum decides where it can be compared (same algorithm; for a
        multipart object, a part size giving its part count); otherwise the ETag (the MD5,
        or for a multipart object the MD5 of part MD5s). A multipart object is hashed with
        the part size it was really sent with, learned from the store, so a changed
        multipart_chunksize_mb or another uploader's part size still compares equal.
        """
        if found is None or found.size != size:
            return False
        sizes = self._part_sizes(found) if found.parts_count else ()
        if self.checksum and found.checksum:
            verdict = checksum_matches(fh, size, found.checksum, self.checksum, sizes)
            if verdict is not None:
                return verdict
            logger.debug("{}: no part size gives its checksum's {} parts; comparing the ETag",
                         printable(found.key), found.parts_count)
        return md5_etag_matches(fh, size, found.etag, sizes)

    def _part_sizes(self, found: StoredObject) -> tuple[int, ...]:
        """Part sizes to hash a multipart object with: part 1's real size where the store
        tells it (HEAD with PartNumber=1), else ours, boto3's default (8 MiB) and common ones."""
        learned = self._part_one_size(found.key) if found.key else None
        if learned and parts_for(found.size, learned) == found.parts_count:
            return (learned,)
        return (self.transfer.chunk_bytes, 8 * MIB, 16 * MIB, 5 * MIB, 64 * MIB, found.size)

    def _part_one_size(self, key: str) -> Optional[int]:
        try:
            return int(self._call("head_object", Key=key, PartNumber=1)["ContentLength"])
        except RemoteError as exc:
            if exc.kind in (ErrorKind.THIS_FILE, ErrorKind.FATAL) and exc.code in UNSUPPORTED_CODES:
                logger.debug("The store cannot HEAD part 1 of {} ({}); guessing its part size",
                             printable(key), exc)
                return None
            raise

    def local_checksum(self, fh: IO[bytes], size: int) -> Optional[str]:
        """The checksum an upload of these bytes would store now (plain or composite)."""
        if not self.checksum:
            return None
        read_at = SharedHandle(fh).read_at  # block by block: memory stays bounded
        if size < self.transfer.threshold_bytes:
            return b64(digest_range(read_at, 0, size, self.checksum.new))
        chunk = self.transfer.chunk_bytes
        digests = [digest_range(read_at, off, min(chunk, size - off), self.checksum.new)
                   for off in range(0, size, chunk)]
        return composite(self.checksum, digests)
