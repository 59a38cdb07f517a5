"""Issue 12 section 1: recordings still being written go off-site in live segments.

A real writer process appends to a real file while `camup-sync --once` runs again and
again against the session's SeaweedFS: after every run the segments, concatenated in key
order, are a byte-exact prefix of the file; `recover` gives that prefix; once the writer
is done the file is uploaded whole and its segments are deleted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .harness import Camp, assert_clean_stderr

LIVE = ("live:\n  enabled: true\n  after_seconds: 1\n  interval_seconds: 1\n  min_segment_mb: 0.1\n")
KEY = "cams/rec.mp4"
BASE = "cams/_camup/live/cams/rec.mp4/"


def segments(camp: Camp) -> list[str]:
    listed = camp.s3.list_objects_v2(Bucket=camp.bucket, Prefix=BASE).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def joined(camp: Camp) -> bytes:
    return b"".join(camp.s3.get_object(Bucket=camp.bucket, Key=k)["Body"].read() for k in segments(camp))


def once(camp: Camp) -> str:
    result = camp.run("--once")
    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    return result.stderr


def test_a_recording_goes_off_site_in_segments_while_written_then_whole(camp: Camp, writers,
                                                                         tmp_path: Path) -> None:
    camp.write_config(camp.extra_config + LIVE)
    path = camp.watch / "rec.mp4"
    writer = writers("append", path, chunk=32 * 1024, every=0.05, max_seconds=120)
    sizes = []
    for i in range(5):  # several intervals while the writer appends
        if i == 2:
            camp.file("done.mp4", size=300_000)  # a finished clip appears meanwhile
        log = once(camp)
        if i == 2:  # finished files go first: a segment never holds them back
            assert log.index("Successfully uploaded done.mp4") < log.index("Live segment"), log
        off_site = joined(camp)
        assert path.read_bytes().startswith(off_site)  # a byte-exact prefix, every time
        sizes.append(len(off_site))
        time.sleep(1.1)
    assert sizes[-1] > sizes[1] > 0, sizes  # segments keep coming while it grows
    assert len(segments(camp)) >= 2
    assert KEY not in camp.objects()  # never the whole object while it is written

    preview = camp.run("--dry-run")
    assert "live segment  rec.mp4  ->  s3://" in preview.stdout, preview.stdout
    status = camp.run("status")
    assert "LIVE              rec.mp4:" in status.stdout, status.stdout

    out = tmp_path / "recovered.mp4"
    before = joined(camp)
    got = camp.run("recover", KEY, str(out))
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == before and path.read_bytes().startswith(before)
    assert f"wrote {len(before)} bytes from {len(segments(camp))} live segment(s)" in got.stdout

    final = writer.finish()
    time.sleep(1.2)  # older than min_age_seconds
    for _ in range(4):
        once(camp)
        if KEY in camp.objects():
            break
        time.sleep(0.5)
    assert camp.s3.get_object(Bucket=camp.bucket, Key=KEY)["Body"].read() == path.read_bytes()
    assert len(path.read_bytes()) == final
    assert segments(camp) == []  # deleted once the whole file is in the bucket
    assert "LIVE" not in camp.run("status").stdout

    got = camp.run("recover", KEY, str(out))
    assert got.returncode == 0 and "from the object" in got.stdout, got.stdout
    assert out.read_bytes() == path.read_bytes()


def test_a_recording_that_shrinks_or_is_rewritten_restarts_its_segments(camp: Camp) -> None:
    # min_age 30: the file stays "too young" (being written) all along, so no whole upload.
    camp.write_config(LIVE + "stability:\n  settle_seconds: 0\n  min_age_seconds: 30\n")
    path = camp.watch / "rec.mp4"
    first = os.urandom(300_000)
    path.write_bytes(first)
    once(camp)  # first seen unfinished: the live clock starts
    time.sleep(1.1)
    once(camp)
    assert segments(camp) == [BASE + "000000"] and joined(camp) == first
    more = os.urandom(200_000)
    with path.open("ab") as f:
        f.write(more)
    time.sleep(1.1)
    once(camp)
    assert segments(camp) == [BASE + "000000", BASE + "000001"] and joined(camp) == first + more

    shrunk = os.urandom(250_000)  # below the segments' total
    path.write_bytes(shrunk)
    time.sleep(1.1)
    log = once(camp)
    assert "restarting" in log or "shrank or was rewritten" in log, log
    assert segments(camp) == [BASE + "000000"] and joined(camp) == shrunk

    rewritten = os.urandom(600_000)  # bigger, but its first segment's bytes changed
    path.write_bytes(rewritten)
    time.sleep(1.1)
    once(camp)
    assert segments(camp) == [BASE + "000000"] and joined(camp) == rewritten


def test_recover_exits_1_when_the_bucket_holds_nothing_of_the_key(camp: Camp, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    got = camp.run("recover", "cams/never.mp4", str(out))
    assert got.returncode == 1 and "nothing to recover" in got.stdout
    assert not out.exists()


def test_recover_exits_4_with_one_sentence_when_the_bucket_is_unusable(camp: Camp, tmp_path: Path) -> None:
    camp.bucket = "no-such-bucket-" + camp.bucket
    camp.write_config()
    out = tmp_path / "out.mp4"
    got = camp.run("recover", "cams/a.mp4", str(out))
    assert got.returncode == 4, got.stderr
    assert_clean_stderr(got)
    assert len([line for line in got.stderr.splitlines() if "ERROR" in line]) == 1, got.stderr
    assert not out.exists() and list(tmp_path.glob(".camup-recover-*")) == []
