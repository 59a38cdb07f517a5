"""The S3 client camup-sync builds: what each small PUT carries and skips. No server: a
before-send hook captures the request and stops it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from reconciler.config import from_mapping
from reconciler.s3client import EXPECT_MIN_BYTES, fast_timestamp, make_client
from reconciler.throttle import RangeBody, SharedHandle


class Captured(Exception):
    pass


def _client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The client camup-sync makes, pointed at a closed loopback port: nothing is sent."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "camup-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "camup-test-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    cfg = from_mapping({"watch_dir": str(tmp_path), "bucket": "b-b-b", "remote": {
        "endpoint_url": "http://127.0.0.1:9", "region": "us-east-1"}}, tmp_path, env={})
    return make_client(cfg)


def _sent_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: Any) -> dict[str, Any]:
    client = _client(tmp_path, monkeypatch)
    seen: dict[str, Any] = {}

    def capture(request: Any, **_: Any) -> None:
        seen.update(request.headers)
        raise Captured()

    client.meta.events.register("before-send.s3.PutObject", capture)
    with pytest.raises(Captured):
        client.put_object(Bucket="b-b-b", Key="cam/a.jpg", Body=body, IfNoneMatch="*",
                          ChecksumSHA256="n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=")
    return seen


def _streamed(tmp_path: Path, size: int) -> RangeBody:
    """The body uploads really send: a range of a held file, streamed."""
    f = tmp_path / "clip.bin"
    f.write_bytes(b"x" * size)
    fh = open(f, "rb")  # noqa: SIM115 - closed with the test's tmp_path
    return RangeBody(SharedHandle(fh, 0), 0, size)


@pytest.mark.parametrize("kind", ["bytes", "streamed"])
def test_a_small_put_goes_without_waiting_for_100_continue(tmp_path: Path, monkeypatch,
                                                          kind: str) -> None:
    body = b"x" * 40_000 if kind == "bytes" else _streamed(tmp_path, 40_000)
    headers = _sent_headers(tmp_path, monkeypatch, body)
    assert "Expect" not in headers
    assert headers["If-None-Match"] == b"*"  # the guarantees stay: conditional write, checksum
    assert headers["x-amz-checksum-sha256"]


@pytest.mark.parametrize("kind", ["bytes", "streamed"])
def test_a_big_put_still_asks_before_sending_its_body(tmp_path: Path, monkeypatch, kind: str) -> None:
    size = EXPECT_MIN_BYTES
    body = b"x" * size if kind == "bytes" else _streamed(tmp_path, size)
    headers = _sent_headers(tmp_path, monkeypatch, body)
    assert headers.get("Expect") == b"100-continue"


# ---- timestamps in answers -------------------------------------------------------------
class Raw:
    """A canned HTTP body, as urllib3's response hands it to botocore."""

    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any):
        yield self.body


LISTING = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b-b-b</Name>
<Prefix>cam/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>
<Contents><Key>cam/a.mp4</Key><LastModified>2026-11-20T08:01:02.000Z</LastModified>
<ETag>"abc"</ETag><Size>10</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>cam/b.mp4</Key><LastModified>2026-11-20T08:01:03.500Z</LastModified>
<ETag>"def"</ETag><Size>20</Size><StorageClass>STANDARD</StorageClass></Contents>
</ListBucketResult>"""


def _answered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, op: str, status: int,
              headers: dict[str, str], body: bytes, **kwargs: Any) -> dict[str, Any]:
    """Call `op` on a real client whose HTTP answer is canned: botocore parses it as usual."""
    from botocore.awsrequest import AWSResponse

    client = _client(tmp_path, monkeypatch)
    client.meta.events.register(
        f"before-send.s3.{op}",
        lambda request, **_: AWSResponse(request.url, status, headers, Raw(body)))
    method = {"ListObjectsV2": client.list_objects_v2, "HeadObject": client.head_object}[op]
    return method(Bucket="b-b-b", **kwargs)


def test_listing_timestamps_are_read_without_dateutil(tmp_path: Path, monkeypatch) -> None:
    import dateutil.parser

    def refuse(*a: Any, **k: Any) -> None:
        raise AssertionError("dateutil parsed a listing timestamp")

    monkeypatch.setattr(dateutil.parser, "parse", refuse)
    page = _answered(tmp_path, monkeypatch, "ListObjectsV2", 200, {}, LISTING, Prefix="cam/")
    got = [(o["Key"], o["Size"], o["LastModified"]) for o in page["Contents"]]
    utc = dt.timezone.utc
    assert got == [("cam/a.mp4", 10, dt.datetime(2026, 11, 20, 8, 1, 2, tzinfo=utc)),
                   ("cam/b.mp4", 20, dt.datetime(2026, 11, 20, 8, 1, 3, 500000, tzinfo=utc))]


def test_http_dates_and_lock_dates_still_parse(tmp_path: Path, monkeypatch) -> None:
    head = _answered(tmp_path, monkeypatch, "HeadObject", 200, {
        "Last-Modified": "Fri, 20 Nov 2026 08:01:02 GMT", "Content-Length": "10", "ETag": '"abc"',
        "x-amz-object-lock-retain-until-date": "2026-12-20T08:01:02.000Z"}, b"", Key="cam/a.mp4")
    assert head["LastModified"] == dt.datetime(2026, 11, 20, 8, 1, 2, tzinfo=dt.timezone.utc)
    assert head["ObjectLockRetainUntilDate"] == dt.datetime(2026, 12, 20, 8, 1, 2, tzinfo=dt.timezone.utc)
    assert fast_timestamp("2026-12-20T08:01:02+01:00").utcoffset() == dt.timedelta(hours=1)
