"""remote.object_lock: the config key, the headers of a locked write, and check's lock line."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
from pathlib import Path
from typing import Any, Optional

import boto3
import pytest
from botocore.stub import ANY, Stubber

from reconciler.check import Preflight, lock_probe_key
from reconciler.config import ConfigError, ObjectLock, from_mapping
from reconciler.remote import Bucket, lock_headers
from reconciler.s3errors import ErrorKind, RemoteError

NOW = dt.datetime(2026, 12, 1, 18, 0, tzinfo=dt.timezone.utc)


def config(tmp_path: Path, **remote: Any):
    (tmp_path / "w").mkdir(exist_ok=True)
    return from_mapping({"watch_dir": "w", "bucket": "cams", "remote": remote}, tmp_path, env={})


def test_object_lock_config_is_read_into_mode_and_days(tmp_path: Path) -> None:
    assert config(tmp_path).remote.object_lock is None
    lock = config(tmp_path, object_lock={"mode": "governance", "days": 30}).remote.object_lock
    assert lock == ObjectLock("GOVERNANCE", 30)


@pytest.mark.parametrize(("value", "says"), [
    ({"mode": "LEGAL", "days": 3}, "remote.object_lock.mode must be GOVERNANCE or COMPLIANCE"),
    ({"mode": "COMPLIANCE", "days": 0}, "remote.object_lock.days must be a whole number of days"),
    ({"mode": "COMPLIANCE", "days": 1.5}, "remote.object_lock.days must be a whole number"),
    ({"mode": "COMPLIANCE", "days": 3, "years": 1}, 'unknown key "remote.object_lock.years"'),
    ("GOVERNANCE", "remote.object_lock must be a mapping such as {mode: GOVERNANCE, days: 30}"),
])
def test_a_bad_object_lock_is_one_sentence_naming_the_key(tmp_path: Path, value: Any, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("{", r"\{").replace("}", r"\}")):
        config(tmp_path, object_lock=value)


def test_lock_headers_are_mode_and_now_plus_days() -> None:
    assert lock_headers(None, NOW) == {}
    assert lock_headers(ObjectLock("COMPLIANCE", 90), NOW) == {
        "ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": NOW + dt.timedelta(days=90)}


def stubbed(tmp_path: Path, **remote: Any) -> tuple[Bucket, Stubber]:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k",
                          aws_secret_access_key="s", endpoint_url="http://127.0.0.1:9")
    bucket = Bucket.from_config(client, config(tmp_path, **remote))
    bucket.clock = lambda: NOW
    return bucket, Stubber(client)


@pytest.mark.parametrize("checksum", ["off", "sha256"])
def test_a_locked_put_carries_the_retention_and_content_md5_or_a_checksum(tmp_path: Path,
                                                                          checksum: str) -> None:
    data = b"clip bytes"
    bucket, stub = stubbed(tmp_path, checksum=checksum, object_lock={"mode": "GOVERNANCE", "days": 7})
    expected = {"Bucket": "cams", "Key": "k", "Body": ANY, "IfNoneMatch": "*",
                "ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": NOW + dt.timedelta(days=7)}
    if checksum == "off":  # without a checksum, a locked write needs Content-MD5
        expected["ContentMD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()
    else:
        expected["ChecksumSHA256"] = base64.b64encode(hashlib.sha256(data).digest()).decode()
        expected["ChecksumAlgorithm"] = "SHA256"  # as the SDKs send it (moto keeps it only so)
    stub.add_response("put_object", {"VersionId": "v7"}, expected)
    with stub:
        stored = bucket.upload(io.BytesIO(data), "k", len(data), False)
    stub.assert_no_pending_responses()
    assert stored.version_id == "v7"


@pytest.mark.parametrize("checksum", ["off", "sha256"])
def test_a_locked_ledger_object_carries_content_md5_whatever_the_checksum(tmp_path: Path,
                                                                          checksum: str) -> None:
    """A PUT under Object Lock needs Content-MD5 or the SDK's algorithm header: with only
    x-amz-checksum-sha256, moto (and AWS, by its documentation) refused the ledger object."""
    data = b'{"key": "cams/a.mp4"}\n'
    bucket, stub = stubbed(tmp_path, checksum=checksum, object_lock={"mode": "GOVERNANCE", "days": 7})
    expected = {"Bucket": "cams", "Key": "led", "Body": data, "IfNoneMatch": "*",
                "ContentType": "application/x-ndjson", "ObjectLockMode": "GOVERNANCE",
                "ObjectLockRetainUntilDate": NOW + dt.timedelta(days=7),
                "ContentMD5": base64.b64encode(hashlib.md5(data).digest()).decode()}
    if checksum == "sha256":
        expected["ChecksumSHA256"] = base64.b64encode(hashlib.sha256(data).digest()).decode()
    stub.add_response("put_object", {"VersionId": "v1"}, expected)
    with stub:
        assert bucket.put_immutable("led", data) == "v1"
    stub.assert_no_pending_responses()


def test_a_multipart_object_without_retention_gets_it_after_completing(tmp_path: Path) -> None:
    """moto's server ignores lock headers on CreateMultipartUpload: HEAD, then PutObjectRetention."""
    bucket, stub = stubbed(tmp_path, object_lock={"mode": "GOVERNANCE", "days": 1})
    until = NOW + dt.timedelta(days=1)
    stub.add_response("head_object", {"ContentLength": 1}, {"Bucket": "cams", "Key": "k", "VersionId": "v1"})
    stub.add_response("put_object_retention", {}, {
        "Bucket": "cams", "Key": "k", "VersionId": "v1",
        "Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": until}})
    with stub:
        bucket.ensure_retention("k", "v1", lock_headers(bucket.lock, NOW))
    stub.assert_no_pending_responses()


class FakeBucket:
    """Only what check's lock line calls."""

    def __init__(self, enabled: Optional[bool], deletes: bool, denied_reads: bool = False) -> None:
        self.enabled, self.deletes, self.denied_reads = enabled, deletes, denied_reads
        self.puts: list[tuple[str, str, int]] = []

    def check_access(self) -> None: ...

    def put_probe(self, key: str) -> None: ...

    def put_probe_native(self, key: str) -> Optional[str]:
        return None  # small uploads through botocore: check prints a SKIP line

    def delete(self, key: str) -> None: ...

    def check_list(self, prefix: str) -> None: ...

    def lock_configuration(self) -> Optional[dict]:
        if self.denied_reads:
            raise RemoteError(ErrorKind.THIS_FILE, "access denied", "AccessDenied")
        return {"ObjectLockEnabled": "Enabled"} if self.enabled else None

    def head_lock(self, key: str):
        if self.denied_reads:
            raise RemoteError(ErrorKind.THIS_FILE, "access denied", "403")
        return None

    def put_locked_probe(self, key: str, mode: str, days: int) -> Optional[str]:
        self.puts.append((key, mode, days))
        return "probe-v1"

    def delete_version(self, key: str, version_id: str) -> None:
        if not self.deletes:
            raise RemoteError(ErrorKind.THIS_FILE, "access denied (Access Denied.)", "AccessDenied")


def lock_line(tmp_path: Path, bucket: FakeBucket) -> tuple[int, str]:
    out = io.StringIO()
    cfg = config(tmp_path, object_lock={"mode": "COMPLIANCE", "days": 30})
    code = Preflight(cfg, lambda: bucket, out).run()  # type: ignore[arg-type, return-value]
    (line,) = [x for x in out.getvalue().splitlines() if "object lock enforced" in x]
    return code, line


def test_check_passes_only_when_the_locked_version_cannot_be_deleted(tmp_path: Path) -> None:
    bucket = FakeBucket(enabled=True, deletes=False)
    code, line = lock_line(tmp_path, bucket)
    assert code == 0 and line.startswith("PASS  object lock enforced: deleting the locked probe version")
    assert bucket.puts == [(lock_probe_key("", __import__("socket").gethostname()), "GOVERNANCE", 1)]


def test_check_fails_a_store_that_accepts_lock_headers_but_deletes_anyway(tmp_path: Path) -> None:
    code, line = lock_line(tmp_path, FakeBucket(enabled=True, deletes=True))
    assert code == 4
    assert line.startswith("FAIL  object lock enforced: the store accepts lock headers but deletes anyway")


def test_check_fails_a_bucket_without_object_lock(tmp_path: Path) -> None:
    code, line = lock_line(tmp_path, FakeBucket(enabled=False, deletes=False))
    assert code == 4 and "does not have Object Lock enabled" in line


def test_check_with_write_only_keys_says_the_refusal_may_be_theirs(tmp_path: Path) -> None:
    code, line = lock_line(tmp_path, FakeBucket(enabled=None, deletes=False, denied_reads=True))
    assert code == 0 and "may be theirs rather than the lock's" in line
