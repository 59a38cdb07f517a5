"""Object Lock: every object written with a retention, and `check` tells whether it holds."""

from __future__ import annotations

import datetime as dt

import pytest

from .harness import Camp, assert_clean_stderr
from .lockbucket import lock_camp  # noqa: F401 - a fixture
from .test_faults import MULTIPART, configure

MiB = 1024 * 1024
LOCK = "object_lock: {mode: GOVERNANCE, days: 1}"


@pytest.mark.parametrize("checksum", ["auto", "off"])  # off: Content-MD5 carries the lock
def test_single_and_multipart_objects_carry_the_retention(lock_camp: Camp, checksum: str) -> None:  # noqa: F811
    camp = lock_camp
    configure(camp, remote=[LOCK, f"checksum: {checksum}"], extra=MULTIPART + "ledger:\n  enabled: true\n")
    small = camp.file("cam/a.jpg", 2000)
    big = camp.file("cam/b.mp4", 12 * MiB)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    keys = [camp.prefix + p.relative_to(camp.watch).as_posix() for p in (small, big)]
    (ledger,) = [k for k in camp.objects() if "/_camup/ledger/" in k]
    for key in [*keys, ledger]:  # the ledger object is locked too
        head = camp.s3.head_object(Bucket=camp.bucket, Key=key)
        assert head["ObjectLockMode"] == "GOVERNANCE", key
        until = head["ObjectLockRetainUntilDate"]
        assert soon - dt.timedelta(hours=1) < until <= soon + dt.timedelta(minutes=1), (key, until)
    for key, path in zip(keys, (small, big)):
        assert camp.s3.get_object(Bucket=camp.bucket, Key=key)["Body"].read() == path.read_bytes()


def test_check_passes_when_the_store_refuses_to_delete_the_locked_probe(lock_camp: Camp) -> None:  # noqa: F811
    camp = lock_camp
    configure(camp, remote=[LOCK])

    first = camp.run("check")
    again = camp.run("check")

    assert first.returncode == 0, first.stdout + first.stderr
    assert "PASS  object lock enforced: deleting the locked probe version was refused" in first.stdout
    assert again.returncode == 0 and "PASS  object lock enforced" in again.stdout
    probe = f"{camp.prefix}_camup/lock-probe/"
    versions = camp.s3.list_object_versions(Bucket=camp.bucket, Prefix=probe).get("Versions", [])
    assert len(versions) == 1  # the second check reused the probe still under retention
    assert_clean_stderr(first)


def test_check_fails_on_a_bucket_without_object_lock(camp: Camp) -> None:
    configure(camp, remote=[LOCK])

    result = camp.run("check")

    assert result.returncode == 4
    assert "FAIL  object lock enforced: the bucket does not have Object Lock enabled" in result.stdout
    assert_clean_stderr(result)
