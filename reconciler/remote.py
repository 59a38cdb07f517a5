"""The S3 side: with s3client.py (the client it is handed), the only boto3 user.

Uploads read from one already-open handle, so the bytes sent, the bytes hashed and the
bytes verified are the same bytes even if the recorder moves or appends to the file
meanwhile (s3transfer's upload_file reopens the file by name for every part). Every
upload carries a checksum of those bytes that the store verifies and keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any, Callable, Optional

import botocore.exceptions as bx

from .checksums import checksum_for, split_count
from .config import MIB, Config, ObjectLock, Transfer
from .contentcheck import ContentChecks
from .events import NO_EVENTS, TransferEvents
from .models import RemoteObject
from .multipart import MultipartSettings, MultipartUpload
from .native import LazyNative, native_for
from .objectlock import ObjectLockCalls, lock_headers, utcnow
from .results import Stored, StoredObject
from .s3errors import ErrorKind, RemoteError, classify_error
from .singleput import CHECK_PROBE, CHECK_PROBE_MD5, SinglePut
from .smallobjects import SmallObjects
from .throttle import MemoryBudget, Throttle
from .timetable import rate_source


@dataclass(frozen=True)
class BucketSettings:
    """What the S3 side needs of the config, and nothing more."""

    name: str
    transfer: Transfer
    checksum: str = "auto"  # remote.checksum
    storage_class: Optional[str] = None
    sse: Optional[str] = None
    sse_kms_key_id: Optional[str] = None
    object_lock: Optional[ObjectLock] = None
    whole_sha256: bool = False  # the ledger records every file's SHA-256

    @classmethod
    def of(cls, cfg: Config) -> BucketSettings:
        r = cfg.remote
        return cls(cfg.bucket, cfg.transfer, r.checksum, r.storage_class, r.sse, r.sse_kms_key_id,
                   r.object_lock, cfg.ledger.enabled)


class Bucket(ObjectLockCalls, ContentChecks, SinglePut, SmallObjects):
    """One bucket through one client; every call maps failures to RemoteError."""

    def __init__(self, client: Any, settings: BucketSettings, throttle: Optional[Throttle] = None,
                 native: Optional[LazyNative] = None):
        self.client = client
        self.name = settings.name
        self.settings = settings
        self.transfer = settings.transfer
        self.checksum = checksum_for(settings.checksum)
        self.throttle = throttle or Throttle(rate_source(settings.transfer))
        self.memory = MemoryBudget(int(settings.transfer.max_memory_mb * MIB))
        self.conditional_complete = True  # False once the store rejects IfNoneMatch on a complete
        self.algorithm_header = True  # False once the store rejects x-amz-sdk-checksum-algorithm
        self.lock = settings.object_lock
        self.whole_sha256 = settings.whole_sha256
        self.native = native  # None: botocore sends every request (unit tests, stubbed clients)
        self.clock = utcnow

    @classmethod
    def from_config(cls, client: Any, cfg: Config) -> Bucket:
        return cls(client, BucketSettings.of(cfg))

    @classmethod
    def for_uploads(cls, client: Any, cfg: Config) -> Bucket:
        """from_config, plus awscrt's native client for small bodies (native.py), made on
        first use unless transfer.native_client is off."""
        setting = cfg.transfer.native_client
        return cls(client, BucketSettings.of(cfg),
                   native=LazyNative(lambda: native_for(client, cfg.bucket, setting)))

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, op)(Bucket=self.name, **kwargs)
        except Exception as exc:
            raise classify_error(exc, self.name) from exc

    def _extra(self) -> dict[str, Any]:
        r = self.settings
        extra: dict[str, Any] = {}
        if r.storage_class:
            extra["StorageClass"] = r.storage_class
        if r.sse:
            extra["ServerSideEncryption"] = r.sse
        if r.sse_kms_key_id:
            extra["SSEKMSKeyId"] = r.sse_kms_key_id
        extra.update(lock_headers(self.lock, self.clock()))
        return extra

    # ---- reading ------------------------------------------------------------------
    def list(self, prefix: str) -> dict[str, RemoteObject]:
        out: dict[str, RemoteObject] = {}
        token: Optional[str] = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", **kwargs)
            for obj in page.get("Contents", ()):
                out[obj["Key"]] = RemoteObject(obj["Key"], obj["Size"], obj.get("ETag", ""))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return out

    def head(self, key: str) -> Optional[StoredObject]:
        """What the store holds at key, or None if there is no object there."""
        try:
            resp = self._call("head_object", Key=key, ChecksumMode="ENABLED")
        except RemoteError as exc:
            if exc.code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        etag = resp.get("ETag", "")
        stored = resp.get(self.checksum.field) if self.checksum else None
        parts = split_count(stored)[1] if stored else None
        parts = parts or resp.get("PartsCount") or split_count(etag.strip('"'))[1]
        if stored and parts and "-" not in stored and resp.get("ChecksumType") != "FULL_OBJECT":
            stored = f"{stored}-{parts}"  # moto's composite lacks AWS's "-N": one form for all
        return StoredObject(resp["ContentLength"], stored, etag, parts, key)

    def check_access(self) -> None:
        self._call("head_bucket")

    def check_list(self, prefix: str) -> None:
        self._call("list_objects_v2", Prefix=prefix, MaxKeys=1)

    # ---- writing ------------------------------------------------------------------
    def upload(self, fh: IO[bytes], key: str, size: int, overwrite: bool,
               events: TransferEvents = NO_EVENTS, resume_id: Optional[str] = None) -> Stored:
        """Send `size` bytes from fh (at offset 0) to key; returns the stored checksum (with the
        version id, and the SHA-256 hex when the ledger wants it).

        overwrite=False never replaces an existing object: RemoteError(EXISTS) instead.
        `events` hears of bytes sent and of multipart uploads begun and ended (to resume or
        clean up; resume_id continues one), and checks the file is unchanged before the
        object is published (events.TransferEvents).
        """
        if size < self.transfer.threshold_bytes:
            return self._put(fh, key, size, overwrite, events)
        if not overwrite and self._taken(key):
            raise RemoteError(ErrorKind.EXISTS, "an object already exists at this key")
        return self._multipart(fh, key, size, overwrite, events, resume_id)

    def _taken(self, key: str) -> bool:
        try:
            return self.head(key) is not None
        except RemoteError as exc:
            if exc.kind is ErrorKind.THIS_FILE:  # write-only credentials may not look: go ahead
                return False
            raise

    def _multipart(self, fh: IO[bytes], key: str, size: int, overwrite: bool,
                   events: TransferEvents, resume_id: Optional[str]) -> Stored:
        t = self.transfer
        extra = self._extra()
        settings = MultipartSettings(t.chunk_bytes, t.max_concurrency, self.checksum, extra,
                                     part_md5=bool(self.lock and not self.checksum),
                                     whole_sha256=self.whole_sha256)
        upload = MultipartUpload(self._call, key, settings, self.throttle, overwrite,
                                 self.conditional_complete, self.memory)
        try:
            checksum = upload.run(fh, size, events, resume_id)
        finally:
            if not upload.conditional:  # remembered for the rest of this process
                self.conditional_complete = False
        if self.lock:
            self.ensure_retention(key, upload.version_id, extra)
        return Stored(checksum, upload.version_id, upload.sha256)

    def abort(self, key: str, upload_id: str) -> None:
        """Best effort: a failure here is cleaned up on the next pass from the manifest."""
        try:
            self._call("abort_multipart_upload", Key=key, UploadId=upload_id)
        except RemoteError as exc:
            if exc.code not in ("NoSuchUpload", "404"):
                raise

    def abort_unknown(self, key: str, known: set[str]) -> int:
        """Abort uploads in progress at exactly `key` whose ids are not in `known` (a run
        killed between CreateMultipartUpload and recording its id left them)."""
        kwargs: dict[str, Any] = {"Prefix": key}
        aborted = 0
        while True:
            page = self._call("list_multipart_uploads", **kwargs)
            for up in page.get("Uploads", ()):
                if up["Key"] == key and up["UploadId"] not in known:
                    self.abort(key, up["UploadId"])
                    aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            kwargs.update(KeyMarker=page.get("NextKeyMarker", ""),
                          UploadIdMarker=page.get("NextUploadIdMarker", ""))

    def download(self, key: str, out: IO[bytes]) -> Optional[int]:
        """Copy the object at key into out (its stored checksum checked where the store
        returns one); the byte count, or None when there is no such object."""
        try:
            resp = self._call("get_object", Key=key, ChecksumMode="ENABLED")
        except RemoteError as exc:
            if exc.code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        written = 0
        try:
            for chunk in iter(lambda: resp["Body"].read(MIB), b""):
                out.write(chunk)
                written += len(chunk)
        except OSError:
            raise  # the local side (OUT) failed: the caller says so
        except bx.FlexibleChecksumError as exc:
            raise RemoteError(ErrorKind.THIS_FILE, f"{key}: the bytes received do not match the "
                              "checksum stored with the object") from exc
        except Exception as exc:  # a dropped connection or a checksum mismatch mid-body
            raise classify_error(exc, self.name) from exc
        return written

    def download_hashes(self, key: str, sink: Callable[[bytes], None], chunk: int = 1024 * 1024) -> bool:
        """Stream the object at key into sink; False when there is none."""
        try:
            body = self._call("get_object", Key=key)["Body"]
        except RemoteError as exc:
            if exc.code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        try:
            for piece in body.iter_chunks(chunk):
                sink(piece)
        except Exception as exc:
            raise classify_error(exc, self.name) from exc
        return True


    def put_probe(self, key: str) -> None:
        """Write `check`'s probe: one fixed key in the tool's own space, overwritten each time
        (Content-MD5: a bucket with a default retention requires it)."""
        self._call("put_object", Key=key, Body=CHECK_PROBE, ContentMD5=CHECK_PROBE_MD5)

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=key)
