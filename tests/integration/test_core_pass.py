"""The core pass end to end against each real S3 server of the suite, run as a user runs it."""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import time

from .harness import Camp, Watcher, assert_clean_stderr

MiB = 1024 * 1024


def test_once_uploads_every_camera_file_byte_identical(camp: Camp) -> None:
    camp.file("front/Front.20261124_050000.mp4", 300_000)
    camp.file("front/alerts/Front.20261124_050001.jpg", 40_000)
    camp.file("back/clip.BVR", 2000)  # extension match is case-insensitive
    camp.file("back/notes.txt", 100)  # not a camera file
    camp.file("back/upload.mp4.part", 100)  # excluded temp name
    camp.file("Garage ünïcode/été.mov", 5000)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert camp.objects() == camp.expected()
    assert "cams/back/clip.BVR" in camp.objects()
    assert "Successfully uploaded" in result.stderr


def test_files_at_or_over_the_multipart_threshold_go_multipart_and_arrive_whole(camp: Camp) -> None:
    camp.write_config("transfer:\n  multipart_threshold_mb: 5\n  multipart_chunksize_mb: 5\n")
    camp.file("big/long-clip.mp4", 12 * 1024 * 1024 + 123)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert camp.objects() == camp.expected()
    head = camp.s3.head_object(Bucket=camp.bucket, Key="cams/big/long-clip.mp4", ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 2 MiB
    # The store checked every part's SHA-256 and keeps their composite: "<b64>-3" on AWS and
    # SeaweedFS, "<b64>" on moto (the part count is the ETag's).
    data = (camp.watch / "big/long-clip.mp4").read_bytes()
    parts = b"".join(hashlib.sha256(data[i:i + 5 * MiB]).digest() for i in range(0, len(data), 5 * MiB))
    value = base64.b64encode(hashlib.sha256(parts).digest()).decode()
    assert head["ChecksumSHA256"] in (f"{value}-3", value)


def test_default_threshold_is_16_mib_not_the_old_scripts_25_kib(camp: Camp) -> None:
    camp.file("a.mp4", 1024 * 1024)  # 1 MiB: a single PUT by default

    assert camp.run("--once").returncode == 0

    head = camp.s3.head_object(Bucket=camp.bucket, Key="cams/a.mp4")
    assert "-" not in head["ETag"]


def test_dry_run_prints_the_plan_and_changes_nothing(camp: Camp) -> None:
    camp.file("cam1/a.jpg", 1000)
    camp.file("cam1/b.mp4", 2000)
    camp.file("cam1/young.mp4", 10, age=0)
    camp.file("cam1/x.tmp", 10)
    # Young by a margin no loaded machine's start-up time can eat (1 s could be, before the scan).
    camp.edit_config("min_age_seconds: 1", "min_age_seconds: 30")
    before = sorted(p.name for p in camp.root.iterdir())

    result = camp.run("--dry-run")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"upload  cam1/a.jpg  ->  s3://{camp.bucket}/cams/cam1/a.jpg" in out
    assert f"s3://{camp.bucket}/cams/cam1/b.mp4" in out
    assert "skip    cam1/young.mp4  (too young)" in out
    assert out.strip().splitlines()[-1].startswith("dry run: 2 to upload")
    assert camp.objects() == {}
    assert sorted(p.name for p in camp.root.iterdir()) == before  # no state dir created


def test_dry_run_does_not_touch_an_existing_manifest(camp: Camp) -> None:
    camp.file("a.jpg")
    assert camp.run("--once").returncode == 0
    camp.file("b.jpg")
    manifest = camp.state_dir / "manifest.sqlite3"
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in camp.state_dir.iterdir()}

    result = camp.run("--dry-run")

    assert result.returncode == 0, result.stderr
    assert "cams/b.jpg" in result.stdout
    assert "skip    a.jpg  (already uploaded)" in result.stdout
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in camp.state_dir.iterdir()}
    assert after == before
    assert set(camp.objects()) == {"cams/a.jpg"}
    assert manifest.exists()


def test_second_run_uploads_nothing_and_makes_no_s3_request(camp: Camp) -> None:
    camp.file("a.jpg")
    camp.file("b.mp4")
    assert camp.run("--once").returncode == 0
    # (test_idle_pass_survives_an_unreachable_endpoint proves "no request at all"; this one
    # checks what the log says an idle pass did.)
    first = camp.objects()

    result = camp.run("--once", "--log-level", "DEBUG")

    assert result.returncode == 0
    assert "uploaded 0" in result.stderr
    assert "Listed" not in result.stderr
    assert "Uploading" not in result.stderr
    assert camp.objects() == first


def test_idle_pass_survives_an_unreachable_endpoint_because_it_asks_nothing(camp: Camp) -> None:
    camp.file("a.jpg")
    assert camp.run("--once").returncode == 0
    db = sqlite3.connect(camp.state_dir / "manifest.sqlite3")
    dead = "http://127.0.0.1:9"
    with db:
        db.execute("UPDATE meta SET value = ? WHERE name = 'target'", (f"{dead}|{camp.bucket}",))
    db.close()
    camp.write_config(endpoint=dead)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr  # no listing due, nothing new: no request


def test_lost_manifest_costs_one_listing_never_a_reupload(camp: Camp) -> None:
    for i in range(5):
        camp.file(f"cam/{i}.jpg", 500 + i)
    assert camp.run("--once").returncode == 0
    etags = {k: camp.s3.head_object(Bucket=camp.bucket, Key=k)["LastModified"] for k in camp.objects()}
    for p in camp.state_dir.iterdir():
        p.unlink()

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert "adopted 5" in result.stderr
    assert "Uploading" not in result.stderr
    assert {k: camp.s3.head_object(Bucket=camp.bucket, Key=k)["LastModified"] for k in etags} == etags


def test_changed_file_is_uploaded_again_under_the_same_key(camp: Camp) -> None:
    path = camp.file("cam/a.mp4", 1000)
    assert camp.run("--once").returncode == 0
    camp.file("cam/a.mp4", 3000)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert camp.objects() == {"cams/cam/a.mp4": path.read_bytes()}


def test_files_present_at_startup_are_uploaded_on_the_first_run(camp: Camp) -> None:
    for i in range(20):
        camp.file(f"old/{i:02}.jpg", 2000, age=3600 * 24)

    result = camp.run("--once")

    assert result.returncode == 0
    assert len(camp.objects()) == 20


def test_missing_bucket_exits_4_with_a_sentence(camp: Camp) -> None:
    camp.bucket = "no-such-bucket-here"
    camp.write_config()
    camp.file("a.jpg")

    result = camp.run("--once", timeout=60)

    assert result.returncode == 4, result.stderr
    assert "does not exist" in result.stderr
    assert_clean_stderr(result)


def test_unreachable_endpoint_exits_4_in_bounded_time(camp: Camp) -> None:
    camp.write_config(endpoint="http://127.0.0.1:9")
    camp.file("a.jpg")
    started = time.monotonic()

    result = camp.run("--once", timeout=90)

    assert result.returncode == 4, result.stderr
    assert "cannot connect" in result.stderr
    assert time.monotonic() - started < 60
    assert_clean_stderr(result)


def test_config_errors_exit_2_with_one_sentence_and_write_nothing(camp: Camp) -> None:
    cases = {
        "watch_dir: watch\nbucket: b-b-b\nstabilty: {}\n": 'did you mean "stability"',
        "watch_dir: watch\nbucket: b-b-b\nretry: {max_attempts: many}\n": "retry.max_attempts must be",
        "watch_dir: watch\nbucket: [oops\n": "not valid YAML",
        "watch_dir: watch\n": "no bucket",
        "bucket: b-b-b\n": "no watch_dir",
        "watch_dir: nowhere\nbucket: b-b-b\n": "does not exist",
    }
    for text, expected in cases.items():
        camp.config_path.write_text(text, encoding="utf-8")
        result = camp.run("--once")
        assert result.returncode == 2, (text, result.stderr)
        assert expected in result.stderr, (text, result.stderr)
        assert_clean_stderr(result)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not camp.state_dir.exists() or not any(camp.state_dir.glob("manifest*"))


def test_environment_overrides_the_file(camp: Camp) -> None:
    other = camp.root / "elsewhere"
    other.mkdir()
    (other / "x.jpg").write_bytes(b"x" * 100)
    os.utime(other / "x.jpg", (time.time() - 300, time.time() - 300))
    camp.env_extra = {"CAMUP_WATCH_DIR": str(other), "CAMUP_PREFIX": "env/"}

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert set(camp.objects()) == {"env/x.jpg"}


def test_paths_resolve_relative_to_the_config_file_not_the_cwd(camp: Camp, tmp_path_factory) -> None:
    camp.file("a.jpg")
    elsewhere = tmp_path_factory.mktemp("cwd")
    import subprocess

    result = subprocess.run(camp.cmd("--once"), env=camp.env(), cwd=elsewhere, capture_output=True,
                            text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert (camp.state_dir / "manifest.sqlite3").exists()
    assert not (elsewhere / ".camup").exists()


def test_a_file_that_changes_mid_upload_is_never_published_under_its_key(camp: Camp) -> None:
    camp.write_config("transfer:\n  multipart_threshold_mb: 5\n  multipart_chunksize_mb: 5\n"
                      '  max_bandwidth: "5MB/s"\n')
    clip = camp.file("cam/clip.mp4", 15 * 1024 * 1024)
    proc = camp.start("--once")
    watch = Watcher(proc)
    watch.wait_for("Uploading", timeout=60)
    # The recorder reopens the finished-looking clip and appends while it is being sent.
    with open(clip, "ab") as fh:
        fh.write(b"late frames")
    assert proc.wait(timeout=120) == 0, watch.text()
    assert "Changed while uploading" in watch.text()
    assert camp.objects() == {}  # no truncated object under the clip's name
    assert camp.s3.list_multipart_uploads(Bucket=camp.bucket).get("Uploads", []) == []
    again = camp.run("--once")  # the appender is done: the whole clip goes now
    assert again.returncode == 0, again.stderr
    assert camp.objects() == {"cams/cam/clip.mp4": clip.read_bytes()}


def test_a_clip_moved_between_watch_dirs_with_one_prefix_is_not_uploaded_twice(camp: Camp) -> None:
    # Blue Iris moves finished clips from New to Stored; both are watched under one prefix.
    (camp.root / "New").mkdir()
    (camp.root / "Stored").mkdir()
    dirs = "watch_dirs:\n  - {path: New, prefix: cams/}\n  - {path: Stored, prefix: cams/}\n"
    text = camp.config_path.read_text().replace("watch_dir: watch\n", dirs)
    camp.config_path.write_text(text)
    clip = camp.root / "New" / "Cam1.20261124_050000.mp4"
    clip.write_bytes(os.urandom(4000))
    os.utime(clip, (time.time() - 600, time.time() - 600))
    assert camp.run("--once").returncode == 0
    clip.rename(camp.root / "Stored" / clip.name)  # same file id, size and mtime

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert "Uploading" not in result.stderr
    assert "adopted 1" in result.stderr
    assert set(camp.objects()) == {"cams/Cam1.20261124_050000.mp4"}
    assert '"uploaded": 2' in camp.run("status", "--json").stdout  # both paths known as uploaded
