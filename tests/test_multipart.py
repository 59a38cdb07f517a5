"""Multipart uploads against a fake S3 `call`, and the settling of interrupted uploads."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, Optional

import botocore.exceptions as bx
import pytest

from reconciler.checksums import FileChanged, b64, checksum_for
from reconciler.config import load
from reconciler.events import NO_EVENTS, TransferEvents
from reconciler.manifest import Manifest
from reconciler.models import LocalFile, MultipartDecision, MultipartStep
from reconciler.multipart import MultipartSettings, MultipartUpload
from reconciler.passes import _settle_multiparts
from reconciler.remote import Bucket
from reconciler.s3errors import ErrorKind, RemoteError, classify_error
from reconciler.throttle import Throttle

CHUNK = 5 * 1024 * 1024
NOW = 1_700_000_000.0


def s3_error(code: str, status: int, message: str = "", op: str = "Op") -> RemoteError:
    exc = bx.ClientError({"Error": {"Code": code, "Message": message or code},
                          "ResponseMetadata": {"HTTPStatusCode": status}}, op)
    try:
        raise classify_error(exc) from exc
    except RemoteError as err:
        return err


class FakeS3:
    """Answers the multipart calls; `fail` maps an operation to errors to raise, in turn."""

    def __init__(self, fail: Optional[dict[str, list[Any]]] = None):
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail or {}
        self.next_id = 0

    def __call__(self, op: str, **kwargs: Any) -> Any:
        self.calls.append((op, kwargs))
        errors = self.fail.get(op)
        if errors:
            raise errors.pop(0)
        if op == "create_multipart_upload":
            self.next_id += 1
            return {"UploadId": f"new-{self.next_id}"}
        if op == "upload_part":
            return {"ETag": f'"etag-{kwargs["PartNumber"]}"'}
        if op == "list_parts":
            return {"Parts": []}
        return {}

    def ops(self, name: str) -> list[dict[str, Any]]:
        return [kw for op, kw in self.calls if op == name]


class Heard(TransferEvents):
    """Keeps the multipart events an upload tells, in order."""

    def __init__(self, seen: list[tuple[str, bool]]):
        self.seen = seen

    def multipart(self, upload_id: str, started: bool) -> None:
        self.seen.append((upload_id, started))


def upload(s3: FakeS3, overwrite: bool, resume_id: Optional[str] = None,
           conditional: bool = True) -> tuple[MultipartUpload, list[tuple[str, bool]]]:
    size = 2 * CHUNK + 10
    mp = MultipartUpload(s3, "cam/a.mp4", MultipartSettings(CHUNK, 2, None, {}), Throttle(0),
                         overwrite, conditional)
    seen: list[tuple[str, bool]] = []
    mp.run(io.BytesIO(b"x" * size), size, Heard(seen), resume_id)
    return mp, seen


# ---- conditional completes ------------------------------------------------------------------

def test_complete_is_conditional_when_not_overwriting() -> None:
    s3 = FakeS3()
    upload(s3, overwrite=False)
    assert [kw.get("IfNoneMatch") for kw in s3.ops("complete_multipart_upload")] == ["*"]


def test_complete_is_unconditional_when_overwriting() -> None:
    s3 = FakeS3()
    upload(s3, overwrite=True)
    assert [kw.get("IfNoneMatch") for kw in s3.ops("complete_multipart_upload")] == [None]


def test_a_taken_key_at_complete_aborts_the_upload_and_is_exists() -> None:
    s3 = FakeS3({"complete_multipart_upload": [s3_error("PreconditionFailed", 412)]})
    with pytest.raises(RemoteError) as err:
        upload(s3, overwrite=False)
    assert err.value.kind is ErrorKind.EXISTS
    assert [kw["UploadId"] for kw in s3.ops("abort_multipart_upload")] == ["new-1"]


def test_a_taken_key_ends_the_manifest_row() -> None:
    s3 = FakeS3({"complete_multipart_upload": [s3_error("PreconditionFailed", 412)]})
    seen: list[tuple[str, bool]] = []
    mp = MultipartUpload(s3, "cam/a.mp4", MultipartSettings(CHUNK, 2, None, {}), Throttle(0), False)
    with pytest.raises(RemoteError):
        mp.run(io.BytesIO(b"x" * (CHUNK + 1)), CHUNK + 1, Heard(seen), None)
    assert ("new-1", False) in seen and seen[-1] == ("new-1", False)


@pytest.mark.parametrize("error", [
    s3_error("NotImplemented", 501, "A header you provided implies functionality that is not implemented"),
    s3_error("InvalidRequest", 400, "Conditional writes (If-None-Match) are not supported"),
    s3_error("400", 400, "Unsupported header 'If-None-Match' received for this API call."),
], ids=["NotImplemented", "InvalidRequest", "400"])
def test_a_store_rejecting_the_condition_is_asked_again_without_it(error: RemoteError) -> None:
    s3 = FakeS3({"complete_multipart_upload": [error]})
    mp, seen = upload(s3, overwrite=False)
    assert [kw.get("IfNoneMatch") for kw in s3.ops("complete_multipart_upload")] == ["*", None]
    assert mp.conditional is False
    assert seen[-1] == ("new-1", False)
    s3 = FakeS3()
    upload(s3, overwrite=False, conditional=False)  # remembered: not asked with it again
    assert [kw.get("IfNoneMatch") for kw in s3.ops("complete_multipart_upload")] == [None]


def test_other_invalid_requests_at_complete_are_not_retried() -> None:
    s3 = FakeS3({"complete_multipart_upload": [s3_error("InvalidRequest", 400, "bad part order")]})
    with pytest.raises(RemoteError):
        upload(s3, overwrite=False)
    assert len(s3.ops("complete_multipart_upload")) == 1


def test_bucket_remembers_a_store_without_conditional_completes(tmp_path: Path) -> None:
    (tmp_path / "cams").mkdir()
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text("watch_dir: cams\nbucket: my-bucket\nremote:\n  checksum: off\n"
                        "transfer:\n  multipart_threshold_mb: 5\n  multipart_chunksize_mb: 5\n")
    cfg = load(cfg_path, env={})
    rejected = bx.ClientError({"Error": {"Code": "NotImplemented", "Message": "If-None-Match"},
                               "ResponseMetadata": {"HTTPStatusCode": 501}}, "CompleteMultipartUpload")

    class Client:
        def __init__(self) -> None:
            self.completes: list[Optional[str]] = []

        def head_object(self, **kw: Any) -> Any:
            raise bx.ClientError({"Error": {"Code": "404"}, "ResponseMetadata": {"HTTPStatusCode": 404}},
                                 "HeadObject")

        def create_multipart_upload(self, **kw: Any) -> Any:
            return {"UploadId": "u"}

        def upload_part(self, **kw: Any) -> Any:
            return {"ETag": '"e"'}

        def complete_multipart_upload(self, **kw: Any) -> Any:
            self.completes.append(kw.get("IfNoneMatch"))
            if kw.get("IfNoneMatch"):
                raise rejected
            return {}

    client = Client()
    bucket = Bucket.from_config(client, cfg)
    size = CHUNK + 1
    for _ in range(2):
        bucket.upload(io.BytesIO(b"y" * size), "k", size, False)
    assert client.completes == ["*", None, None]


# ---- resuming ---------------------------------------------------------------------------------

def test_a_vanished_resume_id_ends_its_row() -> None:
    s3 = FakeS3({"list_parts": [s3_error("NoSuchUpload", 404)]})
    _, seen = upload(s3, overwrite=True, resume_id="stale")
    assert ("stale", False) in seen
    assert len(s3.ops("create_multipart_upload")) == 1


@pytest.mark.parametrize("error", [s3_error("AccessDenied", 403), s3_error("ServiceUnavailable", 503)],
                         ids=["denied", "503"])
def test_an_unlistable_resume_id_starts_a_new_upload(error: RemoteError) -> None:
    s3 = FakeS3({"list_parts": [error]})
    _, seen = upload(s3, overwrite=True, resume_id="stale")
    assert ("stale", False) in seen
    assert [kw["UploadId"] for kw in s3.ops("abort_multipart_upload")] == ["stale"]
    assert [kw["UploadId"] for kw in s3.ops("complete_multipart_upload")] == ["new-1"]


# ---- settling interrupted uploads at the start of a pass ------------------------------------

class FakeBucket:
    def __init__(self, error: Optional[RemoteError] = None):
        self.error = error
        self.aborted: list[str] = []

    def abort(self, key: str, upload_id: str) -> None:
        self.aborted.append(upload_id)
        if self.error is not None:
            raise self.error

    def abort_unknown(self, key: str, known: set[str]) -> int:
        if self.error is not None:
            raise self.error
        return 0


FILE = LocalFile("/w", "cam/a.mp4", 3 * CHUNK, 7 * 10**18)


@pytest.fixture
def m(tmp_path: Path):
    manifest = Manifest.open(tmp_path / "m.sqlite3", "t")
    yield manifest
    manifest.close()


def settle(m: Manifest, bucket: FakeBucket, step: MultipartStep = MultipartStep.ABORT,
           write_only: bool = False) -> None:
    """Carry out one planner decision for every leftover the manifest holds."""
    steps = tuple(MultipartDecision(step, mp) for mp in m.open_multiparts())
    _settle_multiparts(steps, m, bucket, write_only)  # type: ignore[arg-type]


def test_write_only_keys_that_may_not_abort_drop_the_row(m: Manifest) -> None:
    """The bucket's AbortIncompleteMultipartUpload rule cleans up; the row would only nag."""
    m.multipart_started("up-1", "cam/a.mp4", NOW, FILE, CHUNK)
    bucket = FakeBucket(s3_error("AccessDenied", 403))
    settle(m, bucket, write_only=True)
    assert bucket.aborted == ["up-1"]
    assert m.open_multiparts() == []


@pytest.mark.parametrize("error", [s3_error("AccessDenied", 403), s3_error("ServiceUnavailable", 503)],
                         ids=["denied", "503"])
def test_a_failing_abort_keeps_the_row_and_does_not_end_the_pass(m: Manifest, error: RemoteError) -> None:
    m.multipart_started("up-1", "cam/a.mp4", NOW, FILE, CHUNK)
    bucket = FakeBucket(error)
    settle(m, bucket)
    assert bucket.aborted == ["up-1"]
    assert [p.upload_id for p in m.open_multiparts()] == ["up-1"]


def test_an_abort_of_a_vanished_upload_drops_the_row(m: Manifest, tmp_path: Path) -> None:
    m.multipart_started("up-1", "cam/a.mp4", NOW, FILE, CHUNK)
    (tmp_path / "cams").mkdir()
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text("watch_dir: cams\nbucket: my-bucket\n")

    class Client:
        def abort_multipart_upload(self, **kw: Any) -> Any:
            raise bx.ClientError({"Error": {"Code": "NoSuchUpload"},
                                  "ResponseMetadata": {"HTTPStatusCode": 404}}, "AbortMultipartUpload")

    bucket = Bucket.from_config(Client(), load(cfg_path, env={}))
    settle(m, bucket)  # type: ignore[arg-type]
    assert m.open_multiparts() == []


def test_a_retryable_failure_around_an_unrecorded_create_keeps_its_row(m: Manifest) -> None:
    m.multipart_started("creating:cam/a.mp4", "cam/a.mp4", NOW)
    settle(m, FakeBucket(s3_error("ServiceUnavailable", 503)), MultipartStep.FIND_UNKNOWN)
    assert [p.upload_id for p in m.open_multiparts()] == ["creating:cam/a.mp4"]


def test_a_denied_search_for_an_unrecorded_create_ends_its_row(m: Manifest) -> None:
    m.multipart_started("creating:cam/a.mp4", "cam/a.mp4", NOW)
    settle(m, FakeBucket(s3_error("AccessDenied", 403)), MultipartStep.FIND_UNKNOWN)
    assert m.open_multiparts() == []


@pytest.mark.parametrize("step", [MultipartStep.KEEP, MultipartStep.RESUME])
def test_kept_and_resumed_uploads_are_left_alone(m: Manifest, step: MultipartStep) -> None:
    m.multipart_started("up-1", "cam/a.mp4", NOW, FILE, CHUNK)
    bucket = FakeBucket()
    settle(m, bucket, step)
    assert bucket.aborted == []
    assert [p.upload_id for p in m.open_multiparts()] == ["up-1"]


# ---- a create whose answer may hide another upload --------------------------------------------

class RetriedCreate(FakeS3):
    def __call__(self, op: str, **kwargs: Any) -> Any:
        answer = super().__call__(op, **kwargs)
        if op == "create_multipart_upload":
            answer["ResponseMetadata"] = {"RetryAttempts": 1}  # an earlier try may have created one
        return answer


def test_a_clean_create_ends_its_intent_row() -> None:
    _, seen = upload(FakeS3(), overwrite=True)
    assert ("creating:cam/a.mp4", True) in seen and ("creating:cam/a.mp4", False) in seen


def test_a_retried_or_failed_create_keeps_its_intent_row_for_the_next_pass() -> None:
    _, seen = upload(RetriedCreate(), overwrite=True)
    assert ("creating:cam/a.mp4", True) in seen and ("creating:cam/a.mp4", False) not in seen

    failing = FakeS3(fail={"create_multipart_upload": [s3_error("InternalError", 500)]})
    seen_failed: list[tuple[str, bool]] = []
    mp = MultipartUpload(failing, "cam/a.mp4", MultipartSettings(CHUNK, 2, None, {}), Throttle(0),
                         True, True)
    with pytest.raises(RemoteError):
        mp.run(io.BytesIO(b"x" * (2 * CHUNK)), 2 * CHUNK, Heard(seen_failed), None)
    assert seen_failed == [("creating:cam/a.mp4", True)]


# ---- streamed part bodies ----------------------------------------------------------------------

class ReadingS3(FakeS3):
    """Reads each part's body as the HTTP layer would, and keeps what it got."""

    def __init__(self, fail: Optional[dict[str, list[Any]]] = None):
        super().__init__(fail)
        self.bodies: dict[int, bytes] = {}

    def __call__(self, op: str, **kwargs: Any) -> Any:
        if op == "upload_part":
            body = kwargs["Body"]
            assert not isinstance(body, (bytes, bytearray)), "a part is streamed, not held whole"
            self.bodies[kwargs["PartNumber"]] = b"".join(iter(lambda: body.read(16384), b""))
        return super().__call__(op, **kwargs)


def test_each_part_streams_its_own_range_with_the_checksum_of_a_first_read() -> None:
    data = bytes(range(256)) * (2 * CHUNK // 256) + b"tail"
    s3 = ReadingS3()
    mp = MultipartUpload(s3, "cam/a.mp4", MultipartSettings(CHUNK, 2, checksum_for("sha256"), {}),
                         Throttle(0))
    mp.run(io.BytesIO(data), len(data), NO_EVENTS, None)
    assert b"".join(s3.bodies[n] for n in sorted(s3.bodies)) == data
    for kw in s3.ops("upload_part"):
        n = kw["PartNumber"]
        assert kw["ChecksumSHA256"] == b64(hashlib.sha256(data[(n - 1) * CHUNK:n * CHUNK]).digest())


def test_without_a_flexible_checksum_each_part_carries_content_md5() -> None:
    data = b"z" * (CHUNK + 10)
    s3 = ReadingS3()
    mp = MultipartUpload(s3, "cam/a.mp4", MultipartSettings(CHUNK, 2, None, {}), Throttle(0))
    mp.run(io.BytesIO(data), len(data), NO_EVENTS, None)
    md5s = [kw["ContentMD5"] for kw in s3.ops("upload_part")]
    assert sorted(md5s) == sorted([b64(hashlib.md5(data[:CHUNK]).digest()),
                                   b64(hashlib.md5(data[CHUNK:]).digest())])


def test_a_part_the_store_finds_altered_is_a_changed_file_and_the_upload_is_aborted() -> None:
    """The bytes changed between the hash pass and the send: the store's BadDigest."""
    s3 = FakeS3({"upload_part": [s3_error("BadDigest", 400)]})
    seen: list[tuple[str, bool]] = []
    mp = MultipartUpload(s3, "cam/a.mp4", MultipartSettings(CHUNK, 1, None, {}), Throttle(0))
    with pytest.raises(FileChanged):
        mp.run(io.BytesIO(b"x" * (CHUNK + 1)), CHUNK + 1, Heard(seen), None)
    assert [kw["UploadId"] for kw in s3.ops("abort_multipart_upload")] == ["new-1"]
    assert seen[-1] == ("new-1", False)
    assert not s3.ops("complete_multipart_upload")


@pytest.mark.parametrize("size", [1000, CHUNK + 1000], ids=["single PUT", "multipart"])
def test_a_range_upload_sends_the_bytes_from_the_handles_position(tmp_path: Path, size: int) -> None:
    """Live segments seek to their start and upload a length: those bytes, not the file's head."""
    (tmp_path / "cams").mkdir()
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text("watch_dir: cams\nbucket: my-bucket\n"
                        "transfer:\n  multipart_threshold_mb: 5\n  multipart_chunksize_mb: 5\n")
    cfg = load(cfg_path, env={})
    sent: dict[int, bytes] = {}

    class Client:
        def put_object(self, **kw: Any) -> Any:
            sent[0] = kw["Body"].read()
            assert kw["ChecksumSHA256"] == b64(hashlib.sha256(sent[0]).digest())
            return {}

        def create_multipart_upload(self, **kw: Any) -> Any:
            return {"UploadId": "u"}

        def upload_part(self, **kw: Any) -> Any:
            sent[kw["PartNumber"]] = kw["Body"].read()
            return {"ETag": '"e"'}

        def complete_multipart_upload(self, **kw: Any) -> Any:
            return {}

    data = bytes(range(256)) * ((size + 5000) // 256 + 1)
    fh = io.BytesIO(data)
    fh.seek(5000)
    Bucket.from_config(Client(), cfg).upload_range(fh, "k", 5000, size, NO_EVENTS)
    assert b"".join(sent[n] for n in sorted(sent)) == data[5000:5000 + size]
