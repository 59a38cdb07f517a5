"""Pure rules for "is this file finished?". No clock, no I/O: `now` comes in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .models import LocalFile, Observation, Readiness, unchanged


@dataclass(frozen=True)
class StabilityPolicy:
    checks: int = 2
    min_age_seconds: float = 60.0
    skip_empty: bool = True


def fold_observation(previous: Optional[Observation], file: LocalFile, now: float) -> Observation:
    """Fold one fresh stat into the file's history: unchanged size+mtime counts up."""
    if previous and unchanged(previous, file):
        return Observation(file.size, file.mtime_ns, previous.count + 1, previous.first_seen)
    return Observation(file.size, file.mtime_ns, 1, now)


def age_of(file: LocalFile, seen: Observation, now: float) -> float:
    """Seconds since the file last changed, by its mtime.

    A camera or FTP client with a fast clock writes mtimes in the future, which would stay
    "too young" for as long as the clocks disagree. While the mtime is in the future the age
    counts from min(mtime, first time this size+mtime was observed), so such a file becomes old
    enough min_age_seconds after it was first seen unchanged.
    """
    mtime = file.mtime_ns / 1e9
    if mtime <= now:
        return now - mtime
    return now - min(mtime, seen.first_seen)


def classify(
    file: LocalFile,
    previous: Optional[Observation],
    now: float,
    policy: StabilityPolicy,
) -> tuple[Readiness, Observation]:
    """READY only when every rule holds; otherwise the first rule that fails.

    Returns the verdict and the history including this observation (to persist).
    Whether another process holds the file open is the probe's to say (plan.apply_open_files).
    """
    seen = fold_observation(previous, file, now)
    if file.size == 0 and policy.skip_empty:
        return Readiness.EMPTY, seen
    if previous is not None and seen.count == 1:
        return Readiness.GROWING, seen  # it moved since we last looked
    if age_of(file, seen, now) < policy.min_age_seconds:
        return Readiness.TOO_YOUNG, seen
    if seen.count < policy.checks:
        return Readiness.SETTLING, seen
    return Readiness.READY, seen


def worth_recheck(file: LocalFile, seen: Observation, now: float, settle: float,
                  policy: StabilityPolicy) -> bool:
    """One in-pass re-stat after `settle` seconds can make this file ready this pass."""
    if file.size == 0 and policy.skip_empty:
        return False
    old_enough_after_wait = age_of(file, seen, now + settle) >= policy.min_age_seconds
    return seen.count >= policy.checks - 1 and old_enough_after_wait
