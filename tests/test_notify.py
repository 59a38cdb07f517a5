"""The sending half of notify: bounded sends and where the heartbeat goes (a real HTTP
receiver on 127.0.0.1; the alert rules themselves are in test_alerts.py)."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from reconciler import notify
from reconciler.config import Config, Notify
from reconciler.models import WatchDir
from reconciler.results import PassReport
from tests.receiver import Receiver


def config(r: Receiver, **kw) -> Config:
    base = Config(watch_dirs=(WatchDir("/w", ""),), bucket="b-b-b")
    return replace(base, notify=Notify(heartbeat_url=f"http://127.0.0.1:{r.port}/hb/TOKEN", **kw))


@pytest.mark.parametrize(
    ("report", "alerts", "expected"),
    [
        (PassReport(0.0), [], ["/hb/TOKEN"]),
        (PassReport(0.0, failed=2), [], ["/hb/TOKEN"]),  # exit 1: retried later, not a dead pass
        (PassReport(0.0, fatal="bucket gone"), [], ["/hb/TOKEN/fail"]),  # exit 4
        (PassReport(0.0), ["backlog"], ["/hb/TOKEN/fail"]),  # an alert is open
        (PassReport(0.0, watch_dir_missing=True, errors=["gone"]), ["watch_dir"], []),  # exit 2
    ],
)
def test_where_the_heartbeat_goes(receiver: Receiver, report: PassReport, alerts: list,
                                  expected: list) -> None:
    notify.heartbeat(config(receiver), report, alerts)
    assert receiver.heartbeats() == expected


def test_a_configured_fail_url_is_used_as_given(receiver: Receiver) -> None:
    cfg = config(receiver, heartbeat_fail_url=f"http://127.0.0.1:{receiver.port}/hb/down?status=down")
    notify.heartbeat(cfg, PassReport(0.0, fatal="x"), [])
    assert receiver.heartbeats() == ["/hb/down?status=down"]


def test_the_summary_says_what_the_pass_did(receiver: Receiver) -> None:
    notify.heartbeat(config(receiver), PassReport(0.0, uploaded=3, uploaded_bytes=9), ["disk"])
    ((_, body),) = receiver.posts
    said = (body["exit_code"], body["uploaded"], body["uploaded_bytes"], body["alerts"])
    assert said == (0, 3, 9, ["disk"])


def test_a_send_that_hangs_is_given_up_after_its_bound() -> None:
    release = threading.Event()
    try:
        ok, why = notify._bounded(lambda: release.wait(60), 0.05)
    finally:
        release.set()
    assert (ok, why) == (False, "no answer within 0 s")


def test_a_notifier_that_raises_is_a_failure_named_by_type_only() -> None:
    def boom() -> bool:
        raise RuntimeError("https://user:secret@host/token")

    assert notify._bounded(boom, 5) == (False, "RuntimeError")


def test_a_refused_heartbeat_is_said_without_its_url() -> None:
    r = Receiver()
    r.server.server_close()  # nobody listens on that port any more
    ok, why = notify.post_heartbeat(f"http://127.0.0.1:{r.port}/TOKEN", {})
    assert not ok and why and "TOKEN" not in why
