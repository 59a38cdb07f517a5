"""The S3 side: the only boto3 user.

Uploads read from one already-open handle, so the bytes sent, the bytes hashed and the
bytes verified are the same bytes even if the recorder moves or appends to the file
meanwhile (s3transfer's upload_file reopens the file by name for every part). Every
upload carries a checksum of those bytes that the store verifies and keeps.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import Enum
from typing import IO, Any, Callable, Optional

import boto3
import botocore.exceptions as bx
from botocore.config import Config as BotoConfig

from . import __version__
from .config import Config, ConfigError
from .models import RemoteObject
from .throttle import Throttle

Progress = Callable[[int], None]


class ErrorKind(str, Enum):
    RETRYABLE = "retryable"  # network blips, 5xx, SlowDown: try again
    KEY = "key"  # this key only (AccessDenied on it, bad name): fail the file, no retry
    FATAL = "fatal"  # the bucket is unusable (credentials, no bucket, clock): end the pass
    EXISTS = "exists"  # a conditional write found an object already there


class RemoteError(Exception):
    """An S3 failure with its kind and a sentence a user can act on."""

    def __init__(self, kind: ErrorKind, message: str, code: str = ""):
        super().__init__(message)
        self.kind = kind
        self.code = code


class FileChanged(Exception):
    """The file held fewer bytes than its size said: it changed under us."""


_FATAL_CODES = {
    "NoSuchBucket": "bucket {bucket} does not exist: create it, or fix bucket in the config.",
    "InvalidAccessKeyId": "the access key is not valid for this store: check your credentials.",
    "SignatureDoesNotMatch": "the secret key does not match the access key: check your credentials.",
    "ExpiredToken": "the session token has expired: refresh your credentials.",
    "TokenRefreshRequired": "the session token has expired: refresh your credentials.",
    "InvalidToken": "the session token is not valid: refresh your credentials.",
    "RequestTimeTooSkewed": "this computer's clock is too far off for S3: set the clock "
                            "(enable time synchronisation) and run again.",
    "AllAccessDisabled": "all access to bucket {bucket} is disabled: check the account.",
    "AccountProblem": "the account has a problem S3 will not serve: check the account.",
    "PermanentRedirect": "bucket {bucket} is in another region: set remote.region to it.",
    "AuthorizationHeaderMalformed": "the region is wrong for bucket {bucket}: set remote.region.",
    "InvalidBucketName": "bucket name {bucket} is not accepted by the store: fix bucket.",
    "NotImplemented": "the store does not support a request camup-sync made: try "
                      "remote.checksum: off for stores without flexible checksums.",
    "InvalidRequest": "the store rejected the request: for stores without flexible checksums "
                      "set remote.checksum: off.",
}
_RETRYABLE_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
                    "RequestTimeoutException", "Throttling", "ThrottlingException", "BadDigest",
                    "XAmzContentSHA256Mismatch", "IncompleteBody", "OperationAborted", "500",
                    "502", "503", "504"}
_DENIED = {"AccessDenied", "403", "Forbidden"}


def classify_error(exc: BaseException, bucket: str = "") -> RemoteError:
    """Map any boto3/botocore failure to an ErrorKind and a sentence."""
    if isinstance(exc, RemoteError):
        return exc
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return RemoteError(ErrorKind.FATAL, "no AWS credentials found: set AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY, run 'aws configure', or set remote.profile.")
    if isinstance(exc, bx.EndpointConnectionError):
        return RemoteError(ErrorKind.FATAL, f"cannot connect to the S3 endpoint ({exc}): check "
                           "the network and remote.endpoint_url; the next pass retries.")
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        message = err.get("Message") or code
        if code in ("PreconditionFailed", "412"):
            return RemoteError(ErrorKind.EXISTS, "an object already exists at this key", code)
        if code in _FATAL_CODES:
            return RemoteError(ErrorKind.FATAL, _FATAL_CODES[code].format(bucket=bucket), code)
        if code in _RETRYABLE_CODES:
            return RemoteError(ErrorKind.RETRYABLE, f"S3 answered {code}: {message}", code)
        if code in _DENIED:
            return RemoteError(ErrorKind.KEY, f"access denied ({message}): the credentials need "
                               f"s3:PutObject on bucket {bucket}.", code)
        if code == "NoSuchUpload":
            return RemoteError(ErrorKind.RETRYABLE, "the multipart upload vanished; restarting", code)
        return RemoteError(ErrorKind.KEY, f"S3 refused the request: {code}: {message}", code)
    if isinstance(exc, (bx.ConnectionError, bx.HTTPClientError, ConnectionError, TimeoutError)):
        return RemoteError(ErrorKind.RETRYABLE, f"network error: {exc}")
    raise exc  # a bug, not an S3 answer: let it surface


@dataclass(frozen=True)
class Checksum:
    """One flexible-checksum algorithm: how to hash, and the S3 fields it travels in."""

    name: str  # ChecksumAlgorithm value
    new: Callable[[], Any]

    @property
    def field(self) -> str:
        return "Checksum" + self.name

    def of(self, data: bytes) -> bytes:
        h = self.new()
        h.update(data)
        return h.digest()


class _Crc32c:
    def __init__(self) -> None:
        import crc32c  # optional; config validation checked it is installed

        self._value = 0
        self._fn = crc32c.crc32c

    def update(self, data: bytes) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


def checksum_for(setting: str) -> Optional[Checksum]:
    if setting == "off":
        return None
    if setting == "crc32c":
        return Checksum("CRC32C", _Crc32c)
    return Checksum("SHA256", hashlib.sha256)


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def make_client(cfg: Config) -> Any:
    """The one boto3 client for a process; thread-safe and shared by every upload."""
    r, t = cfg.remote, cfg.transfer
    style = r.addressing_style
    if style == "auto":
        style = "path" if r.endpoint_url else "virtual"
    boto_cfg = BotoConfig(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5, read_timeout=60, tcp_keepalive=True,
        max_pool_connections=max(10, t.parallel_files * t.max_concurrency + 2),
        s3={"addressing_style": style},
        # We send our own checksum where wanted; botocore's default CRC32 is rejected by
        # some S3-compatible stores.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_extra=f"camup-sync/{__version__}",
    )
    try:
        session = boto3.session.Session(profile_name=r.profile, region_name=r.region)
    except bx.ProfileNotFound:
        raise ConfigError(f'remote.profile "{r.profile}" is not in your AWS config: run '
                          f"'aws configure --profile {r.profile}' or fix the name.") from None
    return session.client("s3", endpoint_url=r.endpoint_url, config=boto_cfg)


class Bucket:
    """One bucket through one client; every call maps failures to RemoteError."""

    def __init__(self, client: Any, cfg: Config, throttle: Optional[Throttle] = None):
        self.client = client
        self.name = cfg.bucket
        self.cfg = cfg
        self.checksum = checksum_for(cfg.remote.checksum)
        self.throttle = throttle or Throttle(cfg.transfer.bandwidth_bytes)

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, op)(Bucket=self.name, **kwargs)
        except Exception as exc:
            raise classify_error(exc, self.name) from exc

    def _extra(self) -> dict[str, Any]:
        r = self.cfg.remote
        extra: dict[str, Any] = {}
        if r.storage_class:
            extra["StorageClass"] = r.storage_class
        if r.sse:
            extra["ServerSideEncryption"] = r.sse
        if r.sse_kms_key_id:
            extra["SSEKMSKeyId"] = r.sse_kms_key_id
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

    def head(self, key: str) -> Optional[tuple[int, Optional[str]]]:
        """(size, stored checksum) of the object at key, or None if there is none."""
        try:
            resp = self._call("head_object", Key=key, ChecksumMode="ENABLED")
        except RemoteError as exc:
            if exc.code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        stored = resp.get(self.checksum.field) if self.checksum else None
        return resp["ContentLength"], stored

    def local_checksum(self, fh: IO[bytes], size: int) -> Optional[str]:
        """The checksum an upload of these bytes would have stored (plain or composite)."""
        if not self.checksum:
            return None
        fh.seek(0)
        if size < self.cfg.transfer.threshold_bytes:
            return b64(self.checksum.of(_read_exact(fh, size)))
        chunk = self.cfg.transfer.chunk_bytes
        digests = [self.checksum.of(_read_exact(fh, min(chunk, size - off)))
                   for off in range(0, size, chunk)]
        return f"{b64(self.checksum.of(b''.join(digests)))}-{len(digests)}"

    def check_access(self) -> None:
        self._call("head_bucket")

    def check_list(self, prefix: str) -> None:
        self._call("list_objects_v2", Prefix=prefix, MaxKeys=1)

    # ---- writing ------------------------------------------------------------------
    def upload(self, fh: IO[bytes], key: str, size: int, overwrite: bool,
               progress: Progress, on_multipart: Callable[[str, bool], None]) -> Optional[str]:
        """Send `size` bytes from fh (at offset 0) to key; returns the stored checksum.

        overwrite=False never replaces an existing object: RemoteError(EXISTS) instead.
        on_multipart(upload_id, started) lets the caller remember uploads to clean up.
        """
        if size < self.cfg.transfer.threshold_bytes:
            return self._put(fh, key, size, overwrite, progress)
        if not overwrite and self.head(key) is not None:
            raise RemoteError(ErrorKind.EXISTS, "an object already exists at this key")
        return self._multipart(fh, key, size, progress, on_multipart)

    def _put(self, fh: IO[bytes], key: str, size: int, overwrite: bool, progress: Progress) -> Optional[str]:
        data = _read_exact(fh, size)
        self.throttle.consume(size)
        kwargs = self._extra()
        stored = None
        if self.checksum:
            stored = b64(self.checksum.of(data))
            kwargs[self.checksum.field] = stored
        if not overwrite:
            kwargs["IfNoneMatch"] = "*"
        self._call("put_object", Key=key, Body=data, **kwargs)
        progress(size)
        return stored

    def _multipart(self, fh: IO[bytes], key: str, size: int, progress: Progress,
                   on_multipart: Callable[[str, bool], None]) -> Optional[str]:
        chunk = self.cfg.transfer.chunk_bytes
        extra = self._extra()
        if self.checksum:
            extra["ChecksumAlgorithm"] = self.checksum.name
        upload_id = self._call("create_multipart_upload", Key=key, **extra)["UploadId"]
        on_multipart(upload_id, True)
        try:
            parts, digests = self._send_parts(fh, key, size, chunk, upload_id, progress)
            self._call("complete_multipart_upload", Key=key, UploadId=upload_id,
                       MultipartUpload={"Parts": parts})
        except BaseException:
            self.abort(key, upload_id)
            on_multipart(upload_id, False)
            raise
        on_multipart(upload_id, False)
        if not self.checksum:
            return None
        return f"{b64(self.checksum.of(b''.join(digests)))}-{len(digests)}"

    def _send_parts(self, fh: IO[bytes], key: str, size: int, chunk: int, upload_id: str,
                    progress: Progress) -> tuple[list[dict[str, Any]], list[bytes]]:
        """Read parts in order from the one handle; send up to max_concurrency at once."""
        limit = threading.BoundedSemaphore(self.cfg.transfer.max_concurrency)
        futures: list[Future] = []
        digests: list[bytes] = []

        def send(number: int, data: bytes, digest: Optional[bytes]) -> dict[str, Any]:
            try:
                self.throttle.consume(len(data))
                kwargs: dict[str, Any] = {}
                if digest is not None and self.checksum:
                    kwargs[self.checksum.field] = b64(digest)
                resp = self._call("upload_part", Key=key, UploadId=upload_id, PartNumber=number,
                                  Body=data, **kwargs)
                progress(len(data))
                part = {"PartNumber": number, "ETag": resp["ETag"]}
                if digest is not None and self.checksum:
                    part[self.checksum.field] = b64(digest)
                return part
            finally:
                limit.release()

        with ThreadPoolExecutor(self.cfg.transfer.max_concurrency, "part") as pool:
            for number, offset in enumerate(range(0, size, chunk), start=1):
                data = _read_exact(fh, min(chunk, size - offset))
                digest = self.checksum.of(data) if self.checksum else None
                if digest is not None:
                    digests.append(digest)
                limit.acquire()  # bounds memory to max_concurrency parts
                if any(f.done() and f.exception() for f in futures):
                    limit.release()
                    break
                futures.append(pool.submit(send, number, data, digest))
            wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                if f.done() and f.exception():
                    for other in futures:
                        other.cancel()
                    raise f.exception()  # type: ignore[misc]
        return [f.result() for f in futures], digests

    def abort(self, key: str, upload_id: str) -> None:
        """Best effort: a failure here is cleaned up on the next pass from the manifest."""
        try:
            self._call("abort_multipart_upload", Key=key, UploadId=upload_id)
        except RemoteError as exc:
            if exc.code not in ("NoSuchUpload", "404"):
                raise

    def put_probe(self, key: str) -> None:
        self._call("put_object", Key=key, Body=b"camup-sync check", IfNoneMatch="*")

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=key)


def _read_exact(fh: IO[bytes], n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise FileChanged(f"read {len(data)} bytes where {n} were expected")
    return data
