"""The bandwidth cap, its timetable, the daily budget and priority, against SeaweedFS.

Rates are measured where they matter, on the wire: the fault proxy (with no fault set)
timestamps every byte it receives from camup-sync. Bounds are +-20% of the cap: the
throttle admits at most one second's burst, so only a loaded machine could make an
upload slower, never faster; the measured windows are several seconds long.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time

from .faultproxy import FaultProxy
from .harness import Camp, Watcher, assert_clean_stderr

MB = 1_000_000  # the config's "MB" (powers of 1000)
MiB = 1024 * 1024


def rate_between(proxy: FaultProxy, start: float, end: float) -> float:
    """Bytes per second the proxy received from the client within [start, end)."""
    got = sum(n for t, n in proxy.received if start <= t < end)
    return got / (end - start)


def upload_window(proxy: FaultProxy, since: float) -> tuple[float, float, int]:
    """First and last receive times after `since` (the bodies dominate), and the bytes."""
    samples = [(t, n) for t, n in proxy.received if t >= since]
    assert samples, "nothing reached the store"
    return samples[0][0], samples[-1][0], sum(n for _, n in samples)


def measured_rate(proxy: FaultProxy, since: float) -> float:
    first, last, total = upload_window(proxy, since)
    first_n = next(n for t, n in proxy.received if t == first)
    return (total - first_n) / (last - first)  # bytes that arrived after the first recv


def test_the_cap_shapes_single_puts_and_multipart_parts_on_the_wire(pcamp: Camp, proxy: FaultProxy) -> None:
    """The old bucket charged a whole request before sending it, the first one free: a
    10 MB file under the multipart threshold went at line rate."""
    pcamp.write_config('transfer:\n  max_bandwidth: "1MB/s"\n  multipart_threshold_mb: 5\n'
                       "  multipart_chunksize_mb: 5\n")
    pcamp.file("cam/single.mp4", 3 * MB)
    since = time.monotonic()
    single = pcamp.run("--once")
    assert single.returncode == 0, single.stderr
    single_rate = measured_rate(proxy, since)

    pcamp.file("cam/multi.mp4", 12 * MB)  # three parts of 5 MiB, sent in parallel
    since = time.monotonic()
    multi = pcamp.run("--once")
    assert multi.returncode == 0, multi.stderr
    multi_rate = measured_rate(proxy, since)

    print(f"measured: single PUT {single_rate / MB:.3f} MB/s, multipart {multi_rate / MB:.3f} MB/s")
    assert pcamp.objects() == pcamp.expected()
    assert 0.8 * MB <= single_rate <= 1.2 * MB, single_rate
    assert 0.8 * MB <= multi_rate <= 1.2 * MB, multi_rate


def test_a_schedule_boundary_changes_the_rate_of_an_upload_in_flight(pcamp: Camp, proxy: FaultProxy) -> None:
    """1MB/s outside the window, 3MB/s inside it; the window opens a few seconds into the
    upload of one single-PUT file (HH:MM:SS windows let the test place it exactly)."""
    boundary = dt.datetime.now().replace(microsecond=0) + dt.timedelta(seconds=7)
    boundary_mono = time.monotonic() + (boundary - dt.datetime.now()).total_seconds()
    until = boundary + dt.timedelta(hours=1)
    window = f"{boundary:%H:%M:%S}-{until:%H:%M:%S}"
    pcamp.write_config(f'transfer:\n  max_bandwidth: "1MB/s"\n  multipart_threshold_mb: 64\n'
                       f'  bandwidth_schedule: ["* {window} 3MB/s"]\n')
    pcamp.file("cam/long.mp4", 20 * MB)
    since = time.monotonic()

    result = pcamp.run("--once")

    assert result.returncode == 0, result.stderr
    first, last, _ = upload_window(proxy, since)
    assert first < boundary_mono - 2.5 and last > boundary_mono + 3.5, (first, last, boundary_mono)
    before = rate_between(proxy, first + 0.2, boundary_mono)
    after = rate_between(proxy, boundary_mono + 1.5, last)  # asked again within ~1 s
    print(f"measured: {before / MB:.3f} MB/s before the boundary, {after / MB:.3f} MB/s after")
    assert 0.8 * MB <= before <= 1.2 * MB, before
    assert 2.4 * MB <= after <= 3.6 * MB, after
    assert pcamp.objects() == pcamp.expected()


def test_a_file_rewritten_between_the_hash_pass_and_the_send_is_refused_and_sent_again(
        camp: Camp) -> None:
    """Same size, same mtime, other bytes mid-send: only the store's digest check can tell."""
    camp.write_config('transfer:\n  max_bandwidth: "1MB/s"\n  multipart_threshold_mb: 64\n')
    path = camp.file("cam/clip.mp4", 3 * MB)
    stamp = path.stat().st_mtime_ns
    proc = camp.start("--once")
    watch = Watcher(proc)
    watch.wait_for("Uploading cam/clip.mp4")
    time.sleep(0.5)  # the hash pass is done (one fast read); the send is at ~0.5 MB
    with open(path, "r+b") as fh:
        fh.seek(2 * MB)
        fh.write(os.urandom(MB))
    os.utime(path, ns=(stamp, stamp))
    assert proc.wait(60) == 0
    text = watch.text()
    assert "Changed while uploading" in text, text
    assert "Traceback" not in text
    assert camp.objects() == {}, "nothing of the mixed bytes was published"

    again = camp.run("--once")

    assert again.returncode == 0, again.stderr
    assert camp.objects() == camp.expected()


def test_a_stop_cuts_a_slow_throttled_put_short_within_a_block(camp: Camp) -> None:
    """The body hears of a stop at every 64 KiB block: SIGTERM does not wait out a 20 s PUT."""
    camp.write_config('transfer:\n  max_bandwidth: "500KB/s"\n  multipart_threshold_mb: 64\n')
    camp.file("cam/slow.mp4", 10 * MB)
    proc = camp.start("--once")
    watch = Watcher(proc)
    try:
        watch.wait_for("Uploading cam/slow.mp4")
        time.sleep(1.0)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        stopped_in = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = watch.text()
    assert "Traceback" not in text
    assert "Stopped before cam/slow.mp4 was uploaded" in text, text
    assert stopped_in < 8, stopped_in  # the rest of the PUT alone would take ~18 s
    assert camp.objects() == {}


def test_memory_stays_bounded_whatever_the_file_and_part_sizes(camp: Camp) -> None:
    """A single PUT used to read the whole file into memory, and a multipart upload held
    max_concurrency whole parts: here 96 MiB + 8 x 16 MiB."""
    camp.write_config("transfer:\n  multipart_threshold_mb: 100\n  multipart_chunksize_mb: 16\n"
                      "  max_concurrency: 8\n  max_memory_mb: 8\n")
    camp.file("cam/single.mp4", 96 * MiB)
    camp.file("cam/multi.mp4", 128 * MiB)
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    result = subprocess.run([sys.executable, "-c", probe, *camp.cmd("--once")], env=camp.env(),
                            cwd=camp.root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    peak_mib = int(result.stdout.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    print(f"measured: peak RSS {peak_mib:.0f} MiB")
    assert camp.objects() == camp.expected()
    assert peak_mib < 90, f"peak RSS {peak_mib:.0f} MiB"


# ---- daily budget and priority ------------------------------------------------------------

def _status(camp: Camp) -> dict:
    result = camp.run("status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_spent_budget_holds_back_clips_across_runs_while_priority_files_go(camp: Camp) -> None:
    camp.write_config('transfer:\n  daily_budget: "1MB"\npriority: ["*.jpg"]\n')
    camp.file("cam/a.mp4", 600_000, age=100)
    camp.file("cam/b.mp4", 600_000, age=200)
    camp.file("cam/c.mp4", 600_000, age=300)
    camp.file("cam/alert1.jpg", 2000, age=400)

    preview = camp.run("--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert re.search(r"skip +cam/c\.mp4 +\(budget\)", preview.stdout), preview.stdout
    uploads = [line.split()[1] for line in preview.stdout.splitlines() if line.startswith("upload")]
    assert uploads == ["cam/alert1.jpg", "cam/a.mp4", "cam/b.mp4"]  # in the order they go

    first = camp.run("--once")
    assert first.returncode == 0, first.stderr  # waiting for the budget is not a failure
    assert_clean_stderr(first)
    assert set(camp.objects()) == {"cams/cam/alert1.jpg", "cams/cam/a.mp4", "cams/cam/b.mp4"}
    assert "budget 1" in first.stderr  # the summary's skip count

    camp.file("cam/alert2.jpg", 3000, age=50)
    camp.file("cam/d.mp4", 1000, age=60)
    second = camp.run("--once")
    assert second.returncode == 0, second.stderr
    assert set(camp.objects()) == {"cams/cam/alert1.jpg", "cams/cam/a.mp4", "cams/cam/b.mp4",
                                   "cams/cam/alert2.jpg"}, "the spent budget holds d and c back"
    info = _status(camp)
    assert info["today"]["sent_bytes"] == 2000 + 600_000 + 600_000 + 3000
    assert info["today"]["daily_budget_bytes"] == 1_000_000
    text = camp.run("status")
    assert "sent today        1.2 MB of a daily budget of 1.0 MB (spent" in text.stdout, text.stdout


def test_priority_files_go_first_in_one_pass(camp: Camp) -> None:
    camp.write_config("transfer:\n  parallel_files: 1\n  parallel_small_files: 0\n"
                      "priority: ['*.JPG', 'doorbell/*']\n")
    camp.file("cam/newest.mp4", 5000, age=100)
    camp.file("cam/alert-old.jpg", 500, age=900)
    camp.file("doorbell/ring.mp4", 5000, age=800)
    camp.file("cam/oldest.mp4", 5000, age=1000)
    camp.file("cam/alert-new.jpg", 500, age=200)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    order = re.findall(r"Uploading (\S+) ->", result.stderr)
    assert order == ["cam/alert-new.jpg", "doorbell/ring.mp4", "cam/alert-old.jpg",
                     "cam/newest.mp4", "cam/oldest.mp4"], order
    assert camp.objects() == camp.expected()
