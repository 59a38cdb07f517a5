"""The S3 client camup-sync builds: what each small PUT carries and skips. No server: a
before-send hook captures the request and stops it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.config import from_mapping
from reconciler.remote import EXPECT_MIN_BYTES, make_client
from reconciler.throttle import RangeBody, SharedHandle


class Captured(Exception):
    pass


def _sent_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: Any) -> dict[str, Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "camup-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "camup-test-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    cfg = from_mapping({"watch_dir": str(tmp_path), "bucket": "b-b-b", "remote": {
        "endpoint_url": "http://127.0.0.1:9", "region": "us-east-1"}}, tmp_path, env={})
    client = make_client(cfg)
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
