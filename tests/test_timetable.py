"""transfer.bandwidth_schedule: parsing (with bad input) and rate_at as a table."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from reconciler.timetable import ScheduleError, parse_entry, parse_schedule, rate_at, rate_source

MB = 1_000_000
# 2026-11-30 is a Monday.
MON, FRI, SAT, SUN = (dt.date(2026, 11, 30) + dt.timedelta(days=d) for d in (0, 4, 5, 6))


def at(day: dt.date, hhmmss: str) -> dt.datetime:
    h, m, *s = (int(x) for x in hhmmss.split(":"))
    return dt.datetime(day.year, day.month, day.day, h, m, s[0] if s else 0)


SCHEDULE = parse_schedule([
    "Mon-Fri 07:00-23:00 1MB/s",
    "Sat,Sun 09:00-22:00 3MB/s",
    "* 01:00-05:00 off",
    "Fri 23:30-06:00 500KB/s",  # crosses midnight: Friday night into Saturday morning
])
DEFAULT = 2 * MB


@pytest.mark.parametrize(("when", "rate"), [
    (at(MON, "07:00"), 1 * MB),                 # a window includes its start ...
    (at(MON, "22:59:59"), 1 * MB),
    (at(MON, "23:00"), DEFAULT),                # ... and excludes its end
    (at(MON, "06:59:59"), DEFAULT),
    (at(SAT, "12:00"), 3 * MB),
    (at(SUN, "21:59"), 3 * MB),
    (at(SAT, "08:00"), DEFAULT),
    (at(MON, "03:00"), None),                   # off: no cap
    (at(SAT, "03:00"), None),                   # first match wins: "* 01:00-05:00 off" is first
    (at(SAT, "05:30"), 500_000),                # Friday's night window, after midnight
    (at(FRI, "23:45"), 500_000),
    (at(SAT, "05:59:59"), 500_000),
    (at(SAT, "06:00"), DEFAULT),
    (at(SUN, "03:00"), None),                   # Saturday night is not Friday's
    (at(FRI, "23:10"), DEFAULT),
], ids=lambda v: str(v))
def test_rate_at(when: dt.datetime, rate) -> None:
    assert rate_at(SCHEDULE, when, DEFAULT) == rate


def test_outside_every_entry_the_default_applies_even_when_unlimited() -> None:
    assert rate_at(SCHEDULE, at(MON, "23:30"), None) is None
    assert rate_at((), at(MON, "12:00"), 5) == 5


@pytest.mark.parametrize(("entry", "days", "start", "end", "rate"), [
    ("* 00:00-24:00 20Mbit/s", set(range(7)), 0, 86400, 2_500_000),
    ("fri-mon 22:00:30-06:00 off", {4, 5, 6, 0}, 22 * 3600 + 30, 6 * 3600, None),
    ("Monday,wed 7:05-8:00 1MiB/s", {0, 2}, 7 * 3600 + 300, 8 * 3600, 1024 * 1024),
])
def test_entries_parse(entry: str, days: set, start: int, end: int, rate) -> None:
    w = parse_entry(entry)
    assert (set(w.days), w.start, w.end, w.rate) == (days, start, end, rate)


@pytest.mark.parametrize(("entry", "says"), [
    ("Mon-Fri 07:00 1MB/s", "DAYS START-END RATE"),
    ("Mon-Fri 07:00-23:00", "DAYS START-END RATE"),
    ("Mon-Fri 07:00-23:00 1MB/s extra", "DAYS START-END RATE"),
    ("Mo-Fr 07:00-23:00 1MB/s", "unknown day"),
    ("Mon-Xyz 07:00-23:00 1MB/s", "unknown day"),
    ("Mon,,Tue 07:00-23:00 1MB/s", "unknown day"),
    ("* 7-23 1MB/s", "not a time of day"),
    ("* 24:00-05:00 1MB/s", "not a time of day"),
    ("* 07:60-08:00 1MB/s", "not a time of day"),
    ("* 07:00-07:00 1MB/s", "same time"),
    ("* 07:00-08:00 fast", "not a rate"),
    ("* 07:00-08:00 0MB/s", "less than one byte"),
    (7, "not text"),
])
def test_bad_entries_are_named_in_one_sentence(entry, says: str) -> None:
    with pytest.raises(ScheduleError) as err:
        parse_entry(entry)
    assert says in str(err.value)
    assert str(entry) in str(err.value)


def test_rate_source_asks_the_schedule_at_the_time_it_is_called() -> None:
    clock = [at(MON, "06:59:59")]
    transfer = SimpleNamespace(bandwidth_schedule=("Mon 07:00-08:00 1MB/s",), bandwidth_bytes=None)
    source = rate_source(transfer, now=lambda: clock[0])
    assert source() is None
    clock[0] = at(MON, "07:00")
    assert source() == MB
