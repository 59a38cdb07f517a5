"""Object Lock on the S3 side: the headers of a locked write, the retention check after a
multipart upload, and the calls `check` makes to learn whether the store enforces a lock.

A mixin of remote.Bucket: every call goes through its `_call` (failures as RemoteError),
so this module needs no boto3 of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Callable, Optional

from loguru import logger

from .checksums import b64
from .config import ObjectLock
from .s3errors import ErrorKind, RemoteError


def lock_headers(lock: Optional[ObjectLock], now: dt.datetime) -> dict[str, Any]:
    """The retention a write carries under remote.object_lock: mode, and now + days."""
    if lock is None:
        return {}
    return {"ObjectLockMode": lock.mode,
            "ObjectLockRetainUntilDate": now + dt.timedelta(days=lock.days)}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class ObjectLockCalls:
    """What remote.Bucket does for Object Lock (it provides _call, lock and clock)."""

    _call: Callable[..., Any]
    lock: Optional[ObjectLock]
    clock: Callable[[], dt.datetime]

    def ensure_retention(self, key: str, version_id: Optional[str], extra: dict[str, Any]) -> None:
        """Some stores ignore the lock headers of CreateMultipartUpload (moto's server): look,
        and where the object has no retention (or we may not look), apply it explicitly."""
        version = {"VersionId": version_id} if version_id else {}
        try:
            if self._call("head_object", Key=key, **version).get("ObjectLockMode"):
                return
        except RemoteError as exc:
            if exc.kind is ErrorKind.FATAL:
                raise
        retention = {"Mode": extra["ObjectLockMode"], "RetainUntilDate": extra["ObjectLockRetainUntilDate"]}
        try:
            self._call("put_object_retention", Key=key, Retention=retention, **version)
        except RemoteError as exc:
            if exc.kind is ErrorKind.FATAL:
                raise
            logger.warning("Could not confirm or set the Object Lock retention of {} ({}): the "
                           "credentials need s3:GetObject or s3:PutObjectRetention", key, exc)

    # ---- Object Lock (check) ---------------------------------------------------------
    def lock_configuration(self) -> Optional[dict[str, Any]]:
        """The bucket's ObjectLockConfiguration, or None when Object Lock is not enabled."""
        try:
            conf = self._call("get_object_lock_configuration").get("ObjectLockConfiguration", {})
        except RemoteError as exc:
            if exc.code in ("ObjectLockConfigurationNotFoundError", "404", "NoSuchObjectLockConfiguration"):
                return None
            raise
        return conf if conf.get("ObjectLockEnabled") == "Enabled" else None

    def head_lock(self, key: str) -> Optional[tuple[Optional[str], Optional[dt.datetime], Optional[str]]]:
        """(mode, retain-until, version id) of the current object at key; None if none."""
        try:
            resp = self._call("head_object", Key=key)
        except RemoteError as exc:
            if exc.code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return resp.get("ObjectLockMode"), resp.get("ObjectLockRetainUntilDate"), resp.get("VersionId")

    def put_locked_probe(self, key: str, mode: str, days: int) -> Optional[str]:
        """The lock probe: a tiny object with the given retention; returns its version id."""
        data = b"camup-sync object lock probe"
        resp = self._call("put_object", Key=key, Body=data, ContentMD5=b64(hashlib.md5(data).digest()),
                          **lock_headers(ObjectLock(mode, days), self.clock()))
        return resp.get("VersionId")

    def delete_version(self, key: str, version_id: str) -> None:
        """Without x-amz-bypass-governance-retention: a lock must refuse this."""
        self._call("delete_object", Key=key, VersionId=version_id)
