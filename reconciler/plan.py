"""The planner: snapshots and `now` in, a Plan of actions with reasons out.

Pure: no clock, no I/O, no logging. One `decide()` per local file, visited in sorted
order so the same inputs always give the same plan. The case table, in order:

    name cannot be a key                               -> skip  BAD_NAME
    key under {prefix}_camup/ (the tool's own)         -> skip  RESERVED
    manifest: uploaded, same size, mtime and key       -> skip  UPLOADED (or after_upload
                                                          delete/move, once old enough)
      ... but recorded unverified (write-only keys)    -> skip  UNVERIFIED: never deleted or
                                                          moved locally, never resent
      ... but this pass's listing lacks the key        -> skip  REMOTE_MISSING (reported)
    another watch dir uploaded this very file (id)     -> adopt ADOPT_MOVED
    manifest: failed, next attempt in (now, now+cap]   -> skip  BACKOFF (a later date was
                                                          written by a clock that ran fast:
                                                          due now; cap = the longest back-off)
    not stable / young / empty                         -> skip  (its Readiness)
    ready, but another process holds it open (probe)   -> skip  OPEN
    listing: same key, same size, manifest unaware     -> adopt ADOPT_REMOTE (checksum checked
                                                          by execute where the store keeps one)
    manifest: uploaded, content changed since          -> upload CHANGED (overwrite ours)
    listing: same key, other size, manifest unaware    -> on_conflict: keep_both / overwrite / skip
    manifest: failed before                            -> upload RETRY
    otherwise                                          -> upload NEW
    manifest row in a folder skipped as unchanged      -> nothing (its files were not looked at)
    manifest row, no local file, never uploaded        -> forget GONE
    manifest row, no local file, uploaded at least     -> forget PRUNED (the bucket keeps it;
      prune_after ago, its watch dir not empty-looking      any listing mode)
    (an observation first seen "in the future" counts from now: the clock had run fast)
    remote only                                        -> nothing (never deleted)
    leftover multipart uploads                         -> see leftovers.settle_multiparts

The other rows live beside this module, each with its own table: live_rules (segments of
recordings still being written), diskguard (keep_free), budget (priority order and the daily
budget), leftovers (multipart uploads an earlier run left), conflicts (a key taken by other
content, and the answer to a refused conditional write).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from .budget import ordered
from .conflicts import Found, Taken, on_listed_conflict, when_taken
from .diskguard import guard_disk
from .keys import UnsafeKey, keep_both_key, key_for, reserved
from .leftovers import KEEP_WAITING_SECONDS, settle_multiparts
from .live_rules import UNFINISHED, live_segment
from .models import (
    Action,
    ActionKind,
    EntryState,
    LocalFile,
    ManifestEntry,
    Observation,
    Plan,
    Readiness,
    Reason,
    unchanged,
)
from .snapshot import (
    CROSS_PASS_BACKOFF_CAP,
    CROSS_PASS_BACKOFF_START,
    FileId,
    LivePolicy,
    Policy,
    Snapshot,
    cross_pass_backoff,
)
from .stability import classify, worth_recheck

# The planner's records and the rules beside it, importable from here as before.
__all__ = ["CROSS_PASS_BACKOFF_CAP", "CROSS_PASS_BACKOFF_START", "KEEP_WAITING_SECONDS", "FileId",
           "Found", "LivePolicy", "Policy", "Snapshot", "Taken", "cross_pass_backoff", "decide",
           "due_at", "plan", "ready_by_stability", "second_look", "settle_multiparts",
           "stability_of", "when_taken"]

# Verdicts that one in-pass re-stat may turn ready (TOO_YOUNG: old enough after the wait).
_RECHECK = (Readiness.SETTLING, Readiness.GROWING, Readiness.TOO_YOUNG)

_SKIP_FOR = {
    Readiness.SETTLING: Reason.SETTLING,
    Readiness.GROWING: Reason.GROWING,
    Readiness.TOO_YOUNG: Reason.TOO_YOUNG,
    Readiness.OPEN: Reason.OPEN,
    Readiness.LOCKED: Reason.LOCKED,
    Readiness.EMPTY: Reason.EMPTY,
}


def _skip(reason: Reason, file: Optional[LocalFile], key: str, seen: Optional[Observation] = None,
          detail: str = "") -> Action:
    return Action(ActionKind.SKIP, reason, file, key, seen, detail)


def _after_upload(file: LocalFile, entry: ManifestEntry, now: float, policy: Policy) -> Optional[Action]:
    """delete/move a local file only long enough after its upload; execute verifies first."""
    if policy.after_upload == "keep" or entry.uploaded_at is None:
        return None
    if now - entry.uploaded_at < policy.after_upload_min_age:
        return None
    kind = ActionKind.DELETE if policy.after_upload == "delete" else ActionKind.MOVE
    return Action(kind, Reason.UPLOADED, file, entry.key)


def _missing_remotely(key: str, file: LocalFile, snap: Snapshot, policy: Policy) -> bool:
    """A listing this pass shows that an object we uploaded is gone (deleted by someone)."""
    if snap.remote is None or key in snap.remote:
        return False
    return key.startswith(policy.prefixes[file.root])  # only keys the listing covered


def due_at(next_attempt_at: Optional[float], now: float, cap: float) -> Optional[float]:
    """When a failed file may be tried again; None: now. A date beyond now + cap was written
    while the clock ran fast (no back-off is longer): it would strand the file, so it is due."""
    if next_attempt_at is None or not now < next_attempt_at <= now + cap:
        return None
    return next_attempt_at


def _history(entry: Optional[ManifestEntry], snap: Snapshot, fid: FileId,
             now: float) -> Optional[Observation]:
    """The file's earlier observation; one dated in the future (a clock that ran fast) counts
    from now, or the file would wait for the clock to catch up."""
    seen = snap.first_look.get(fid) or (entry.observation if entry else None)
    if seen is not None and seen.first_seen > now:
        return replace(seen, first_seen=now)
    return seen


def _key_of(file: LocalFile, policy: Policy) -> tuple[str, Optional[Action]]:
    """The file's key, or the skip that says why it has none we may use."""
    try:
        key = key_for(policy.prefixes[file.root], file.rel, file.mtime_ns, policy.key_template)
    except UnsafeKey as exc:
        return "", _skip(Reason.BAD_NAME, file, "", detail=str(exc))
    if reserved(policy.prefixes[file.root], key):
        return key, _skip(Reason.RESERVED, file, key)
    return key, None


def _settled(file: LocalFile, entry: Optional[ManifestEntry], key: str, snap: Snapshot, now: float,
             policy: Policy) -> Optional[Action]:
    """The rows decided before stability matters: already uploaded, a moved twin, backing off."""
    same = entry is not None and unchanged(entry, file)
    # keep_both put our copy beside someone else's object: that key is ours too. (The
    # alternative is built only when the plain key differs: this runs per file per pass.)
    same_key = entry is not None and (
        entry.key == key or entry.key == keep_both_key(key, file.size, file.mtime_ns))
    if entry and entry.state is EntryState.UPLOADED and same and same_key:
        if _missing_remotely(entry.key, file, snap, policy):
            # Reported, not re-sent: the manifest answers "is it there?" (DESIGN), and a bucket
            # expiry rule would otherwise cause a re-upload of every expired clip each relist.
            return _skip(Reason.REMOTE_MISSING, file, entry.key)
        if entry.unverified:  # nothing we cannot verify is ever deleted, moved or resent
            return _skip(Reason.UNVERIFIED, file, entry.key)
        return _after_upload(file, entry, now, policy) or _skip(Reason.UPLOADED, file, entry.key)
    twin_key = snap.uploaded_by_identity.get(file.identity) if file.ino else None
    if twin_key == key:
        return Action(ActionKind.ADOPT, Reason.ADOPT_MOVED, file, key)
    if entry and entry.state is EntryState.FAILED and due_at(entry.next_attempt_at, now, policy.backoff_cap):
        return _skip(Reason.BACKOFF, file, key, detail=entry.last_error or "")
    return None


def _classify(file: LocalFile, entry: Optional[ManifestEntry], snap: Snapshot, now: float,
              policy: Policy) -> tuple[Readiness, Observation]:
    """The stability verdict, with the live clock kept: with live upload on, it starts when the
    file is first seen unfinished and is kept until the upload (the manifest clears it then)."""
    previous = _history(entry, snap, file.id, now)
    readiness, seen = classify(file, previous, now, policy.stability)
    since = previous.since if previous is not None else None
    if since is None and readiness in UNFINISHED and policy.live is not None:
        since = now
    return readiness, replace(seen, since=since)


def stability_of(file: LocalFile, snap: Snapshot, now: float,
                 policy: Policy) -> Optional[tuple[Readiness, Observation]]:
    """What the stability rows will say of `file`, or None when a row before them decides it.

    Observation uses this (pure) to know which files need a second look and which the
    open-file probe must examine, before the one call to plan().
    """
    entry = snap.entries.get(file.id)
    key, refused = _key_of(file, policy)
    if refused is not None or _settled(file, entry, key, snap, now, policy) is not None:
        return None
    return _classify(file, entry, snap, now, policy)


def second_look(snap: Snapshot, now: float, policy: Policy) -> list[tuple[LocalFile, Observation]]:
    """New candidates that one re-stat after `settle_seconds` can make ready this pass, with
    this first look's observation (the planner's `first_look` once they are re-stat-ed)."""
    out = []
    for file in sorted(snap.local, key=lambda f: f.id):
        verdict = stability_of(file, snap, now, policy)
        if verdict is None or verdict[0] not in _RECHECK:
            continue
        seen = verdict[1]
        if worth_recheck(file, seen, now, policy.settle_seconds, policy.stability):
            out.append((file, seen))
    return out


def ready_by_stability(snap: Snapshot, now: float, policy: Policy) -> list[LocalFile]:
    """Files the stability rules call ready: those the open-file probe must look at."""
    return [f for f in sorted(snap.local, key=lambda f: f.id)
            if (verdict := stability_of(f, snap, now, policy)) and verdict[0] is Readiness.READY]


def decide(file: LocalFile, entry: Optional[ManifestEntry], snap: Snapshot, now: float,
           policy: Policy) -> Action:
    """The one decision for one local file; see the module's case table."""
    action = _decide(file, entry, snap, now, policy)
    state = snap.live.get(file.id)
    if state is None:
        return action
    if action.kind is ActionKind.UPLOAD or action.reason is Reason.ADOPT_REMOTE:
        return replace(action, drop=state)  # dropped once the whole file is in the bucket
    if action.reason is Reason.UPLOADED:  # uploaded unchanged (kept, or delete/move due)
        return Action(ActionKind.CLEANUP, Reason.LIVE_DONE, file, action.key, drop=state)
    return action


def _decide(file: LocalFile, entry: Optional[ManifestEntry], snap: Snapshot, now: float,
            policy: Policy) -> Action:
    key, refused = _key_of(file, policy)
    settled = refused or _settled(file, entry, key, snap, now, policy)
    if settled is not None:
        return settled
    theirs = snap.remote.get(key) if snap.remote is not None else None
    ours = entry is not None and entry.uploaded_at is not None and entry.key == key
    readiness, seen = _classify(file, entry, snap, now, policy)
    state = snap.live.get(file.id)
    if readiness is not Readiness.READY:
        return live_segment(_skip(_SKIP_FOR[readiness], file, key, seen), state, now, policy)
    holder = snap.open_by.get(file.id)
    if holder is not None:  # a recorder paused mid-write looks stable: the probe knows better
        if policy.live is not None:  # held open by its writer: unfinished
            seen = replace(seen, since=seen.since or now)
        return live_segment(_skip(Reason.OPEN, file, key, seen, detail=holder), state, now, policy)
    if theirs is not None and not ours and theirs.size == file.size:
        # Only a finished file can match; execute checks the stored checksum before trusting it.
        return Action(ActionKind.ADOPT, Reason.ADOPT_REMOTE, file, key, seen)
    if entry and entry.state is EntryState.UPLOADED:
        return Action(ActionKind.UPLOAD, Reason.CHANGED, file, key, seen, overwrite=ours)
    if theirs is not None and not ours:  # ours: we wrote it, so overwrite below
        return on_listed_conflict(file, key, seen, snap.remote or {}, policy.on_conflict)
    reason = Reason.RETRY if entry and entry.state is EntryState.FAILED else Reason.NEW
    return Action(ActionKind.UPLOAD, reason, file, key, seen,
                  overwrite=ours or policy.on_conflict == "overwrite")


def plan(snap: Snapshot, now: float, policy: Policy) -> Plan:
    """Decide every local file and every orphaned manifest row; called once per pass, with
    every observation (the settle re-stat, the open-file probe, the listing) already made."""
    actions: list[Action] = []
    present = set()
    for file in sorted(snap.local, key=lambda f: f.id):
        fid = file.id
        present.add(fid)
        actions.append(decide(file, snap.entries.get(fid), snap, now, policy))
    for root, rel in sorted(snap.excluded):
        actions.append(_skip(Reason.EXCLUDED, LocalFile(root, rel, 0, 0), ""))
    actions, short = guard_disk(actions, snap, policy)
    roots_seen = {f.root for f in snap.local}
    skipped = set(snap.skipped)
    for fid in sorted(snap.entries):
        entry = snap.entries[fid]
        unread = any(fid[0] == root and fid[1].startswith(sub) for root, sub in snap.unreadable_folders)
        if fid in present or unread:
            continue  # here, or in a folder we could not read this pass: not known to be gone
        if skipped and (fid[0], fid[1][:fid[1].rfind("/") + 1]) in skipped:
            continue  # its folder was not listed this pass (only its own files; not subfolders)
        if entry.state is not EntryState.UPLOADED:
            reason = Reason.GONE
        elif entry.root in roots_seen and now - (entry.uploaded_at or 0) >= policy.prune_after:
            # Uploaded rows of gone files are pruned in every listing mode (else `listing: never`
            # grows the manifest for ever), never for a watch dir that looked empty (a share
            # half-mounted) nor under a folder the scan could not read (above).
            reason = Reason.PRUNED
        else:
            continue
        actions.append(Action(ActionKind.FORGET, reason, None, entry.key, detail=f"{entry.root}|{entry.rel}"))
    in_order, steps = settle_multiparts(ordered(actions, policy, snap.sent_today),
                                        snap.multiparts, now, policy)
    return Plan(tuple(in_order), tuple(steps), short)


