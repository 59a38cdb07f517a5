"""Bucket's single PUT: the checksum travels as the SDKs send it, and a store that refuses
the algorithm header still gets the checksum (the fallback is remembered). A small body
goes to the native client as read and hashed; a big one, or one bigger than a burst of the
bandwidth cap, is streamed through botocore."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path
from typing import Any, Callable, Optional

import botocore.exceptions as bx
import pytest

from reconciler.config import load
from reconciler.events import TransferEvents
from reconciler.native import LazyNative, NativeRefused
from reconciler.remote import Bucket, BucketSettings
from reconciler.s3errors import ErrorKind, RemoteError, classify_error
from reconciler.settings import SMALL_FILE_BYTES
from reconciler.throttle import BLOCK, MemoryBudget, Throttle

UNSUPPORTED = bx.ClientError(
    {"Error": {"Code": "InvalidArgument",
               "Message": "Unsupported header 'x-amz-sdk-checksum-algorithm' received for this API call."},
     "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutObject")


class Client:
    def __init__(self, refuse_algorithm: bool) -> None:
        self.refuse_algorithm = refuse_algorithm
        self.puts: list[dict[str, Any]] = []

    def put_object(self, **kw: Any) -> dict[str, Any]:
        self.puts.append({k: v for k, v in kw.items() if k != "Body"})
        if self.refuse_algorithm and "ChecksumAlgorithm" in kw:
            raise UNSUPPORTED
        return {}


def bucket(tmp_path: Path, client: Client) -> Bucket:
    (tmp_path / "cams").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text("watch_dir: cams\nbucket: my-bucket\n")
    return Bucket.from_config(client, load(path, env={}))


def put(b: Bucket, data: bytes) -> None:
    b.upload(io.BytesIO(data), "k", len(data), True)


def test_the_checksum_goes_with_its_algorithm(tmp_path: Path) -> None:
    client = Client(refuse_algorithm=False)
    put(bucket(tmp_path, client), b"clip")
    value = base64.b64encode(hashlib.sha256(b"clip").digest()).decode()
    assert client.puts == [{"Bucket": "my-bucket", "Key": "k", "ChecksumSHA256": value,
                            "ChecksumAlgorithm": "SHA256"}]


def test_a_store_refusing_the_algorithm_header_gets_the_checksum_alone(tmp_path: Path) -> None:
    client = Client(refuse_algorithm=True)
    b = bucket(tmp_path, client)
    put(b, b"clip")
    put(b, b"clip2")
    assert ["ChecksumAlgorithm" in p for p in client.puts] == [True, False, False]
    assert all("ChecksumSHA256" in p for p in client.puts)


class FakeNative:
    """Stands in for native.NativePut: what a small PUT hands the native client. `answer`
    may raise instead of storing (it is given the `waiting` callback)."""

    def __init__(self, refuse_algorithm: bool = False,
                 answer: Optional[Callable[[Callable[[], None]], None]] = None) -> None:
        self.refuse_algorithm = refuse_algorithm
        self.answer = answer
        self.puts: list[tuple[str, bytes, dict[str, Any]]] = []

    def put(self, key: str, body: bytes, params: dict[str, Any],
            waiting: Callable[[], None] = lambda: None) -> dict[str, Any]:
        self.puts.append((key, body, dict(params)))
        if self.refuse_algorithm and "ChecksumAlgorithm" in params:
            raise classify_error(UNSUPPORTED)
        if self.answer is not None:
            self.answer(waiting)
        return {"ETag": '"e"', "VersionId": "v1"}


def native_bucket(tmp_path: Path, client: Client, fake: FakeNative, extra: str = "") -> Bucket:
    (tmp_path / "cams").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text("watch_dir: cams\nbucket: my-bucket\n" + extra)
    cfg = load(path, env={})
    return Bucket(client, BucketSettings.of(cfg), native=LazyNative(lambda: fake))  # type: ignore[arg-type]


def test_a_small_body_goes_to_the_native_client_with_the_checksum_of_exactly_those_bytes(
        tmp_path: Path) -> None:
    client, fake = Client(refuse_algorithm=False), FakeNative()
    data = os.urandom(70_000)
    stored = native_bucket(tmp_path, client, fake).upload(io.BytesIO(data), "cam/a.jpg", len(data), False)
    value = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert fake.puts == [("cam/a.jpg", data, {"ChecksumSHA256": value, "ChecksumAlgorithm": "SHA256",
                                               "IfNoneMatch": "*"})]
    assert client.puts == [] and stored.checksum == value and stored.version_id == "v1"


def test_a_live_segment_sends_the_bytes_from_the_handles_position(tmp_path: Path) -> None:
    fake = FakeNative()
    data = os.urandom(9_000)
    fh = io.BytesIO(data)
    fh.seek(4_000)
    native_bucket(tmp_path, Client(False), fake).upload(fh, "k", 5_000, True)
    assert fake.puts[0][1] == data[4_000:]


def test_a_body_of_1_mib_or_more_is_streamed_through_botocore(tmp_path: Path) -> None:
    client, fake = Client(refuse_algorithm=False), FakeNative()
    data = os.urandom(SMALL_FILE_BYTES)
    native_bucket(tmp_path, client, fake).upload(io.BytesIO(data), "k", len(data), True)
    assert fake.puts == [] and len(client.puts) == 1


@pytest.mark.parametrize("size, native", [(60_000, True), (70_000, False)])
def test_under_a_cap_only_a_body_within_one_burst_goes_native(tmp_path: Path, size: int,
                                                               native: bool) -> None:
    client, fake = Client(refuse_algorithm=False), FakeNative()
    b = native_bucket(tmp_path, client, fake, "transfer:\n  max_bandwidth: 64KB/s\n")
    b.throttle = Throttle(64_000, sleep=lambda s: None)
    b.upload(io.BytesIO(os.urandom(size)), "k", size, True)
    assert (len(fake.puts), len(client.puts)) == ((1, 0) if native else (0, 1))


def test_the_bytes_sent_natively_are_charged_to_the_bandwidth_cap_and_reported(tmp_path: Path) -> None:
    charged: list[int] = []
    heard: list[int] = []

    class Heard(TransferEvents):
        def sent(self, n: int) -> None:
            heard.append(n)

    b = native_bucket(tmp_path, Client(False), FakeNative())
    throttle = Throttle(None)
    throttle.consume = charged.append  # type: ignore[method-assign]
    b.throttle = throttle
    b.upload(io.BytesIO(os.urandom(200_000)), "k", 200_000, True, Heard())
    assert sum(charged) == sum(heard) == 200_000 and max(charged) <= BLOCK


def test_a_store_refusing_the_algorithm_header_natively_gets_the_checksum_alone(tmp_path: Path) -> None:
    fake = FakeNative(refuse_algorithm=True)
    b = native_bucket(tmp_path, Client(False), fake)
    b.upload(io.BytesIO(b"clip"), "k", 4, True)
    b.upload(io.BytesIO(b"clip2"), "k2", 5, True)
    assert ["ChecksumAlgorithm" in p for _, _, p in fake.puts] == [True, False, False]
    assert all("ChecksumSHA256" in p for _, _, p in fake.puts)


def test_without_a_native_client_botocore_sends_the_small_body(tmp_path: Path) -> None:
    client = Client(refuse_algorithm=False)
    b = native_bucket(tmp_path, client, FakeNative())
    b.native = LazyNative(lambda: None)  # awscrt missing, a proxy set, or native_client: off
    put(b, b"clip")
    assert len(client.puts) == 1


class Held(MemoryBudget):
    def __init__(self) -> None:
        super().__init__(64 * 1024 * 1024)
        self.held: list[int] = []

    def hold(self, n: int) -> Any:
        self.held.append(n)
        return super().hold(n)


def test_a_body_sent_from_memory_holds_its_size_of_the_memory_budget(tmp_path: Path) -> None:
    b = native_bucket(tmp_path, Client(False), FakeNative())
    b.memory = held = Held()
    b.upload(io.BytesIO(os.urandom(300_000)), "k", 300_000, True)
    b.native = None
    b.upload(io.BytesIO(os.urandom(300_000)), "k", 300_000, True)  # streamed: one block at a time
    assert held.held == [300_000, BLOCK]


def test_a_digest_mismatch_on_bytes_sent_from_memory_is_retried_not_blamed_on_the_file(
        tmp_path: Path) -> None:
    def mismatch(waiting: Callable[[], None]) -> None:
        raise RemoteError(ErrorKind.THIS_FILE, "S3 refused the request: InvalidDigest", "InvalidDigest")

    b = native_bucket(tmp_path, Client(False), FakeNative(answer=mismatch))
    with pytest.raises(RemoteError) as caught:
        b.upload(io.BytesIO(b"clip"), "k", 4, True)
    assert caught.value.kind is ErrorKind.RETRYABLE


def test_an_answer_botocore_handles_itself_sends_through_botocore_from_then_on(tmp_path: Path) -> None:
    def redirect(waiting: Callable[[], None]) -> None:
        raise NativeRefused("PermanentRedirect: the bucket is in eu-west-1")

    client, fake = Client(False), FakeNative(answer=redirect)
    b = native_bucket(tmp_path, client, fake)
    b.upload(io.BytesIO(b"clip"), "a", 4, True)
    b.upload(io.BytesIO(b"clip2"), "b", 5, True)
    assert [k for k, _, _ in fake.puts] == ["a"]
    assert [p["Key"] for p in client.puts] == ["a", "b"]


def test_a_stop_while_a_native_put_waits_for_its_answer_ends_the_upload(tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    class Stopping(TransferEvents):
        def __init__(self) -> None:
            self.stopping = False

        def sent(self, n: int) -> None:
            if self.stopping:
                raise Stop()

    events = Stopping()

    def slow(waiting: Callable[[], None]) -> None:
        waiting()  # nothing yet
        events.stopping = True
        waiting()

    b = native_bucket(tmp_path, Client(False), FakeNative(answer=slow))
    with pytest.raises(Stop):
        b.upload(io.BytesIO(b"clip"), "k", 4, True, events)


def test_checks_native_probe_says_which_path_small_uploads_take(tmp_path: Path) -> None:
    fake = FakeNative()
    b = native_bucket(tmp_path, Client(False), fake)
    assert b.put_probe_native("p") == "small uploads go through awscrt's native S3 client"
    assert [(k, body) for k, body, _ in fake.puts] == [("p", b"camup-sync check")]
    assert "ContentMD5" in fake.puts[0][2]  # a bucket with a default retention requires one

    def redirect(waiting: Callable[[], None]) -> None:
        raise NativeRefused("PermanentRedirect: elsewhere")

    b = native_bucket(tmp_path, Client(False), FakeNative(answer=redirect))
    assert "small uploads go through botocore" in (b.put_probe_native("p") or "")
    assert b.native is not None and b.native.get() is None  # and they do, from then on
    b.native = LazyNative(lambda: None)
    assert b.put_probe_native("p") is None
