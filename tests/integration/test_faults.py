"""Lose nothing under faults: real sockets through a fault-injecting proxy, kill -9, bad manifests.

Every test ends by comparing the bucket with the folder byte for byte and checking that
camup-sync never printed a traceback.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import random
import signal
import sqlite3
import time
from collections.abc import Sequence

import pytest

from reconciler.keys import keep_both_key

from .faultproxy import FaultProxy
from .harness import Camp, Watcher, assert_clean_stderr

MULTIPART = "transfer:\n  multipart_threshold_mb: 5\n  multipart_chunksize_mb: 5\n"
MiB = 1024 * 1024


def configure(camp: Camp, remote: Sequence[str] = (), extra: str = "") -> None:
    """The harness config plus lines under `remote:` (one YAML mapping, not two)."""
    camp.write_config(extra)
    lines = "".join(f"  {line}\n" for line in remote)
    text = camp.config_path.read_text(encoding="utf-8").replace("remote:\n", "remote:\n" + lines, 1)
    camp.config_path.write_text(text, encoding="utf-8")


def status(camp: Camp) -> dict:
    result = camp.run("status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_bucket_matches_folder(camp: Camp) -> None:
    assert camp.objects() == camp.expected()


def open_multiparts(camp: Camp) -> list:
    return camp.s3.list_multipart_uploads(Bucket=camp.bucket).get("Uploads", [])


def manifest(camp: Camp) -> sqlite3.Connection:
    return sqlite3.connect(camp.state_dir / "manifest.sqlite3")


# ---- transient server errors ---------------------------------------------------------------

@pytest.mark.parametrize(("status_code", "code"), [(503, "SlowDown"), (500, "InternalError")])
def test_transient_errors_on_the_first_requests_are_retried(pcamp: Camp, proxy: FaultProxy,
                                                            status_code: int, code: str) -> None:
    camp = pcamp
    for i in range(4):
        camp.file(f"cam/{i}.jpg", 20_000 + i)
    camp.file("cam/clip.mp4", 300_000)
    proxy.fail_next(4, status_code, code)  # more than botocore's 3 tries of the listing

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert proxy.injected[code] == 4
    assert "Listing s3://" in result.stderr  # the pass retried the listing itself
    assert_bucket_matches_folder(camp)


def test_uploads_failing_past_botocores_retries_are_retried_by_the_pass(pcamp: Camp,
                                                                       proxy: FaultProxy) -> None:
    camp = pcamp
    camp.file("cam/a.jpg", 20_000)
    camp.file("cam/b.mp4", 50_000)
    proxy.fail_next(4, 503, "SlowDown", methods={"PUT"}, path_contains="a.jpg")  # > botocore's 3 tries

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert proxy.injected["SlowDown"] == 4
    assert "cam/a.jpg -> cams/cam/a.jpg attempt 2" in result.stderr
    assert_bucket_matches_folder(camp)


# ---- connections dropped mid-body ----------------------------------------------------------

def test_connection_reset_mid_body_of_a_single_put_is_retried(pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    camp.file("cam/clip.mp4", 3 * MiB + 17)
    camp.file("cam/alert.jpg", 30_000)
    proxy.reset_mid_body(after=1 * MiB, count=4, path_contains="clip.mp4", methods={"PUT"})

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert proxy.injected["reset"] == 4  # past botocore's own retries: the pass retried too
    assert "clip.mp4 -> cams/cam/clip.mp4 attempt 2" in result.stderr
    assert_bucket_matches_folder(camp)


def test_connection_reset_mid_body_of_a_multipart_part_is_retried(pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    configure(camp, extra=MULTIPART)
    camp.file("big/long.mp4", 12 * MiB + 5)
    proxy.reset_mid_body(after=2 * MiB, count=2, path_contains="partNumber=2")

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert proxy.injected["reset"] == 2
    assert_bucket_matches_folder(camp)
    head = camp.s3.head_object(Bucket=camp.bucket, Key="cams/big/long.mp4")
    assert head["ETag"].strip('"').endswith("-3")
    assert open_multiparts(camp) == []


def test_a_slow_server_only_slows_the_pass(pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    camp.file("cam/a.jpg", 10_000)
    proxy.delay(0.5, count=2)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert proxy.injected["delay"] == 2
    assert_bucket_matches_folder(camp)


# ---- one poison key ------------------------------------------------------------------------

def test_access_denied_on_one_key_fails_that_file_only_and_it_is_retried_later(
        pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    for i in range(3):
        camp.file(f"cam/{i}.jpg", 10_000 + i)
    camp.file("cam/denied.jpg", 12_345)
    proxy.error_for("denied.jpg", 403, "AccessDenied")

    result = camp.run("--once")

    assert result.returncode == 1, result.stderr
    assert_clean_stderr(result)
    assert "Failed to upload denied.jpg" in result.stderr or "denied.jpg" in result.stderr
    assert "access denied" in result.stderr
    assert "s3:PutObject" in result.stderr
    expected = camp.expected()
    assert camp.objects() == {k: v for k, v in expected.items() if "denied" not in k}
    info = status(camp)
    assert info["files"]["uploaded"] == 3
    assert [f["path"] for f in info["failing"]] == ["cam/denied.jpg"]
    failing = info["failing"][0]
    assert "access denied" in failing["last_error"]
    assert failing["next_retry_at"] > time.time() + 30  # backing off across passes

    proxy.clear()
    denied_puts = sum(1 for m, t in proxy.log if m == "PUT" and "denied" in t)
    backing_off = camp.run("--once")
    assert backing_off.returncode == 0, backing_off.stderr  # backing off is not a new failure
    assert sum(1 for m, t in proxy.log if m == "PUT" and "denied" in t) == denied_puts
    assert "cams/cam/denied.jpg" not in camp.objects()

    with manifest(camp) as db:  # let the backoff pass instead of waiting a minute
        db.execute("UPDATE files SET next_attempt_at = ? WHERE state = 'failed'", (time.time() - 1,))
    db.close()
    later = camp.run("--once")

    assert later.returncode == 0, later.stderr
    assert_clean_stderr(later)
    assert "Successfully uploaded cam/denied.jpg" in later.stderr
    assert_bucket_matches_folder(camp)
    assert status(camp)["failing"] == []


# ---- the bucket is unusable ----------------------------------------------------------------

FATAL_ANSWERS = [
    (403, "RequestTimeTooSkewed", "clock"),
    (404, "NoSuchBucket", "does not exist"),
]


@pytest.mark.parametrize(("status_code", "code", "sentence"), FATAL_ANSWERS)
def test_bucket_level_errors_exit_4_with_a_sentence_and_record_nothing(
        pcamp: Camp, proxy: FaultProxy, status_code: int, code: str, sentence: str) -> None:
    camp = pcamp
    camp.file("cam/a.jpg", 10_000)
    proxy.error_all(status_code, code)

    listing = camp.run("--once", timeout=60)  # a fresh manifest: the listing meets the error

    assert listing.returncode == 4, listing.stderr
    assert sentence in listing.stderr
    assert_clean_stderr(listing)
    assert status(camp)["files"]["uploaded"] == 0

    proxy.clear()
    assert camp.run("--once").returncode == 0
    camp.file("cam/b.jpg", 20_000)
    proxy.error_all(status_code, code)

    upload = camp.run("--once", timeout=60)  # the manifest knows the bucket: the PUT meets it

    assert upload.returncode == 4, upload.stderr
    assert sentence in upload.stderr
    assert_clean_stderr(upload)
    assert status(camp)["files"]["uploaded"] == 1  # a.jpg only: b.jpg is not recorded
    assert set(camp.objects()) == {"cams/cam/a.jpg"}

    proxy.clear()
    assert camp.run("--once").returncode == 0
    assert_bucket_matches_folder(camp)


def test_endpoint_refusing_connections_exits_4_in_bounded_time_then_recovers(
        pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    camp.file("cam/a.jpg", 10_000)
    proxy.refuse()
    started = time.monotonic()

    down = camp.run("--once", timeout=90)

    assert down.returncode == 4, down.stderr
    assert "cannot connect" in down.stderr
    assert time.monotonic() - started < 60
    assert_clean_stderr(down)

    proxy.accept_again()
    assert camp.run("--once").returncode == 0
    camp.file("cam/b.jpg", 20_000)
    proxy.refuse()
    started = time.monotonic()

    down = camp.run("--once", timeout=90)  # this time the upload meets the refusal

    assert down.returncode == 4, down.stderr
    assert "cannot connect" in down.stderr
    assert time.monotonic() - started < 60
    assert_clean_stderr(down)
    assert status(camp)["files"]["uploaded"] == 1

    proxy.accept_again()
    again = camp.run("--once")

    assert again.returncode == 0, again.stderr
    assert_clean_stderr(again)
    assert_bucket_matches_folder(camp)


# ---- kill -9 at any instant ----------------------------------------------------------------

# The longest test of the suite (~1 min): on SeaweedFS only, the real object store, to keep the
# whole suite within 10 minutes on a 2-core machine. moto runs every other kill/resume test.
@pytest.mark.slow
@pytest.mark.parametrize("store", ["seaweedfs"], indirect=True)
def test_kill_9_at_random_instants_loses_nothing_and_leaves_no_multipart_behind(camp: Camp) -> None:
    rng = random.Random(20261124)
    configure(camp, extra=MULTIPART + '  max_bandwidth: "10MB/s"\n')  # passes last ~1-3 s
    for i, size in enumerate((11 * MiB + 3, 7 * MiB, 13 * MiB + 1)):
        camp.file(f"big/clip{i}.mp4", size)
    for i in range(8):
        camp.file(f"alerts/{i:02}.jpg", rng.randrange(1_000, 300_000))
    kills = killed_mid_upload = 0
    for round_ in range(20):  # each round brings new work: a multipart clip and an alert
        camp.file(f"big/new{round_:02}.mp4", rng.randrange(5 * MiB, 10 * MiB))
        camp.file(f"alerts/new{round_:02}.jpg", rng.randrange(1_000, 300_000))
        proc = camp.start("--once")
        watch = Watcher(proc)
        if round_ % 2:  # any instant from the start: start-up, scan, manifest writes
            time.sleep(rng.uniform(0.3, 1.8))
        else:  # an instant inside the uploads, however slow the start on a loaded machine
            with contextlib.suppress(AssertionError):  # the pass may end first: no kill then
                watch.wait_for("Uploading", timeout=30)
            time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        stderr = watch.text()
        assert "Traceback" not in stderr, stderr
        if proc.returncode == -signal.SIGKILL:
            kills += 1
            killed_mid_upload += "Uploading" in stderr

    final = camp.run("--once")

    assert final.returncode == 0, final.stderr
    assert_clean_stderr(final)
    assert kills >= 15 and killed_mid_upload >= 8, (kills, killed_mid_upload)  # they did land mid-upload
    assert_bucket_matches_folder(camp)  # every file, byte for byte, and no stray key
    assert open_multiparts(camp) == []
    idle = camp.run("--once")
    assert idle.returncode == 0, idle.stderr
    assert "Uploading" not in idle.stderr  # the manifest holds no wrong record
    assert status(camp)["files"]["uploaded"] == len(camp.expected())


def test_kill_between_creating_a_multipart_upload_and_recording_it_leaves_none_behind(
        pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    configure(camp, extra=MULTIPART)
    camp.file("big/a.mp4", 6 * MiB + 1)
    proxy.hold_response(60, methods={"POST"}, path_contains="?uploads")  # created, never heard of
    proc = camp.start("--once")
    deadline = time.monotonic() + 30
    while not open_multiparts(camp) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, stderr
    assert open_multiparts(camp), stderr  # the store created it; camup-sync never heard back
    proxy.clear()

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert "Aborted an interrupted multipart upload of cams/big/a.mp4" in result.stderr
    assert open_multiparts(camp) == []
    assert_bucket_matches_folder(camp)


# ---- a manifest that cannot be trusted -----------------------------------------------------

def _corrupt_garbage(path) -> None:
    path.write_bytes(b"\x00garbage, not SQLite\xff" * 200)


def _corrupt_future_version(path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS future (x)")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()


@pytest.mark.parametrize("corrupt", [_corrupt_garbage, _corrupt_future_version],
                         ids=["garbage", "user_version_99"])
def test_corrupt_manifest_is_moved_aside_and_rebuilt_without_reuploading(camp: Camp, corrupt) -> None:
    for i in range(4):
        camp.file(f"cam/{i}.jpg", 5_000 + i)
    assert camp.run("--once").returncode == 0
    path = camp.state_dir / "manifest.sqlite3"
    for suffix in ("-wal", "-shm"):
        (camp.state_dir / f"manifest.sqlite3{suffix}").unlink(missing_ok=True)
    corrupt(path)
    before = {k: camp.s3.head_object(Bucket=camp.bucket, Key=k)["LastModified"] for k in camp.objects()}

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert "moved aside" in result.stderr
    assert "Uploading" not in result.stderr
    assert "adopted 4" in result.stderr
    assert list(camp.state_dir.glob("manifest.sqlite3.corrupt-*"))
    assert {k: camp.s3.head_object(Bucket=camp.bucket, Key=k)["LastModified"] for k in before} == before
    assert_bucket_matches_folder(camp)
    assert status(camp)["files"]["uploaded"] == 4


# ---- integrity -----------------------------------------------------------------------------

def test_checksum_off_works_end_to_end(camp: Camp) -> None:
    configure(camp, remote=["checksum: off"], extra=MULTIPART)
    camp.file("cam/a.jpg", 40_000)
    camp.file("cam/big.mp4", 6 * MiB + 1)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert_bucket_matches_folder(camp)
    assert "Uploading" not in camp.run("--once").stderr


def test_checksum_on_stores_the_sha256_with_the_object(camp: Camp) -> None:
    path = camp.file("cam/a.jpg", 40_000)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_bucket_matches_folder(camp)
    head = camp.s3.head_object(Bucket=camp.bucket, Key="cams/cam/a.jpg", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


# ---- a foreign object already at the key ---------------------------------------------------

FOREIGN = b"someone else's object" * 10


def _alt_key(camp: Camp, rel: str) -> str:
    st = (camp.watch / rel).stat()
    return keep_both_key(camp.prefix + rel, st.st_size, st.st_mtime_ns)


@pytest.mark.parametrize("manifest_exists", [False, True], ids=["listed", "conditional_put"])
@pytest.mark.parametrize("multipart", [False, True], ids=["put", "multipart"])
def test_keep_both_uploads_under_a_distinct_key_and_leaves_the_foreign_object(
        camp: Camp, manifest_exists: bool, multipart: bool) -> None:
    configure(camp, extra=MULTIPART)
    if manifest_exists:  # a manifest, and its listing is not due: the conditional write decides
        camp.file("cam/seed.jpg", 1_000)
        assert camp.run("--once").returncode == 0
    key = "cams/cam/a.mp4"
    camp.s3.put_object(Bucket=camp.bucket, Key=key, Body=FOREIGN)
    path = camp.file("cam/a.mp4", 6 * MiB + 3 if multipart else 5_000)
    alt = _alt_key(camp, "cam/a.mp4")

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert ("Listed" in result.stderr) is not manifest_exists
    objects = camp.objects()
    assert objects.pop(key) == FOREIGN
    assert objects.pop(alt) == path.read_bytes()
    assert objects == {k: v for k, v in camp.expected().items() if k != key}
    again = camp.run("--once")
    assert again.returncode == 0 and "Uploading" not in again.stderr


def _foreign_object_at_a(camp: Camp, on_conflict: str, manifest_exists: bool) -> None:
    """cams/cam/a.mp4 holds someone else's bytes; the local cam/a.mp4 differs. With a manifest
    already there no listing is due, so the conditional PUT (412) path decides."""
    configure(camp, remote=[f"on_conflict: {on_conflict}"])
    if manifest_exists:
        camp.file("cam/seed.jpg", 1_000)
        assert camp.run("--once").returncode == 0
    camp.s3.put_object(Bucket=camp.bucket, Key="cams/cam/a.mp4", Body=FOREIGN)
    camp.file("cam/a.mp4", 5_000)


@pytest.mark.parametrize("manifest_exists", [False, True], ids=["listed", "conditional_put"])
def test_overwrite_replaces_the_foreign_object(camp: Camp, manifest_exists: bool) -> None:
    _foreign_object_at_a(camp, "overwrite", manifest_exists)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert_bucket_matches_folder(camp)


@pytest.mark.parametrize("manifest_exists", [False, True], ids=["listed", "conditional_put"])
def test_skip_leaves_the_foreign_object_and_exits_0(camp: Camp, manifest_exists: bool) -> None:
    _foreign_object_at_a(camp, "skip", manifest_exists)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    objects = camp.objects()
    assert objects.pop("cams/cam/a.mp4") == FOREIGN
    assert objects == {k: v for k, v in camp.expected().items() if k != "cams/cam/a.mp4"}
    if manifest_exists:  # refused once: remembered with a back-off, not resent every pass
        again = camp.run("--once")
        assert again.returncode == 0 and "Uploading" not in again.stderr, again.stderr


def test_an_object_appearing_before_a_multipart_complete_is_kept(pcamp: Camp, proxy: FaultProxy) -> None:
    """HEAD found the key free; another writer puts an object there before our
    CompleteMultipartUpload: the conditional complete (412) keeps theirs, ours goes under the
    keep_both key, and the refused upload is aborted, not left behind."""
    camp = pcamp
    configure(camp, extra=MULTIPART)
    path = camp.file("cam/a.mp4", 6 * MiB + 3)
    key = "cams/cam/a.mp4"
    proxy.delay(3.0, methods={"POST"}, path_contains="uploadId=")  # the complete, held back

    proc = camp.start("--once")
    deadline = time.monotonic() + 60
    while not proxy.injected["delay"] and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proxy.injected["delay"] == 1
    camp.s3.put_object(Bucket=camp.bucket, Key=key, Body=FOREIGN)
    _, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 0, stderr
    objects = camp.objects()
    assert objects.pop(key) == FOREIGN
    assert objects.pop(_alt_key(camp, "cam/a.mp4")) == path.read_bytes()
    assert open_multiparts(camp) == []
    with manifest(camp) as db:
        assert db.execute("SELECT COUNT(*) FROM multipart").fetchone() == (0,)
