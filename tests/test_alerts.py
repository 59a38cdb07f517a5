"""The alert rules (reconciler/alerts.py): pure, so records in and a decision out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pytest

from reconciler.alerts import (
    BACKLOG,
    BUCKET,
    DISK,
    FAILING_FILES,
    MANIFEST,
    WATCH_DIR,
    Facts,
    Rules,
    decide,
    fail_url,
    open_alerts,
)
from reconciler.models import AlertState

NOW = 1_700_000_000.0
H = 3600.0
RULES = Rules(failing_passes=3, backlog_seconds=H, repeat_seconds=12 * H)


@dataclass
class Case:
    name: str
    open_now: dict[str, str]
    previous: dict[str, AlertState]
    opened: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    message: Optional[str] = None  # a line the message holds; None: no message at all


def sent(name: str, hours_ago: float, opened_hours_ago: float = 24) -> AlertState:
    return AlertState(name, NOW - opened_hours_ago * H, NOW - hours_ago * H, "old detail")


CASES = [
    Case("nothing open, nothing before: silence", {}, {}),
    Case("opens: told once", {BUCKET: "bucket down"}, {}, opened=[BUCKET], message="ALERT: bucket down"),
    Case("still open, told 1 h ago: no repeat", {BUCKET: "bucket down"}, {BUCKET: sent(BUCKET, 1)}),
    Case("still open, told 11.9 h ago: no repeat", {BUCKET: "x"}, {BUCKET: sent(BUCKET, 11.9)}),
    Case("still open, told 12 h ago: repeated", {BUCKET: "bucket down"}, {BUCKET: sent(BUCKET, 12)},
         repeated=[BUCKET], message="STILL: bucket down"),
    Case("cleared: recovered", {}, {BUCKET: sent(BUCKET, 1)}, recovered=[BUCKET],
         message="RECOVERED: the bucket recovered"),
    Case("opened but never told (send failed): told now", {DISK: "disk"},
         {DISK: AlertState(DISK, NOW - H, None, "disk")}, opened=[DISK], message="ALERT: disk"),
    Case("cleared before it was ever told: no recovered", {}, {DISK: AlertState(DISK, NOW - H, None)}),
    Case("one opens, one repeats, one recovers: one message", {BUCKET: "b", BACKLOG: "late"},
         {BACKLOG: sent(BACKLOG, 13), WATCH_DIR: sent(WATCH_DIR, 1)}, opened=[BUCKET],
         repeated=[BACKLOG], recovered=[WATCH_DIR], message="RECOVERED: the watch dir recovered"),
    Case("the manifest moved aside: told once", {MANIFEST: "moved"}, {}, opened=[MANIFEST],
         message="ALERT: moved"),
    Case("the manifest event passes: never 'recovered'", {}, {MANIFEST: sent(MANIFEST, 0.1)}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    d = decide(case.open_now, case.previous, NOW, RULES)
    assert (list(d.opened), list(d.repeated), list(d.recovered)) == (case.opened, case.repeated,
                                                                     case.recovered)
    if case.message is None:
        assert d.message is None
    else:
        assert d.message is not None
        assert case.message in d.message[1].splitlines()


def test_once_sent_the_state_records_when_and_keeps_when_it_opened() -> None:
    d = decide({BUCKET: "new detail", BACKLOG: "b"}, {BUCKET: sent(BUCKET, 1)}, NOW, RULES)
    assert d.if_sent[BUCKET] == AlertState(BUCKET, NOW - 24 * H, NOW - H, "new detail")  # not resent
    assert d.if_sent[BACKLOG] == AlertState(BACKLOG, NOW, NOW, "b")
    assert set(d.if_sent) == {BUCKET, BACKLOG}


def test_when_the_message_could_not_go_the_next_pass_tells_it_again() -> None:
    before = {WATCH_DIR: sent(WATCH_DIR, 1)}
    d = decide({BUCKET: "b"}, before, NOW, RULES)
    assert d.if_failed[BUCKET].sent_at is None
    assert d.if_failed[WATCH_DIR] == before[WATCH_DIR]  # the recovery is still to be told
    again = decide({BUCKET: "b"}, dict(d.if_failed), NOW + 300, RULES)
    assert (list(again.opened), list(again.recovered)) == ([BUCKET], [WATCH_DIR])


def test_a_message_says_recovered_in_its_title_when_that_is_all() -> None:
    d = decide({}, {BUCKET: sent(BUCKET, 1)}, NOW, RULES)
    assert d.message is not None and "recovered" in d.message[0]


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (Facts(), set()),
        (Facts(failing_files=["a.mp4", "b.mp4"]), {FAILING_FILES}),
        (Facts(bucket_failed_passes=2, bucket_error="down"), set()),
        (Facts(bucket_failed_passes=3, bucket_error="down"), {BUCKET}),
        (Facts(oldest_ready_since=NOW - H + 1), set()),
        (Facts(oldest_ready_since=NOW - H), {BACKLOG}),
        (Facts(watch_dir_errors=["watch dir /x is missing"]), {WATCH_DIR}),
        (Facts(disk_short=["/x"]), {DISK}),
        (Facts(manifest_moved_aside="/s/manifest.corrupt"), {MANIFEST}),
    ],
)
def test_open_alerts(facts: Facts, expected: set) -> None:
    assert set(open_alerts(facts, RULES, NOW)) == expected


def test_failing_files_are_one_alert_listing_them_and_capped() -> None:
    files = [f"cam/{i}.mp4" for i in range(25)]
    (text,) = open_alerts(Facts(failing_files=files), RULES, NOW).values()
    assert text.startswith("25 file(s) failed 3 or more passes in a row: cam/0.mp4, cam/1.mp4")
    assert text.endswith("and 15 more")


@pytest.mark.parametrize(
    ("url", "configured", "expected"),
    [
        ("https://hc-ping.com/abc", None, "https://hc-ping.com/abc/fail"),
        ("https://hc-ping.com/abc/", None, "https://hc-ping.com/abc/fail"),
        ("http://kuma:3001/api/push/Tok?status=up&msg=OK", None,
         "http://kuma:3001/api/push/Tok/fail?status=up&msg=OK"),
        ("http://127.0.0.1:8000", None, "http://127.0.0.1:8000/fail"),
        ("https://hc-ping.com/abc", "http://kuma/api/push/T?status=down", "http://kuma/api/push/T?status=down"),
    ],
)
def test_fail_url(url: str, configured: Optional[str], expected: str) -> None:
    assert fail_url(url, configured) == expected
