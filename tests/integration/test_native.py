"""Small bodies go through awscrt's native S3 client, on both stores, through the proxy:
the object holds exactly the file's bytes with their checksum, odd names keep their keys,
conditional writes and faults behave as they do through botocore, and `native_client:
off` (or a body of 1 MiB or more) leaves every request to botocore."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import unquote

from .faultproxy import FaultProxy
from .harness import Camp, assert_clean_stderr

ODD = "cam/a b+c~d=é;🎥.jpg"


def puts_by(proxy: FaultProxy, native: bool) -> set[str]:
    """Keys of the PUTs the proxy saw from the native client (or from botocore)."""
    return {unquote(target.split("?", 1)[0]).split("/", 2)[2] for method, target, agent in proxy.agents
            if method == "PUT" and "?" not in target and ("CRTS3NativeClient" in agent) == native}


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_small_files_go_native_with_their_checksum_and_big_ones_through_botocore(
        pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    small = {rel: camp.file(rel, size) for rel, size in [("cam/alert.jpg", 30_000), (ODD, 5_000),
                                                         ("cam/near.mp4", 1024 * 1024 - 1)]}
    camp.file("cam/clip.mp4", 1024 * 1024)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert puts_by(proxy, native=True) == {f"cams/{rel}" for rel in small}
    assert puts_by(proxy, native=False) == {"cams/cam/clip.mp4"}
    assert camp.objects() == camp.expected()
    for rel, path in small.items():
        head = camp.s3.head_object(Bucket=camp.bucket, Key=f"cams/{rel}", ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == sha256_b64(path.read_bytes())


def test_native_client_off_leaves_every_request_to_botocore(pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    camp.write_config("transfer:\n  native_client: off\n", endpoint=proxy.endpoint)
    camp.file("cam/alert.jpg", 30_000)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert puts_by(proxy, native=True) == set() and puts_by(proxy, native=False) == {"cams/cam/alert.jpg"}
    assert camp.objects() == camp.expected()


def test_a_native_put_refused_by_the_condition_keeps_both(pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    camp.s3.put_object(Bucket=camp.bucket, Key="cams/cam/alert.jpg", Body=b"someone else's")
    camp.write_config("remote:\n  listing: never\n", endpoint=proxy.endpoint)  # only the PUT can tell
    camp.file("cam/alert.jpg", 30_000)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    objects = camp.objects()
    assert objects["cams/cam/alert.jpg"] == b"someone else's"
    assert [k for k in objects if k != "cams/cam/alert.jpg"] and len(objects) == 2
    assert "cams/cam/alert.jpg" in puts_by(proxy, native=True)


def test_a_native_put_reset_mid_body_is_retried_and_stored_whole(pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    camp.file("cam/alert.jpg", 600_000)
    proxy.reset_mid_body(after=100_000, count=4, path_contains="alert.jpg", methods={"PUT"})

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert proxy.injected["reset"] == 4  # past the native client's own retries: the pass retried too
    assert camp.objects() == camp.expected()


def test_a_native_put_denied_fails_that_file_only(pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    camp.file("cam/a.jpg", 10_000)
    camp.file("cam/b.jpg", 10_000)
    proxy.error_for("cam/a.jpg", 403, "AccessDenied")

    result = camp.run("--once")

    assert result.returncode == 1, result.stderr
    assert_clean_stderr(result)
    assert "access denied" in result.stderr
    assert set(camp.objects()) == {"cams/cam/b.jpg"}


def test_check_writes_through_the_native_client_too(pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp

    result = camp.run("check")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  can write through the native client: small uploads go through awscrt's" in result.stdout
    probe = [k for k in puts_by(proxy, native=True) if "/_camup/check/" in k]
    assert len(probe) == 1 and camp.objects() == {}  # written through it, then removed


def test_check_says_when_the_native_client_is_not_used(camp: Camp) -> None:
    camp.write_config("transfer:\n  native_client: off\n")

    result = camp.run("check")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIP  native client: not used" in result.stdout
    assert "PASS  can write (probe object)" in result.stdout


def test_small_files_go_parallel_small_files_at_once_beside_parallel_files(
        pcamp: Camp, proxy: FaultProxy) -> None:
    """Each PUT held 0.4 s at the proxy, one slot for clips and three for alert images:
    newest first, four alerts, two clips, four alerts. Never more than three alerts or one
    clip at once, and alerts go beside a clip (one shared pool of four would send four
    alerts, or two clips, at once)."""
    camp = pcamp
    camp.write_config("transfer:\n  parallel_files: 1\n  parallel_small_files: 3\npriority: []\n",
                      endpoint=proxy.endpoint)
    for i, age in enumerate([100, 101, 102, 103, 106, 107, 108, 109]):
        camp.file(f"cam/alert{i}.jpg", 20_000, age=age)
    for i, age in enumerate([104, 105]):
        camp.file(f"cam/clip{i}.mp4", 1024 * 1024, age=age)  # 1 MiB: not small
    proxy.delay(0.4, count=None, methods={"PUT"})

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert camp.objects() == camp.expected()
    assert proxy.most_at_once("PUT", ".jpg") == 3
    assert proxy.most_at_once("PUT", ".mp4") == 1
    assert proxy.most_at_once("PUT") == 4, "alerts beside a clip"


def test_with_no_small_slots_every_file_waits_for_parallel_files(pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    camp.write_config("transfer:\n  parallel_files: 2\n  parallel_small_files: 0\n",
                      endpoint=proxy.endpoint)
    for i in range(5):
        camp.file(f"cam/alert{i}.jpg", 20_000)
    proxy.delay(0.4, count=None, methods={"PUT"})

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert camp.objects() == camp.expected()
    assert proxy.most_at_once("PUT") == 2
