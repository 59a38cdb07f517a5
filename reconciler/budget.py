"""The order uploads go in: priority first, then `order`; and the daily budget's rows.

Before the leftovers are settled, the uploads are put in the order they will go: files
matching `priority` first, then the rest, each class by `order` (mtime). With
`daily_budget`, non-priority uploads are admitted in that order while bytes sent today
plus bytes admitted so far are under the budget (so the day overshoots by at most one file):
    non-priority upload, budget reached                -> skip  BUDGET (exit 0; next day)
    non-priority upload larger than the whole budget   -> upload only when nothing was sent
                                                          or admitted today (it goes alone)
    priority upload                                    -> upload, budget or not (counted)
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import replace

from .models import Action, ActionKind, Reason
from .snapshot import Policy


def is_priority(rel: str, patterns: Sequence[str]) -> bool:
    """Does a relative path match one of `priority`'s globs (case-insensitive)?"""
    name = rel.lower()
    return any(fnmatch.fnmatchcase(name, p.lower()) for p in patterns)


def ordered(actions: list[Action], policy: Policy, sent_today: int) -> list[Action]:
    """Uploads first, in the order they will go (priority class, then `order` by mtime),
    then BUDGET skips if the daily budget holds some back; the rest keep their order."""
    uploads = [a for a in actions if a.kind is ActionKind.UPLOAD]
    rest = [a for a in actions if a.kind is not ActionKind.UPLOAD]
    newest = policy.order == "newest_first"

    def rank(a: Action) -> tuple[bool, int, str]:
        f = a.file
        assert f is not None
        return (not is_priority(f.rel, policy.priority), -f.mtime_ns if newest else f.mtime_ns, a.key)

    uploads.sort(key=rank)
    if policy.daily_budget is None:
        return uploads + rest
    admitted, held = _admit(uploads, policy, sent_today)
    return admitted + rest + held


def _admit(uploads: list[Action], policy: Policy, sent_today: int) -> tuple[list[Action], list[Action]]:
    """Split ordered uploads into those that go this pass and BUDGET skips."""
    budget = policy.daily_budget or 0
    used = sent_today
    admitted: list[Action] = []
    held: list[Action] = []
    for a in uploads:
        size = a.file.size if a.file else 0
        urgent = a.file is not None and is_priority(a.file.rel, policy.priority)
        fits = used < budget and (size <= budget or used == 0)  # a huge file goes alone
        if urgent or fits:
            admitted.append(a)
            used += size
        else:
            held.append(replace(a, kind=ActionKind.SKIP, reason=Reason.BUDGET))
    return admitted, held
