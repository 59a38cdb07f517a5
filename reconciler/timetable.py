"""transfer.bandwidth_schedule: which rate applies at a given local time.

An entry is "DAYS START-END RATE", e.g. "Mon-Fri 07:00-23:00 1MB/s":
  DAYS   `*`, a day (`Mon`), a range (`Mon-Fri`, `Fri-Mon` wraps), or a comma list of those
  START-END  local times HH:MM or HH:MM:SS; END may be 24:00; a window whose end is not
         after its start crosses midnight and belongs to the day it starts on
         ("Fri 22:00-06:00" covers Friday night until Saturday 06:00)
  RATE   "2MB/s", "20Mbit/s" (units.parse_rate) or `off` (no cap)
The first entry that matches wins; outside every entry, transfer.max_bandwidth applies.

rate_at() is pure (a datetime in, a rate out); the throttle asks it about once a second.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from . import units

FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
DAY_SECONDS = 24 * 3600


class ScheduleError(ValueError):
    """A bad entry; the message names it and says what is expected."""


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start: int  # seconds after local midnight
    end: int  # seconds after midnight; <= start: the window crosses midnight
    rate: Optional[int]  # bytes/s; None = off (no cap)

    def matches(self, when: dt.datetime) -> bool:
        day, t = when.weekday(), when.hour * 3600 + when.minute * 60 + when.second
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        return ((day in self.days and t >= self.start)
                or ((day - 1) % 7 in self.days and t < self.end))


def _day(name: str) -> int:
    """Mon..Sun (or the full name, any case) -> 0..6; -1 when it is no day."""
    key = name.strip().lower()
    for i, full in enumerate(FULL_NAMES):
        if len(key) >= 3 and full.startswith(key):
            return i
    return -1


def _days(text: str, entry: str) -> frozenset[int]:
    if text == "*":
        return frozenset(range(7))
    out: set[int] = set()
    for item in text.split(","):
        first, _, last = item.partition("-")
        a = _day(first)
        b = _day(last) if last else a
        if a < 0 or b < 0:
            raise ScheduleError(f'"{entry}": unknown day "{item}" (use Mon, Tue ... Sun, ranges '
                                'like Mon-Fri, lists like Sat,Sun, or *)')
        out.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(out)


def _seconds(text: str, entry: str, is_end: bool) -> int:
    m = _TIME.match(text)
    if m:
        h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if (h, mi, s) == (24, 0, 0) and is_end:
            return DAY_SECONDS
        if h < 24 and mi < 60 and s < 60:
            return h * 3600 + mi * 60 + s
    raise ScheduleError(f'"{entry}": "{text}" is not a time of day (write HH:MM, e.g. 07:00 '
                        'or 23:30; 24:00 only as an end)')


def parse_entry(entry: Any) -> Window:
    if not isinstance(entry, str):
        raise ScheduleError(f"{entry!r} is not text: write entries like \"Mon-Fri 07:00-23:00 1MB/s\"")
    words = entry.split()
    if len(words) != 3 or words[1].count("-") != 1:
        raise ScheduleError(f'"{entry}" is not "DAYS START-END RATE", e.g. "Mon-Fri 07:00-23:00 '
                            '1MB/s" or "* 01:00-05:00 off"')
    days_text, span, rate_text = words
    start_text, end_text = span.split("-")
    start, end = _seconds(start_text, entry, False), _seconds(end_text, entry, True)
    if start == end % DAY_SECONDS and end != DAY_SECONDS:
        raise ScheduleError(f'"{entry}": the window starts and ends at the same time (write '
                            '00:00-24:00 for a whole day)')
    if rate_text.lower() == "off":
        rate = None
    else:
        try:
            rate = units.parse_rate(rate_text)
        except ValueError as exc:
            raise ScheduleError(f'"{entry}": {exc}, or off') from None
    return Window(_days(days_text, entry), start, end, rate)


def parse_schedule(entries: Any) -> tuple[Window, ...]:
    return tuple(parse_entry(e) for e in entries)


def rate_at(schedule: tuple[Window, ...], when: dt.datetime, default: Optional[int]) -> Optional[int]:
    """The cap at local time `when`: the first matching window's rate, else `default`."""
    for window in schedule:
        if window.matches(when):
            return window.rate
    return default


def rate_source(transfer: Any, now: Callable[[], dt.datetime] = dt.datetime.now
                ) -> Callable[[], Optional[int]]:
    """The throttle's rate for a config's `transfer` section, asked at the local time now."""
    schedule = parse_schedule(transfer.bandwidth_schedule)
    default = transfer.bandwidth_bytes
    if not schedule:
        return lambda: default
    return lambda: rate_at(schedule, now(), default)
