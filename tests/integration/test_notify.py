"""Alerts through Apprise and the heartbeat, against SeaweedFS and a real local HTTP receiver.

The receiver is a ThreadingHTTPServer on 127.0.0.1 in this process: Apprise's `json://`
notifier and the heartbeat POST to it, and the test reads what arrived.
"""

from __future__ import annotations

import socket
import sqlite3
import time

from tests.receiver import Receiver

from .faultproxy import FaultProxy
from .harness import Camp, assert_clean_stderr

SECRET = "tok-5ecr3t-path"  # stands for a bot token in a notification URL


def notify_config(r: Receiver, failing_passes: int = 2, extra: str = "") -> str:
    return (f"notify:\n  urls: ['json://127.0.0.1:{r.port}/alerts/{SECRET}']\n"
            f"  heartbeat_url: http://127.0.0.1:{r.port}/hb/{SECRET}\n"
            f"  failing_passes: {failing_passes}\n" + extra)


def _no_secret(*outputs: str) -> None:
    for text in outputs:
        assert SECRET not in text


def _skip_backoff(camp: Camp) -> None:
    """Let failed files be retried now instead of waiting out the cross-pass back-off."""
    db = sqlite3.connect(camp.state_dir / "manifest.sqlite3")
    with db:
        db.execute("UPDATE files SET next_attempt_at = ? WHERE state = 'failed'", (time.time() - 1,))
    db.close()


def test_failing_files_alert_opens_once_is_not_repeated_and_recovers(
        pcamp: Camp, proxy: FaultProxy, receiver: Receiver) -> None:
    camp = pcamp
    camp.write_config(notify_config(receiver) + "retry:\n  max_attempts: 1\n")
    camp.file("cam/ok.jpg", 2000)
    camp.file("cam/bad.jpg", 2000)
    proxy.error_for("bad.jpg", 500, "InternalError")

    first = camp.run("--once")
    assert first.returncode == 1, first.stderr
    assert receiver.alerts() == []  # one failed pass: below failing_passes (2)
    assert receiver.heartbeats() == [f"/hb/{SECRET}"]  # exit 1 is no failure of the pass

    _skip_backoff(camp)
    second = camp.run("--once")
    assert second.returncode == 1, second.stderr
    (alert,) = receiver.alerts()
    assert alert.startswith("ALERT: 1 file(s) failed 2 or more passes in a row: cam/bad.jpg")
    assert receiver.heartbeats()[-1] == f"/hb/{SECRET}/fail"  # an alert is open

    receiver.take()
    third = camp.run("--once")  # still failing (backing off): no second message
    assert third.returncode == 0, third.stderr
    assert receiver.alerts() == []
    assert receiver.heartbeats() == [f"/hb/{SECRET}/fail"]

    proxy.clear()
    _skip_backoff(camp)
    fourth = camp.run("--once")
    assert fourth.returncode == 0, fourth.stderr
    assert receiver.alerts() == ["RECOVERED: failing uploads recovered"]
    assert receiver.heartbeats()[-1] == f"/hb/{SECRET}"
    status = camp.run("status")
    _no_secret(first.stderr, second.stderr, third.stderr, fourth.stderr, status.stdout)
    assert_clean_stderr(fourth)


def test_bucket_unusable_heartbeat_fails_then_alerts_then_recovers(
        pcamp: Camp, proxy: FaultProxy, receiver: Receiver) -> None:
    camp = pcamp
    camp.write_config(notify_config(receiver))
    camp.file("cam/a.jpg", 2000)
    proxy.error_all(404, "NoSuchBucket")

    first = camp.run("--once", timeout=60)
    assert first.returncode == 4, first.stderr
    assert receiver.heartbeats() == [f"/hb/{SECRET}/fail"]
    (_, summary), = [(p, b) for p, b in receiver.posts if p.startswith("/hb")]
    assert summary["exit_code"] == 4 and "does not exist" in summary["fatal"]
    assert receiver.alerts() == []  # one pass: not yet failing_passes

    second = camp.run("--once", timeout=60)
    assert second.returncode == 4
    (alert,) = receiver.alerts()
    assert alert.startswith("ALERT: the bucket has been unusable for 2 passes")

    receiver.take()
    third = camp.run("--once", timeout=60)
    assert third.returncode == 4
    assert receiver.alerts() == []  # open, told less than repeat_hours ago
    assert receiver.heartbeats() == [f"/hb/{SECRET}/fail"]
    status = camp.run("status")
    assert "ALERT             the bucket has been unusable for 3 passes" in status.stdout, status.stdout

    proxy.clear()
    receiver.take()
    fourth = camp.run("--once")
    assert fourth.returncode == 0, fourth.stderr
    assert receiver.alerts() == ["RECOVERED: the bucket recovered"]
    assert receiver.heartbeats() == [f"/hb/{SECRET}"]
    _no_secret(first.stderr, second.stderr, third.stderr, fourth.stderr, status.stdout)


def test_a_missing_watch_dir_alerts_without_a_heartbeat_and_recovers(camp: Camp,
                                                                      receiver: Receiver) -> None:
    camp.write_config(notify_config(receiver))
    camp.file("cam/a.jpg", 2000)
    assert camp.run("--once").returncode == 0
    receiver.take()
    aside = camp.root / "watch-unmounted"
    camp.watch.rename(aside)

    gone = camp.run("--once")
    assert gone.returncode == 2
    (alert,) = receiver.alerts()
    assert alert.startswith("ALERT: watch dir missing or unreadable")
    assert receiver.heartbeats() == []  # none after exit 2: the monitor notices the silence
    assert camp.run("--once").returncode == 2
    assert len(receiver.alerts()) == 1  # not resent by the next run

    aside.rename(camp.watch)
    back = camp.run("--once")
    assert back.returncode == 0, back.stderr
    assert receiver.alerts()[-1] == "RECOVERED: the watch dir recovered"
    assert receiver.heartbeats() == [f"/hb/{SECRET}"]


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_notify_test_sends_to_every_target_and_says_which_went(camp: Camp, receiver: Receiver) -> None:
    camp.write_config(notify_config(receiver))

    ok = camp.run("notify", "--test")

    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == ["PASS  notify json://127.0.0.1", "PASS  heartbeat http://127.0.0.1"]
    assert len(receiver.alerts()) == 1 and "test message" in receiver.alerts()[0]
    assert receiver.heartbeats() == [f"/hb/{SECRET}"]

    dead = _closed_port()
    camp.write_config(f"notify:\n  urls: ['json://127.0.0.1:{receiver.port}/alerts/{SECRET}', "
                      f"'json://127.0.0.1:{dead}/{SECRET}']\n"
                      f"  heartbeat_url: http://127.0.0.1:{dead}/hb/{SECRET}\n")
    failed = camp.run("notify", "--test")

    assert failed.returncode == 4
    lines = failed.stdout.splitlines()
    assert lines[0] == "PASS  notify json://127.0.0.1"
    assert lines[1].startswith("FAIL  notify json://127.0.0.1: ")
    assert lines[2].startswith("FAIL  heartbeat http://127.0.0.1: ")
    _no_secret(ok.stdout, ok.stderr, failed.stdout, failed.stderr)
    assert_clean_stderr(failed)


def test_a_dead_notifier_is_a_warning_not_a_failed_pass(camp: Camp) -> None:
    dead = _closed_port()
    camp.write_config(f"notify:\n  urls: ['json://127.0.0.1:{dead}/{SECRET}']\n"
                      f"  heartbeat_url: http://127.0.0.1:{dead}/{SECRET}\n  failing_passes: 1\n")
    camp.file("cam/b.jpg", 2000)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert "Could not send the heartbeat to http://127.0.0.1" in result.stderr
    assert set(camp.objects()) == {"cams/cam/b.jpg"}
    _no_secret(result.stderr)


def test_a_corrupt_manifest_moved_aside_is_told_once(camp: Camp, receiver: Receiver) -> None:
    camp.write_config(notify_config(receiver))
    camp.file("cam/a.jpg", 2000)
    assert camp.run("--once").returncode == 0
    (camp.state_dir / "manifest.sqlite3").write_bytes(b"this is not a database" * 100)

    rebuilt = camp.run("--once")
    again = camp.run("--once")

    assert (rebuilt.returncode, again.returncode) == (0, 0), rebuilt.stderr
    (alert,) = receiver.alerts()  # told once, and an event has no "recovered"
    assert alert.startswith("ALERT: the manifest was moved aside")


def test_the_continuous_loop_sends_a_heartbeat_after_every_pass(camp: Camp, receiver: Receiver) -> None:
    camp.write_config(notify_config(receiver) + "interval_seconds: 1\n")
    proc = camp.start()
    try:
        deadline = time.monotonic() + 60
        while len(receiver.heartbeats()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert len(receiver.heartbeats()) >= 2
    assert set(receiver.heartbeats()) == {f"/hb/{SECRET}"}


def test_a_backlog_older_than_backlog_alert_minutes_alerts_and_recovers(
        pcamp: Camp, proxy: FaultProxy, receiver: Receiver) -> None:
    camp = pcamp
    # 0.02 minutes = 1.2 s: the hour of the default, shrunk; failing_passes high enough that
    # only the backlog speaks.
    camp.write_config(notify_config(receiver, failing_passes=10,
                                    extra="  backlog_alert_minutes: 0.02\n") + "retry:\n  max_attempts: 1\n")
    camp.file("cam/stuck.jpg", 2000)
    proxy.error_for("stuck.jpg", 500, "InternalError")

    assert camp.run("--once").returncode == 1  # first seen ready now: not late yet
    assert receiver.alerts() == []
    time.sleep(2)
    assert camp.run("--once").returncode == 0  # backing off: still ready, still not uploaded
    (alert,) = receiver.alerts()
    assert alert.startswith("ALERT: a file has been ready but not uploaded for")

    proxy.clear()
    _skip_backoff(camp)
    assert camp.run("--once").returncode == 0
    assert receiver.alerts()[-1] == "RECOVERED: the upload backlog recovered"
