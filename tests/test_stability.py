"""Tables for the pure stability rules: fold_observation(), classify(), worth_recheck()."""

from __future__ import annotations

from typing import Optional

import pytest

from reconciler.models import LocalFile, Observation, Readiness
from reconciler.stability import StabilityPolicy, classify, fold_observation, worth_recheck

NOW = 1_700_000_000.0
R, G, Y, S, E = (Readiness.READY, Readiness.GROWING, Readiness.TOO_YOUNG, Readiness.SETTLING,
                 Readiness.EMPTY)


def lf(size: int = 100, age: float = 3600, mtime_ns: Optional[int] = None) -> LocalFile:
    mtime = mtime_ns if mtime_ns is not None else round((NOW - age) * 10**9)
    return LocalFile("/w", "a.mp4", size, mtime)


def obs(f: LocalFile, count: int, first: float = NOW - 300, size: Optional[int] = None,
        mtime_ns: Optional[int] = None) -> Observation:
    return Observation(f.size if size is None else size,
                       f.mtime_ns if mtime_ns is None else mtime_ns, count, first)


F = lf()


@pytest.mark.parametrize(
    ("name", "previous", "file", "expected"),
    [
        ("first look", None, F, Observation(100, F.mtime_ns, 1, NOW)),
        ("unchanged counts up, keeps first_seen", obs(F, 1), F, Observation(100, F.mtime_ns, 2, NOW - 300)),
        ("unchanged again", obs(F, 7), F, Observation(100, F.mtime_ns, 8, NOW - 300)),
        ("size moved restarts", obs(F, 5, size=99), F, Observation(100, F.mtime_ns, 1, NOW)),
        ("mtime moved restarts", obs(F, 5, mtime_ns=F.mtime_ns - 1), F,
         Observation(100, F.mtime_ns, 1, NOW)),
        ("shrunk restarts", obs(F, 5, size=1000), F, Observation(100, F.mtime_ns, 1, NOW)),
    ],
)
def test_observe(name, previous, file, expected) -> None:
    assert fold_observation(previous, file, NOW) == expected, name


def _prev(count: Optional[int], f: LocalFile, moved: bool = False) -> Optional[Observation]:
    if count is None:
        return None
    return obs(f, count, size=f.size + 1 if moved else None)


# (name, checks, prior count or None, moved since, file size, age, min_age, skip_empty, readiness)
CLASSIFY = [
    ("checks 1, first look, old", 1, None, False, 100, 3600, 60, True, R),
    ("checks 1, first look, young", 1, None, False, 100, 10, 60, True, Y),
    ("checks 2, first look", 2, None, False, 100, 3600, 60, True, S),
    ("checks 2, second look unchanged", 2, 1, False, 100, 3600, 60, True, R),
    ("checks 2, second look moved", 2, 1, True, 100, 3600, 60, True, G),
    ("checks 2, many looks unchanged", 2, 9, False, 100, 3600, 60, True, R),
    ("checks 3, first look", 3, None, False, 100, 3600, 60, True, S),
    ("checks 3, second look", 3, 1, False, 100, 3600, 60, True, S),
    ("checks 3, third look", 3, 2, False, 100, 3600, 60, True, R),
    ("checks 3, third look moved", 3, 2, True, 100, 3600, 60, True, G),
    ("min_age: one second short", 2, 1, False, 100, 59, 60, True, Y),
    ("min_age: exactly old enough", 2, 1, False, 100, 60, 60, True, R),
    ("min_age: fraction short", 2, 1, False, 100, 59.5, 60, True, Y),
    ("min_age 0 accepts a fresh file", 2, 1, False, 100, 0, 0, True, R),
    ("mtime in the future, first look, is too young", 2, None, False, 100, -30, 60, True, Y),
    ("growing beats too young", 2, 1, True, 100, 5, 60, True, G),
    ("too young beats settling", 2, None, False, 100, 5, 60, True, Y),
    ("empty skipped", 2, 3, False, 0, 3600, 60, True, E),
    ("empty skipped even on first look", 1, None, False, 0, 3600, 60, True, E),
    ("empty beats growing", 2, 3, True, 0, 3600, 60, True, E),
    ("empty allowed with skip_empty false", 2, 1, False, 0, 3600, 60, False, R),
    ("empty allowed but settling", 2, None, False, 0, 3600, 60, False, S),
]


@pytest.mark.parametrize(
    ("name", "checks", "count", "moved", "size", "age", "min_age", "skip_empty", "expected"),
    CLASSIFY, ids=[row[0] for row in CLASSIFY])
def test_classify(name, checks, count, moved, size, age, min_age, skip_empty, expected) -> None:
    f = lf(size=size, age=age)
    policy = StabilityPolicy(checks=checks, min_age_seconds=min_age, skip_empty=skip_empty)
    readiness, seen = classify(f, _prev(count, f, moved), NOW, policy)
    assert readiness is expected
    assert seen == fold_observation(_prev(count, f, moved), f, NOW), "returns the history to persist"


def test_classify_does_not_judge_open_files() -> None:
    """OPEN and LOCKED are the probe's to say; classify never returns them."""
    for row in CLASSIFY:
        assert row[-1] not in (Readiness.OPEN, Readiness.LOCKED)
    readiness, _ = classify(F, obs(F, 1), NOW, StabilityPolicy())
    assert readiness is Readiness.READY


# Clock skew: the camera or FTP client writes mtimes ahead of ours. Age then counts from when this
# size+mtime was first seen, so the file is not "too young" forever.
# (name, mtime ahead of NOW by, first seen this long ago (None: first look), checks, min_age, expected)
FUTURE = [
    ("1 h ahead, first look", 3600, None, 2, 60, Y),
    ("1 h ahead, first look, checks 1", 3600, None, 1, 60, Y),
    ("1 h ahead, first look, min_age 0", 3600, None, 1, 0, R),
    ("1 h ahead, unchanged since 59 s", 3600, 59, 2, 60, Y),
    ("1 h ahead, unchanged since 59.5 s", 3600, 59.5, 2, 60, Y),
    ("1 h ahead, unchanged since exactly min_age", 3600, 60, 2, 60, R),
    ("1 h ahead, unchanged since 10 min", 3600, 600, 2, 60, R),
    ("1 h ahead, unchanged since 10 min, checks 3 wants a third look", 3600, 600, 3, 60, S),
    ("a year ahead, unchanged since 61 s", 365 * 86400, 61, 2, 60, R),
    ("1 s ahead, unchanged since 61 s", 1, 61, 2, 60, R),
    ("1 s ahead, unchanged since 30 s", 1, 30, 2, 60, Y),
]


@pytest.mark.parametrize(("name", "ahead", "seen_ago", "checks", "min_age", "expected"), FUTURE,
                         ids=[row[0] for row in FUTURE])
def test_classify_future_mtime_ages_from_first_seen(name, ahead, seen_ago, checks, min_age,
                                                    expected) -> None:
    f = lf(age=-ahead)
    previous = None if seen_ago is None else obs(f, 1, first=NOW - seen_ago)
    policy = StabilityPolicy(checks=checks, min_age_seconds=min_age)
    readiness, seen = classify(f, previous, NOW, policy)
    assert readiness is expected
    assert seen.first_seen == (NOW if previous is None else previous.first_seen), "first_seen kept"


def test_future_mtime_that_keeps_changing_is_growing_not_ready() -> None:
    """Only an unchanged size+mtime counts: a skewed writer that is still writing never ages."""
    f = lf(age=-3600)
    previous = obs(f, 4, first=NOW - 600, mtime_ns=f.mtime_ns - 10**9)
    readiness, seen = classify(f, previous, NOW, StabilityPolicy())
    assert readiness is G
    assert seen.first_seen == NOW


def test_future_mtime_becomes_ready_min_age_after_first_seen_over_passes() -> None:
    """Task Scheduler every 5 minutes: the second pass uploads it, not 'never'."""
    f = lf(age=-86400)
    policy = StabilityPolicy(checks=2, min_age_seconds=60)
    verdicts = []
    history = None
    for t in (NOW, NOW + 300, NOW + 600):
        readiness, history = classify(f, history, t, policy)
        verdicts.append(readiness)
    assert verdicts == [Y, R, R]


# (name, checks, count after this look, age, settle, min_age, size, skip_empty, expected)
RECHECK = [
    ("checks 2, first look, old", 2, 1, 3600, 2, 60, 100, True, True),
    ("checks 2, first look, young even after the wait", 2, 1, 30, 2, 60, 100, True, False),
    ("checks 2, old enough exactly after the wait", 2, 1, 58, 2, 60, 100, True, True),
    ("checks 2, half a second short after the wait", 2, 1, 57.5, 2, 60, 100, True, False),
    ("checks 3, first look: two more looks needed", 3, 1, 3600, 2, 60, 100, True, False),
    ("checks 3, second look", 3, 2, 3600, 2, 60, 100, True, True),
    ("checks 1: stable, only young", 1, 1, 59, 2, 60, 100, True, True),
    ("stable for many looks, young", 2, 6, 59, 2, 60, 100, True, True),
    ("empty with skip_empty", 2, 1, 3600, 2, 60, 0, True, False),
    ("empty without skip_empty", 2, 1, 3600, 2, 60, 0, False, True),
    ("settle 0", 2, 1, 3600, 0, 60, 100, True, True),
]


@pytest.mark.parametrize(
    ("name", "checks", "count", "age", "settle", "min_age", "size", "skip_empty", "expected"),
    RECHECK, ids=[row[0] for row in RECHECK])
def test_worth_recheck(name, checks, count, age, settle, min_age, size, skip_empty, expected) -> None:
    f = lf(size=size, age=age)
    policy = StabilityPolicy(checks=checks, min_age_seconds=min_age, skip_empty=skip_empty)
    assert worth_recheck(f, obs(f, count), NOW, settle, policy) is expected


# (name, mtime ahead of NOW by, first seen this long ago, settle, min_age, expected)
RECHECK_FUTURE = [
    ("1 h ahead, seen 58 s ago: old enough after a 2 s wait", 3600, 58, 2, 60, True),
    ("1 h ahead, seen 57.5 s ago: half a second short", 3600, 57.5, 2, 60, False),
    ("1 h ahead, seen just now", 3600, 0, 2, 60, False),
    ("1 s ahead, seen 58 s ago: the mtime is past after the wait", 1, 58, 2, 60, False),
    ("1 s ahead, seen 70 s ago, the mtime 59 s old after the wait", 1, 70, 60, 60, False),
    ("1 s ahead, seen 70 s ago, the mtime 61 s old after the wait", 1, 70, 62, 60, True),
]


@pytest.mark.parametrize(("name", "ahead", "seen_ago", "settle", "min_age", "expected"), RECHECK_FUTURE,
                         ids=[row[0] for row in RECHECK_FUTURE])
def test_worth_recheck_future_mtime(name, ahead, seen_ago, settle, min_age, expected) -> None:
    f = lf(age=-ahead)
    policy = StabilityPolicy(checks=2, min_age_seconds=min_age)
    seen = obs(f, 1, first=NOW - seen_ago)  # this look's history: first seen `seen_ago` s ago
    assert worth_recheck(f, seen, NOW, settle, policy) is expected
    if expected:  # the promise: after the wait and one more unchanged look, READY
        assert classify(f, seen, NOW + settle, policy)[0] is R


@pytest.mark.parametrize("checks", [1, 2, 3, 4])
def test_a_recheck_that_is_worth_it_makes_the_file_ready(checks: int) -> None:
    """worth_recheck's promise: after `settle` and one more unchanged look, READY."""
    policy = StabilityPolicy(checks=checks, min_age_seconds=60)
    f = lf(age=59)
    history = None
    for _ in range(checks - 1 or 1):
        _, history = classify(f, history, NOW, policy)
    assert history is not None and worth_recheck(f, history, NOW, 2, policy)
    readiness, _ = classify(f, history, NOW + 2, policy)
    assert readiness is Readiness.READY
