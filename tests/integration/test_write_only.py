"""Write-only credentials: a proxy answers 403 to every read (GET, HEAD, listings)."""

from __future__ import annotations

from .faultproxy import FaultProxy
from .harness import Camp, assert_clean_stderr
from .test_faults import MULTIPART, configure, status

MiB = 1024 * 1024


def test_uploads_work_a_lost_answer_is_recorded_unverified_and_nothing_is_deleted(
        pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    configure(camp, remote=["listing: never"], extra=MULTIPART + "after_upload:\n  action: delete\n")
    lost = camp.file("cam/lost.jpg", 3000)
    plain = camp.file("cam/plain.jpg", 4000)
    big = camp.file("cam/big.mp4", 12 * MiB)
    proxy.deny_reads()
    # The store keeps the first PUT of lost.jpg, but its answer never arrives: botocore
    # retries, the conditional retry is refused (412), and the HEAD that would confirm is denied.
    proxy.drop_response(methods={"PUT"}, path_contains="lost.jpg")

    first = camp.run("--once")

    assert first.returncode == 0, first.stderr
    assert "Uploaded (unverified)" in first.stderr
    assert camp.objects() == camp.expected()  # (read directly, not through the proxy)
    puts_of_lost = sum(1 for m, t in proxy.log if m == "PUT" and "lost.jpg" in t)
    assert puts_of_lost == 2  # the first (answer lost) and botocore's conditional retry

    second = camp.run("--once")  # after_upload: delete comes due, but nothing can be verified

    assert second.returncode == 0, second.stderr
    assert sum(1 for m, t in proxy.log if m == "PUT" and "lost.jpg" in t) == puts_of_lost  # not resent
    assert lost.exists() and plain.exists() and big.exists()
    assert "uploaded (unverified)" in second.stderr  # after_upload says why it keeps it
    assert "Keeping cam/plain.jpg: it cannot be verified in the bucket" in second.stderr
    info = status(camp)
    assert info["files"]["unverified"] == 1
    assert [u["path"] for u in info["unverified"]] == ["cam/lost.jpg"]
    text = camp.run("status").stdout
    assert "UNVERIFIED        cam/lost.jpg -> cams/cam/lost.jpg" in text
    assert_clean_stderr(first)
    assert_clean_stderr(second)


def test_check_says_what_it_could_not_test(pcamp: Camp, proxy: FaultProxy) -> None:
    camp = pcamp
    configure(camp, remote=["listing: never"])
    proxy.deny_reads()

    result = camp.run("check")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  can write" in result.stdout
    assert "SKIP  can read and list: not tested" in result.stdout
    assert_clean_stderr(result)
