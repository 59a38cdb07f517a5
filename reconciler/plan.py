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
    manifest row, no local file, never uploaded        -> forget GONE
    manifest row, no local file, uploaded at least     -> forget PRUNED (the bucket keeps it;
      prune_after ago, its watch dir not empty-looking      any listing mode)
    (an observation first seen "in the future" counts from now: the clock had run fast)
    remote only                                        -> nothing (never deleted)
    leftover multipart uploads                         -> see settle_multiparts

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

Then the disk guard (after_upload.keep_free), per volume: when the observed free space is
below keep_free, uploaded-and-unchanged files (skip UPLOADED) become delete DISK_GUARD (move
with action: move), oldest recording (mtime) first, until the projected free space reaches
keep_free; files already planned for after_upload count as freed. Never a file not uploaded,
changed since upload or missing remotely (those are not UPLOADED skips); execute verifies the
current bytes and checks for writers before it acts. Still short with nothing left to
choose: the volume's watch dirs go into Plan.disk_short (an alert).

A conditional write (If-None-Match) that finds its key taken asks `when_taken()` what the
HEAD of that key means; its table:

    HEAD finds nothing                                 -> AGAIN (conditional write again)
    HEAD: same size and checksum (or ETag)             -> ADOPT (our bytes are there)
    HEAD denied (write-only credentials)               -> UNVERIFIED: recorded "uploaded
                                                          (unverified)", kept locally, not resent
    other content, on_conflict skip                    -> SKIP
    other content, on_conflict overwrite               -> OVERWRITE
    other content, keep_both, plain key                -> KEEP_BOTH (the alternative key)
    other content, keep_both, alternative key too      -> FAIL
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Optional

from .keys import UnsafeKey, keep_both_key, key_for, live_base, reserved
from .models import (
    CREATING,
    Action,
    ActionKind,
    DiskSpace,
    EntryState,
    LiveState,
    LocalFile,
    ManifestEntry,
    MultipartDecision,
    MultipartStep,
    Observation,
    PendingMultipart,
    Plan,
    Readiness,
    Reason,
    RemoteObject,
    unchanged,
)
from .stability import StabilityPolicy, classify, worth_recheck

FileId = tuple[str, str]  # (watch dir, relative path)

# Verdicts that one in-pass re-stat may turn ready (TOO_YOUNG: old enough after the wait).
_RECHECK = (Readiness.SETTLING, Readiness.GROWING, Readiness.TOO_YOUNG)

# Waits of a file still being written: the ones a live segment may go out during.
_UNFINISHED = (Readiness.GROWING, Readiness.TOO_YOUNG, Readiness.OPEN)
_LIVE_WAITS = (Reason.GROWING, Reason.TOO_YOUNG, Reason.OPEN)

_SKIP_FOR = {
    Readiness.SETTLING: Reason.SETTLING,
    Readiness.GROWING: Reason.GROWING,
    Readiness.TOO_YOUNG: Reason.TOO_YOUNG,
    Readiness.OPEN: Reason.OPEN,
    Readiness.LOCKED: Reason.LOCKED,
    Readiness.EMPTY: Reason.EMPTY,
}


CROSS_PASS_BACKOFF_START = 60.0
CROSS_PASS_BACKOFF_CAP = 6 * 3600.0


def cross_pass_backoff(failures: int) -> float:
    """The back-off rule across passes, once a pass's attempts are spent: the file waits
    1 min, 2, 4 ... capped at 6 h, and does not hold up the others."""
    return min(CROSS_PASS_BACKOFF_CAP, CROSS_PASS_BACKOFF_START * 2 ** min(max(0, failures - 1), 30))


@dataclass(frozen=True)
class Policy:
    stability: StabilityPolicy
    prefixes: Mapping[str, str]  # watch dir -> its key prefix
    key_template: Optional[str] = None
    on_conflict: str = "keep_both"
    order: str = "newest_first"
    settle_seconds: float = 2.0
    after_upload: str = "keep"  # keep | delete | move
    after_upload_min_age: float = 0.0  # seconds since upload
    keep_free: Optional[tuple[str, float]] = None  # ("bytes", n) | ("percent", p): the disk guard
    part_size: int = 0  # transfer.multipart_chunksize in bytes: an upload resumes only with it
    backoff_cap: float = CROSS_PASS_BACKOFF_CAP  # no recorded next attempt lies further ahead
    prune_after: float = 24 * 3600.0  # an uploaded row of a gone file is kept this long after upload
    live: Optional[LivePolicy] = None  # None: live upload off (segments left are still cleaned up)
    resume: bool = True  # False with write-only keys: resuming lists the parts sent (a read)


@dataclass(frozen=True)
class LivePolicy:
    after_seconds: float = 60.0
    interval_seconds: float = 60.0
    min_segment_bytes: int = 1024 * 1024



@dataclass(frozen=True)
class Snapshot:
    local: Sequence[LocalFile]
    entries: Mapping[FileId, ManifestEntry]  # rows of the watch dirs that were scanned
    uploaded_by_identity: Mapping[tuple[int, int, int, int], str] = field(default_factory=dict)  # -> key
    remote: Optional[Mapping[str, RemoteObject]] = None  # None: not listed this pass
    excluded: Sequence[FileId] = ()
    prior: Mapping[FileId, Observation] = field(default_factory=dict)  # this pass's earlier look
    unread: Sequence[FileId] = ()  # (watch dir, "sub/folder/") the scan could not read
    disk: Mapping[str, DiskSpace] = field(default_factory=dict)  # watch dir -> its volume's space
    open_by: Mapping[FileId, str] = field(default_factory=dict)  # held open for writing -> "name (pid N)"
    multiparts: Sequence[PendingMultipart] = ()  # uploads an earlier run started and did not finish
    live: Mapping[FileId, LiveState] = field(default_factory=dict)  # segments sent so far


def _skip(reason: Reason, file: Optional[LocalFile], key: str, seen: Optional[Observation] = None,
          detail: str = "") -> Action:
    return Action(ActionKind.SKIP, reason, file, key, seen, detail)


def _conflict(file: LocalFile, key: str, seen: Observation, remote: Mapping[str, RemoteObject],
              on_conflict: str) -> Action:
    if on_conflict == "overwrite":
        return Action(ActionKind.UPLOAD, Reason.CONFLICT_OVERWRITE, file, key, seen, overwrite=True)
    if on_conflict == "skip":
        return _skip(Reason.CONFLICT_SKIP, file, key, seen)
    alt = keep_both_key(key, file.size, file.mtime_ns)
    theirs = remote.get(alt)
    if theirs is not None and theirs.size == file.size:
        return Action(ActionKind.ADOPT, Reason.ADOPT_REMOTE, file, alt, seen)
    return Action(ActionKind.UPLOAD, Reason.CONFLICT_KEEP_BOTH, file, alt, seen, detail=key)


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
    seen = snap.prior.get(fid) or (entry.observation if entry else None)
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
    if since is None and readiness in _UNFINISHED and policy.live is not None:
        since = now
    return readiness, replace(seen, since=since)


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
    this first look's observation (the planner's `prior` once they are re-stat-ed)."""
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
        return _conflict(file, key, seen, snap.remote or {}, policy.on_conflict)
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
    actions, short = _guard_disk(actions, snap, policy)
    roots_seen = {f.root for f in snap.local}
    for fid in sorted(snap.entries):
        entry = snap.entries[fid]
        if fid in present or any(fid[0] == root and fid[1].startswith(sub) for root, sub in snap.unread):
            continue  # here, or in a folder we could not read this pass: not known to be gone
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
    ordered, steps = settle_multiparts(_ordered(actions, policy.order), snap.multiparts, now, policy)
    return Plan(tuple(ordered), tuple(steps), short)


def _needed(space: DiskSpace, keep_free: tuple[str, float]) -> float:
    unit, amount = keep_free
    return amount if unit == "bytes" else space.total * amount / 100


def _guard_disk(actions: list[Action], snap: Snapshot,
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


# A leftover upload whose unchanged file waits this pass for one of these is kept, for a while.
_WAITING = {Reason.BACKOFF, Reason.SETTLING, Reason.OPEN, Reason.TOO_YOUNG, Reason.LOCKED}
KEEP_WAITING_SECONDS = 7 * 24 * 3600  # older leftovers are aborted even if their file waits


def settle_multiparts(actions: list[Action], pending: Sequence[PendingMultipart], now: float,
                      policy: Policy) -> tuple[list[Action], list[MultipartDecision]]:
    """The rows for multipart uploads an earlier run left (none lingers in the bucket):

        recorded before CreateMultipartUpload answered    -> FIND_UNKNOWN
        its file is uploaded this pass, unchanged, same key and part size -> RESUME (once;
                                                          never with write-only keys: ABORT)
        its unchanged file only waits this pass, younger than 7 days      -> KEEP
        otherwise (gone, changed, uploaded, waited too long)             -> ABORT
    """
    planned = {a.file.id: i for i, a in enumerate(actions) if a.kind is ActionKind.UPLOAD and a.file}
    waiting = {a.file.id: a.file for a in actions
               if a.kind is ActionKind.SKIP and a.file is not None and a.reason in _WAITING}
    out = list(actions)
    steps = []
    for mp in pending:
        step = MultipartStep.ABORT
        fid = (mp.root or "", mp.rel or "")
        i = planned.get(fid)
        if mp.upload_id.startswith(CREATING):
            step = MultipartStep.FIND_UNKNOWN
        elif policy.resume and i is not None and out[i].resume_id is None and out[i].file is not None \
                and mp.resumes(out[i].file, out[i].key, policy.part_size):  # type: ignore[arg-type]
            out[i] = replace(out[i], resume_id=mp.upload_id)
            step = MultipartStep.RESUME
        elif i is None and fid in waiting and unchanged(waiting[fid], mp) \
                and now - mp.started_at < KEEP_WAITING_SECONDS:
            step = MultipartStep.KEEP
        steps.append(MultipartDecision(step, mp))
    return out, steps


def _ordered(actions: list[Action], order: str) -> list[Action]:
    """Uploads first, in the configured order by mtime; the rest keep their sorted order."""
    uploads = [a for a in actions if a.kind is ActionKind.UPLOAD]
    rest = [a for a in actions if a.kind is not ActionKind.UPLOAD]
    newest = order == "newest_first"
    uploads.sort(key=lambda a: (-a.file.mtime_ns if newest else a.file.mtime_ns, a.key))  # type: ignore[union-attr]
    return uploads + rest


class Found(str, Enum):
    """What a HEAD says about a key that a conditional write found taken."""

    NOTHING = "nothing there"  # vacant after all (deleted meanwhile)
    SAME = "our bytes"  # same size, and checksum (or MD5 ETag)
    OTHER = "other content"
    DENIED = "read denied"  # write-only credentials: the store would not say


class Taken(str, Enum):
    AGAIN = "write again, conditionally"
    ADOPT = "already there"
    UNVERIFIED = "uploaded (unverified)"
    SKIP = "skip"
    OVERWRITE = "overwrite"
    KEEP_BOTH = "keep both"
    FAIL = "fail"


def when_taken(found: Found, on_conflict: str, alternative: bool) -> Taken:
    """The rule for a conditional write refused as existing (see the module's second table).

    `alternative`: the key refused was already keep_both's alternative key. A denied HEAD
    is most often our own PUT whose answer was lost and whose retry was refused: the bytes
    are very likely there, yet unconfirmed, so the file is neither resent nor deleted.
    """
    if found is Found.NOTHING:
        return Taken.AGAIN
    if found is Found.SAME:
        return Taken.ADOPT
    if found is Found.DENIED:
        return Taken.UNVERIFIED
    if on_conflict == "skip":
        return Taken.SKIP
    if on_conflict == "overwrite":
        return Taken.OVERWRITE
    return Taken.FAIL if alternative else Taken.KEEP_BOTH
