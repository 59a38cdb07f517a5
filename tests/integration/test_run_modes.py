"""Run modes and the operator's view, with real processes and signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from typing import Callable

from .harness import Camp, Watcher, assert_clean_stderr


def _until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def test_continuous_mode_picks_up_a_new_file_and_stops_cleanly_on_sigterm(camp: Camp) -> None:
    camp.file("cam/old.jpg", 900)
    proc = camp.start("--interval", "1")
    watch = Watcher(proc)
    try:
        watch.wait_for("Pass done")
        assert set(camp.objects()) == {"cams/cam/old.jpg"}
        new = camp.file("cam/new.mp4", 4000)

        assert _until(lambda: "cams/cam/new.mp4" in camp.objects(), timeout=20)
        assert camp.objects()["cams/cam/new.mp4"] == new.read_bytes()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        _stop(proc)
    assert "Traceback" not in watch.text()


def test_a_watch_dir_that_vanishes_is_an_error_per_pass_and_the_loop_goes_on(camp: Camp) -> None:
    # The watch dir vanishes between passes: each pass logs the error, the service lives on,
    # and uploads resume once the folder is back.
    camp.file("a.jpg")
    proc = camp.start("--interval", "1")
    watch = Watcher(proc)
    try:
        watch.wait_for("Pass done")
        camp.watch.rename(camp.root / "away")
        watch.wait_for("does not exist")
        assert proc.poll() is None
        (camp.root / "away").rename(camp.watch)
        camp.file("b.jpg")
        assert _until(lambda: "cams/b.jpg" in camp.objects(), timeout=20)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        _stop(proc)


def test_sigterm_during_a_large_upload_exits_0_and_the_next_run_completes_it(camp: Camp) -> None:
    camp.write_config("transfer:\n  multipart_threshold_mb: 5\n  multipart_chunksize_mb: 5\n"
                      '  max_concurrency: 2\n  max_bandwidth: "4MB/s"\n')
    big = camp.file("cam/long.mp4", 40 * 1024 * 1024)
    proc = camp.start("--once")
    watch = Watcher(proc)
    try:
        watch.wait_for("Uploading cam/long.mp4")
        time.sleep(3.0)  # a few 5 MiB parts at 4 MB/s
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
    finally:
        _stop(proc)
    assert "Traceback" not in watch.text()
    assert "cams/cam/long.mp4" not in camp.objects()  # abandoned, not half-recorded
    status = json.loads(camp.run("status", "--json").stdout)
    assert status["files"]["uploaded"] == 0

    camp.write_config("transfer:\n  multipart_threshold_mb: 5\n  multipart_chunksize_mb: 5\n")
    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert "Resuming the interrupted multipart upload of cam/long.mp4" in result.stderr
    reused = re.search(r"Resumed cams/cam/long.mp4: (\d+) of 8 parts were already in the bucket",
                       result.stderr)
    assert reused and int(reused.group(1)) >= 1, result.stderr  # ~1 s at 4 MB/s: 5 MiB parts sent
    assert camp.objects() == {"cams/cam/long.mp4": big.read_bytes()}
    assert camp.s3.list_multipart_uploads(Bucket=camp.bucket).get("Uploads", []) == []


def test_a_second_instance_exits_3_naming_the_holder(camp: Camp) -> None:
    camp.file("a.jpg")
    proc = camp.start("--interval", "30")
    watch = Watcher(proc)
    try:
        watch.wait_for("Pass done")
        result = camp.run("--once")
        assert result.returncode == 3, result.stderr
        assert f"pid {proc.pid}" in result.stderr
        assert "nothing was done" in result.stderr
        assert_clean_stderr(result)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_a_lock_left_by_a_killed_process_does_not_block(camp: Camp) -> None:
    camp.file("a.jpg")
    proc = camp.start("--interval", "30")
    watch = Watcher(proc)
    watch.wait_for("Pass done")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert (camp.state_dir / "camup.lock").exists()
    camp.file("b.jpg")

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert set(camp.objects()) == {"cams/a.jpg", "cams/b.jpg"}


def test_status_json_reflects_what_happened(camp: Camp) -> None:
    camp.file("cam/a.mp4", 3000)
    camp.file("cam/b.jpg", 1000)
    camp.file("cam/young.jpg", 10, age=0)
    # Young by a margin no loaded machine's start-up time can eat (1 s could be, before the scan).
    camp.edit_config("min_age_seconds: 1", "min_age_seconds: 30")
    assert camp.run("--once").returncode == 0

    result = camp.run("status", "--json")

    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["files"]["uploaded"] == 2
    assert info["uploaded_bytes"] == 4000
    assert info["files"]["pending"] == 1
    assert info["backlog"]["files"] == 1
    assert info["backlog"]["oldest_age_seconds"] is not None
    assert info["last_pass"]["exit_code"] == 0
    assert info["last_pass"]["report"]["uploaded"] == 2
    assert info["last_successful_pass"] is not None
    assert info["disks"][0]["free_bytes"] > 0
    assert info["failing"] == []
    table = camp.run("status").stdout
    assert "uploaded          2 files" in table
    assert "backlog           1 files" in table


def test_check_passes_on_a_good_setup_and_leaves_nothing_behind(camp: Camp) -> None:
    result = camp.run("check")

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("PASS") for line in lines), result.stdout
    assert any("can write" in line for line in lines)
    assert any("can list" in line for line in lines)
    assert camp.objects() == {}


def test_check_fails_on_a_missing_bucket_with_exit_4(camp: Camp) -> None:
    camp.bucket = "no-such-bucket-for-check"
    camp.write_config()

    result = camp.run("check")

    assert result.returncode == 4
    assert "FAIL  bucket reachable" in result.stdout
    assert_clean_stderr(result)


def test_check_fails_on_an_unreachable_endpoint_with_exit_4(camp: Camp) -> None:
    camp.write_config(endpoint="http://127.0.0.1:9")

    result = camp.run("check", timeout=90)

    assert result.returncode == 4
    assert "FAIL  bucket reachable" in result.stdout
    assert "cannot connect" in result.stdout


def test_check_fails_on_a_missing_watch_dir_with_exit_2(camp: Camp) -> None:
    camp.watch.rmdir()

    result = camp.run("check")

    assert result.returncode == 2
    assert "FAIL  watch dir readable" in result.stdout


def test_log_file_json_lines_and_no_secret_anywhere(camp: Camp) -> None:
    secret = "S3cr3t-Value-That-Must-Not-Leak-0123456789"
    camp.env_extra = {"AWS_SECRET_ACCESS_KEY": secret}
    camp.write_config("logging:\n  file: logs/camup.log\n  json: true\n  level: DEBUG\n")
    camp.file("a.jpg")

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    log = (camp.root / "logs" / "camup.log").read_text()
    records = [json.loads(line) for line in log.splitlines()]
    assert any("Successfully uploaded" in r["record"]["message"] for r in records)
    assert any(r["record"]["message"].startswith("Pass done") for r in records)
    assert secret not in log
    assert secret not in result.stderr


def test_version(camp: Camp) -> None:
    result = subprocess.run([*camp.cmd()[:3], "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout.startswith("camup-sync ")
