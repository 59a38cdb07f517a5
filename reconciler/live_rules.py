"""The live rows of the planner's case table (see plan.py for the rest).

Live rows (`live.enabled`), for a file still being written (growing, too young or held
open) whose live clock (`Observation.since`, first seen unfinished) is older than
`after_seconds`:

    clock younger than after_seconds                   -> skip  (its wait: not yet live)
    last segment less than interval_seconds ago        -> skip  (its wait)
    smaller than its segments' total, or its first
      segment's bytes changed (head hash)              -> segment LIVE_RESTART [0, size), seq 0,
                                                          the old segments dropped first
    grown by less than min_segment_mb since            -> skip  (its wait)
    otherwise                                          -> segment LIVE [sent, size), next seq
    ready, with live segments                          -> upload/adopt as above, then its
                                                          segments dropped (execute, on success)
    uploaded unchanged, live segments left             -> cleanup LIVE_DONE (drop them)
"""

from __future__ import annotations

from typing import Optional

from .keys import live_base
from .models import Action, ActionKind, LiveState, Readiness, Reason
from .snapshot import Policy

# Waits of a file still being written: the ones a live segment may go out during.
UNFINISHED = (Readiness.GROWING, Readiness.TOO_YOUNG, Readiness.OPEN)
_LIVE_WAITS = (Reason.GROWING, Reason.TOO_YOUNG, Reason.OPEN)


def live_segment(wait: Action, state: Optional[LiveState], now: float, policy: Policy) -> Action:
    """The live rows of the case table: a waiting unfinished file -> a segment when due."""
    live, file, seen = policy.live, wait.file, wait.observation
    if (live is None or file is None or seen is None or seen.since is None
            or wait.reason not in _LIVE_WAITS or file.size == 0):
        return wait
    if now - seen.since < live.after_seconds:
        return wait  # not yet live
    if state is not None and state.last_at is not None and now - state.last_at < live.interval_seconds:
        return wait  # one segment per interval
    base = live_base(policy.prefixes[file.root], wait.key)
    if state is not None and (file.size < state.sent or not state.head_intact):
        return Action(ActionKind.SEGMENT, Reason.LIVE_RESTART, file, base + f"{0:06d}", seen,
                      detail=wait.reason.value, span=(0, file.size), drop=state)
    sent, seq = (state.sent, state.segments) if state is not None else (0, 0)
    if state is not None:
        base = state.base  # a key template with {mtime} moves the key; the segments stay put
    if file.size - sent < live.min_segment_bytes:
        return wait
    return Action(ActionKind.SEGMENT, Reason.LIVE, file, f"{base}{seq:06d}", seen,
                  detail=wait.reason.value, span=(sent, file.size))
