"""The disk guard rows of the planner's case table: free space only from verified uploads.

Then the disk guard (after_upload.keep_free), per volume: when the observed free space is
below keep_free, uploaded-and-unchanged files (skip UPLOADED) become delete DISK_GUARD (move
with action: move), oldest recording (mtime) first, until the projected free space reaches
keep_free; files already planned for after_upload count as freed. Never a file not uploaded,
changed since upload or missing remotely (those are not UPLOADED skips); execute verifies the
current bytes and checks for writers before it acts. Still short with nothing left to
choose: the volume's watch dirs go into Plan.disk_short (an alert).
"""

from __future__ import annotations

from .models import Action, ActionKind, DiskSpace, Reason
from .snapshot import Policy, Snapshot


def _needed(space: DiskSpace, keep_free: tuple[str, float]) -> float:
    unit, amount = keep_free
    return amount if unit == "bytes" else space.total * amount / 100


def guard_disk(actions: list[Action], snap: Snapshot,
                policy: Policy) -> tuple[list[Action], tuple[str, ...]]:
    """The disk guard rows of the case table: free space from verified uploads, oldest first."""
    if policy.keep_free is None or not snap.disk:
        return actions, ()
    kind = ActionKind.MOVE if policy.after_upload == "move" else ActionKind.DELETE
    volumes: dict[object, list[str]] = {}
    for root in sorted(snap.disk):
        volumes.setdefault(snap.disk[root].volume or root, []).append(root)
    out = list(actions)
    short: list[str] = []
    for roots in volumes.values():
        space = snap.disk[roots[0]]
        need = _needed(space, policy.keep_free)
        if space.free >= need:
            continue
        mine = [i for i, a in enumerate(out) if a.file is not None and a.file.root in roots]
        freed = sum(out[i].file.size for i in mine  # type: ignore[union-attr]
                    if out[i].kind in (ActionKind.DELETE, ActionKind.MOVE))
        candidates = sorted((i for i in mine if out[i].kind is ActionKind.SKIP
                             and out[i].reason is Reason.UPLOADED),
                            key=lambda i: (out[i].file.mtime_ns, out[i].file.id))  # type: ignore[union-attr]
        for i in candidates:
            if space.free + freed >= need:
                break
            a = out[i]
            out[i] = Action(kind, Reason.DISK_GUARD, a.file, a.key)
            freed += a.file.size  # type: ignore[union-attr]
        if space.free + freed < need:
            short.extend(roots)
    return out, tuple(short)
