"""The planner's case table, one row per rule of reconciler/plan.py's docstring.

No file system, no clock, no server: records in, a Plan out.
"""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import pytest

from reconciler.keys import keep_both_key
from reconciler.models import (
    ActionKind,
    EntryState,
    LiveState,
    LocalFile,
    ManifestEntry,
    MultipartStep,
    Observation,
    PendingMultipart,
    Reason,
    RemoteObject,
)
from reconciler.plan import (
    CROSS_PASS_BACKOFF_CAP,
    Found,
    LivePolicy,
    Policy,
    Snapshot,
    Taken,
    cross_pass_backoff,
    plan,
    ready_by_stability,
    second_look,
    when_taken,
)
from reconciler.stability import StabilityPolicy

NOW = 1_700_000_000.0
A = "/watch/a"  # prefix cam/
B = "/watch/b"  # prefix cam/ too: a file moved from A to B keeps its key
C = "/watch/c"  # prefix other/
PREFIXES = {A: "cam/", B: "cam/", C: "other/"}
PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"
FORBIDDEN = {"os", "time", "boto3", "sqlite3", "psutil", "loguru", "yaml"}


# ---- builders ---------------------------------------------------------------------------
def lf(rel: str = "x.mp4", size: int = 100, age: int = 3600, root: str = A, ino: int = 0,
       dev: int = 1) -> LocalFile:
    """A local file whose mtime is `age` seconds before NOW (whole seconds: exact floats)."""
    return LocalFile(root, rel, size, (int(NOW) - age) * 10**9, dev, ino)


def seen(f: LocalFile, count: int = 1, first_seen: float = NOW - 120) -> Observation:
    """The history a previous pass left for exactly this size and mtime."""
    return Observation(f.size, f.mtime_ns, count, first_seen)


def entry(f: LocalFile, state: EntryState, key: Optional[str] = None, **kw) -> ManifestEntry:
    if state is EntryState.UPLOADED:
        kw.setdefault("uploaded_at", NOW - 7200)
        kw.setdefault("size", f.size)
        kw.setdefault("mtime_ns", f.mtime_ns)
        kw.setdefault("dev", f.dev)
        kw.setdefault("ino", f.ino)
    return ManifestEntry(f.root, f.rel, key or PREFIXES[f.root] + f.rel, state, **kw)


def policy(**kw) -> Policy:
    stab = StabilityPolicy(kw.pop("checks", 2), kw.pop("min_age", 60.0), kw.pop("skip_empty", True))
    return Policy(stability=stab, prefixes=PREFIXES, **kw)


def snapshot(files=(), entries=(), twins=(), remote=None, excluded=(), prior=None, open_by=None,
             sent_today: int = 0) -> Snapshot:
    return Snapshot(
        local=list(files),
        entries={(e.root, e.rel): e for e in entries},
        uploaded_by_identity={(e.dev, e.ino, e.size, e.mtime_ns): e.key for e in twins},
        remote=None if remote is None else {o.key: o for o in remote},
        excluded=list(excluded),
        first_look=prior or {},
        open_by=open_by or {},
        sent_today=sent_today,
    )


# ---- the case table ------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    file: LocalFile
    kind: ActionKind
    reason: Reason
    key: Optional[str] = None  # None: don't care
    overwrite: Optional[bool] = None
    entry: Optional[ManifestEntry] = None
    twins: tuple = ()
    remote: Optional[tuple] = None
    prior: Optional[Observation] = None
    policy: dict = field(default_factory=dict)
    detail: Optional[str] = None
    sent_today: int = 0


F = lf()  # an hour old, 100 bytes, at A/x.mp4 -> cam/x.mp4
STABLE = entry(F, EntryState.PENDING, observation=seen(F))  # one earlier look: now it is ready
MOVED = lf(root=B, ino=77)  # came over from watch dir A, where it was uploaded
MOVED_TWIN = entry(replace(MOVED, root=A), EntryState.UPLOADED)
MOVED_C = lf(root=C, ino=77)  # same file id, but its prefix gives another key
ALT = keep_both_key("cam/x.mp4", F.size, F.mtime_ns)

CASES = [
    Case("backslash name: escaped", lf("a\\b.mp4"), ActionKind.SKIP, Reason.SETTLING,
         key="cam/a%5Cb.mp4"),
    Case("control char name: escaped", lf("a\x01b.mp4"), ActionKind.UPLOAD, Reason.NEW,
         key="cam/a%01b.mp4", prior=seen(lf("a\x01b.mp4"))),
    Case("name that is not UTF-8: cannot be stored", lf("bad\udcff.mp4"), ActionKind.SKIP,
         Reason.BAD_NAME, key=""),
    Case("key over 1,024 bytes: cannot be stored", lf("d/" + "a" * 1030), ActionKind.SKIP,
         Reason.BAD_NAME, key=""),
    Case("dot-dot name", lf("../x.mp4"), ActionKind.SKIP, Reason.BAD_NAME, key=""),
    Case("maps under the prefix's _camup/: reserved", lf("_camup/live/x.mp4"), ActionKind.SKIP,
         Reason.RESERVED, key="cam/_camup/live/x.mp4", prior=seen(lf("_camup/live/x.mp4"))),
    Case("_camup elsewhere in the path is an ordinary name", lf("cam1/_camup/x.mp4"),
         ActionKind.UPLOAD, Reason.NEW, key="cam/cam1/_camup/x.mp4",
         prior=seen(lf("cam1/_camup/x.mp4"))),
    Case("uploaded and unchanged", F, ActionKind.SKIP, Reason.UPLOADED, key="cam/x.mp4",
         entry=entry(F, EntryState.UPLOADED)),
    Case("uploaded unchanged wins over a remote of other size", F, ActionKind.SKIP,
         Reason.UPLOADED, entry=entry(F, EntryState.UPLOADED),
         remote=(RemoteObject("cam/x.mp4", 5),)),
    Case("uploaded under another prefix: goes again under the new key once stable", F,
         ActionKind.SKIP, Reason.SETTLING, key="cam/x.mp4",
         entry=entry(F, EntryState.UPLOADED, key="old/x.mp4")),
    Case("uploaded under another prefix, stable: uploaded to the new key", F, ActionKind.UPLOAD,
         Reason.CHANGED, key="cam/x.mp4", overwrite=False, prior=seen(F),
         entry=entry(F, EntryState.UPLOADED, key="old/x.mp4")),
    Case("uploaded, but this pass's listing lacks the key: reported, not re-sent", F,
         ActionKind.SKIP, Reason.REMOTE_MISSING, key="cam/x.mp4", remote=(),
         entry=entry(F, EntryState.UPLOADED)),
    Case("uploaded, and the listing has the key", F, ActionKind.SKIP, Reason.UPLOADED,
         remote=(RemoteObject("cam/x.mp4", 100),), entry=entry(F, EntryState.UPLOADED)),
    Case("uploaded under a template key outside the listed prefix: not judged missing", F,
         ActionKind.SKIP, Reason.UPLOADED, remote=(), entry=entry(F, EntryState.UPLOADED, key="x.mp4"),
         policy={"key_template": "{name}"}),
    Case("identity twin from another watch dir, same key", MOVED, ActionKind.ADOPT,
         Reason.ADOPT_MOVED, key="cam/x.mp4", twins=(MOVED_TWIN,)),
    Case("identity twin adopts even while unstable", MOVED, ActionKind.ADOPT, Reason.ADOPT_MOVED,
         twins=(MOVED_TWIN,), policy={"checks": 5}),
    Case("identity twin but ino 0 (no file id)", lf(root=B), ActionKind.UPLOAD, Reason.NEW,
         twins=(entry(lf(root=A), EntryState.UPLOADED),), prior=seen(F)),
    Case("identity twin but another key", MOVED_C, ActionKind.UPLOAD, Reason.NEW,
         key="other/x.mp4", twins=(MOVED_TWIN,), prior=seen(MOVED_C)),
    Case("identity twin of another size", lf(root=B, ino=77, size=101), ActionKind.UPLOAD,
         Reason.NEW, twins=(MOVED_TWIN,), prior=seen(lf(root=B, ino=77, size=101))),
    Case("remote same size, manifest unaware", F, ActionKind.ADOPT, Reason.ADOPT_REMOTE,
         key="cam/x.mp4", remote=(RemoteObject("cam/x.mp4", 100),), prior=seen(F)),
    Case("remote same size never adopts a file still being written", lf(age=5), ActionKind.SKIP,
         Reason.TOO_YOUNG, remote=(RemoteObject("cam/x.mp4", 100),)),
    Case("remote same size waits for the file to be stable", F, ActionKind.SKIP, Reason.SETTLING,
         remote=(RemoteObject("cam/x.mp4", 100),)),
    Case("remote same size, pending row", F, ActionKind.ADOPT, Reason.ADOPT_REMOTE,
         entry=STABLE, remote=(RemoteObject("cam/x.mp4", 100),)),
    Case("remote same size but the object is ours from before: changed", F, ActionKind.UPLOAD,
         Reason.CHANGED, overwrite=True,
         entry=entry(F, EntryState.UPLOADED, size=50, observation=seen(F)),
         remote=(RemoteObject("cam/x.mp4", 100),)),
    Case("remote zero-byte object, empty file", lf(size=0), ActionKind.SKIP, Reason.EMPTY,
         remote=(RemoteObject("cam/x.mp4", 0),)),
    Case("remote other size: keep_both", F, ActionKind.UPLOAD, Reason.CONFLICT_KEEP_BOTH,
         key=ALT, overwrite=False, entry=STABLE, remote=(RemoteObject("cam/x.mp4", 5),),
         detail="cam/x.mp4"),
    Case("remote other size: keep_both copy already there", F, ActionKind.ADOPT,
         Reason.ADOPT_REMOTE, key=ALT, entry=STABLE,
         remote=(RemoteObject("cam/x.mp4", 5), RemoteObject(ALT, 100))),
    Case("remote other size: overwrite", F, ActionKind.UPLOAD, Reason.CONFLICT_OVERWRITE,
         key="cam/x.mp4", overwrite=True, entry=STABLE, remote=(RemoteObject("cam/x.mp4", 5),),
         policy={"on_conflict": "overwrite"}),
    Case("remote other size: skip", F, ActionKind.SKIP, Reason.CONFLICT_SKIP, key="cam/x.mp4",
         entry=STABLE, remote=(RemoteObject("cam/x.mp4", 5),), policy={"on_conflict": "skip"}),
    Case("remote other size waits for stability first", F, ActionKind.SKIP, Reason.SETTLING,
         remote=(RemoteObject("cam/x.mp4", 5),)),
    Case("failed, next attempt in the future", F, ActionKind.SKIP, Reason.BACKOFF,
         key="cam/x.mp4", detail="S3 answered 503",
         entry=entry(F, EntryState.FAILED, observation=seen(F), attempts=2,
                     next_attempt_at=NOW + 1, last_error="S3 answered 503")),
    Case("failed, next attempt exactly at the longest back-off", F, ActionKind.SKIP,
         Reason.BACKOFF, entry=entry(F, EntryState.FAILED, observation=seen(F),
                                     next_attempt_at=NOW + 6 * 3600)),
    Case("failed, next attempt beyond the longest back-off (the clock ran fast): due", F,
         ActionKind.UPLOAD, Reason.RETRY, entry=entry(F, EntryState.FAILED, observation=seen(F),
                                                      next_attempt_at=NOW + 365 * 86400)),
    Case("a shorter back-off cap applies as configured", F, ActionKind.UPLOAD, Reason.RETRY,
         entry=entry(F, EntryState.FAILED, observation=seen(F), next_attempt_at=NOW + 61),
         policy={"backoff_cap": 60}),
    Case("observation first seen in the future counts from now", lf(age=-86400 * 365),
         ActionKind.UPLOAD, Reason.NEW, policy={"min_age": 0},
         prior=seen(lf(age=-86400 * 365), first_seen=NOW + 365 * 86400)),
    Case("future mtime, history dated in the future: waits min_age from now", lf(age=-86400),
         ActionKind.SKIP, Reason.TOO_YOUNG,
         prior=seen(lf(age=-86400), first_seen=NOW + 86400)),
    Case("failed, next attempt passed", F, ActionKind.UPLOAD, Reason.RETRY, key="cam/x.mp4",
         entry=entry(F, EntryState.FAILED, observation=seen(F), attempts=2,
                     next_attempt_at=NOW - 1, last_error="boom")),
    Case("failed, next attempt exactly now", F, ActionKind.UPLOAD, Reason.RETRY,
         entry=entry(F, EntryState.FAILED, observation=seen(F), next_attempt_at=NOW)),
    Case("failed in the past but not stable again", F, ActionKind.SKIP, Reason.SETTLING,
         entry=entry(F, EntryState.FAILED, next_attempt_at=NOW - 1)),
    Case("first seen: settling", F, ActionKind.SKIP, Reason.SETTLING, key="cam/x.mp4"),
    Case("seen once, checks 3: settling", F, ActionKind.SKIP, Reason.SETTLING, entry=STABLE,
         policy={"checks": 3}),
    Case("first seen, checks 1: ready", F, ActionKind.UPLOAD, Reason.NEW, policy={"checks": 1}),
    Case("size moved since last look: growing", F, ActionKind.SKIP, Reason.GROWING,
         entry=entry(F, EntryState.PENDING, observation=Observation(90, F.mtime_ns, 3, NOW - 99))),
    Case("mtime moved since last look: growing", F, ActionKind.SKIP, Reason.GROWING,
         entry=entry(F, EntryState.PENDING, observation=Observation(100, F.mtime_ns - 1, 3, 0))),
    Case("stable but too young", lf(age=59), ActionKind.SKIP, Reason.TOO_YOUNG,
         entry=entry(lf(age=59), EntryState.PENDING, observation=seen(lf(age=59)))),
    Case("stable and exactly min_age old", lf(age=60), ActionKind.UPLOAD, Reason.NEW,
         prior=seen(lf(age=60))),
    Case("empty file", lf(size=0), ActionKind.SKIP, Reason.EMPTY,
         prior=seen(lf(size=0), count=9)),
    Case("empty file allowed when skip_empty is false", lf(size=0), ActionKind.UPLOAD, Reason.NEW,
         prior=seen(lf(size=0)), policy={"skip_empty": False}),
    Case("stable, new", F, ActionKind.UPLOAD, Reason.NEW, key="cam/x.mp4", overwrite=False,
         entry=STABLE),
    Case("stable, new, on_conflict overwrite may overwrite", F, ActionKind.UPLOAD, Reason.NEW,
         overwrite=True, entry=STABLE, policy={"on_conflict": "overwrite"}),
    Case("this pass's earlier look wins over the manifest's", F, ActionKind.UPLOAD, Reason.NEW,
         entry=entry(F, EntryState.PENDING, observation=Observation(1, 1, 1, 0)), prior=seen(F)),
    Case("changed after upload", F, ActionKind.UPLOAD, Reason.CHANGED, key="cam/x.mp4",
         overwrite=True, entry=entry(F, EntryState.UPLOADED, size=50, observation=seen(F))),
    Case("changed after upload under another key: not ours to overwrite", F, ActionKind.UPLOAD,
         Reason.CHANGED, key="cam/x.mp4", overwrite=False,
         entry=entry(F, EntryState.UPLOADED, key="old/x.mp4", size=50, observation=seen(F))),
    Case("changed after upload, still moving", F, ActionKind.SKIP, Reason.GROWING,
         entry=entry(F, EntryState.UPLOADED, size=50,
                     observation=Observation(70, F.mtime_ns, 1, NOW - 9))),
    Case("overwritten earlier but changed meanwhile: ours", F, ActionKind.UPLOAD, Reason.NEW,
         overwrite=True, remote=(RemoteObject("cam/x.mp4", 7),),
         entry=entry(F, EntryState.PENDING, uploaded_at=NOW - 50, observation=seen(F))),
    Case("retry of a changed upload that failed: the object is ours", F, ActionKind.UPLOAD,
         Reason.RETRY, key="cam/x.mp4", overwrite=True, remote=(RemoteObject("cam/x.mp4", 50),),
         entry=entry(F, EntryState.FAILED, uploaded_at=NOW - 900, next_attempt_at=NOW - 1,
                     observation=seen(F))),
    Case("uploaded, after_upload delete, old enough", F, ActionKind.DELETE, Reason.UPLOADED,
         key="cam/x.mp4", entry=entry(F, EntryState.UPLOADED),
         policy={"after_upload": "delete", "after_upload_min_age": 7200}),
    Case("uploaded, after_upload move, old enough", F, ActionKind.MOVE, Reason.UPLOADED,
         key="cam/x.mp4", entry=entry(F, EntryState.UPLOADED),
         policy={"after_upload": "move", "after_upload_min_age": 60}),
    Case("uploaded, after_upload delete, uploaded too recently", F, ActionKind.SKIP,
         Reason.UPLOADED, entry=entry(F, EntryState.UPLOADED),
         policy={"after_upload": "delete", "after_upload_min_age": 7201}),
    Case("uploaded (unverified): never deleted by after_upload", F, ActionKind.SKIP,
         Reason.UNVERIFIED, key="cam/x.mp4", entry=entry(F, EntryState.UPLOADED, unverified=True),
         policy={"after_upload": "delete", "after_upload_min_age": 0}),
    Case("uploaded (unverified): never moved, never resent", F, ActionKind.SKIP, Reason.UNVERIFIED,
         entry=entry(F, EntryState.UPLOADED, unverified=True), policy={"after_upload": "move"}),
    Case("uploaded (unverified), changed since: sent again over our own object", F,
         ActionKind.UPLOAD, Reason.CHANGED, overwrite=True,
         entry=entry(F, EntryState.UPLOADED, unverified=True, size=50, observation=seen(F))),
    Case("changed after upload is never deleted", F, ActionKind.UPLOAD, Reason.CHANGED,
         entry=entry(F, EntryState.UPLOADED, size=50, observation=seen(F)),
         policy={"after_upload": "delete"}),
    Case("template key", lf("front/Cam1.20240101_120000.mp4"), ActionKind.SKIP, Reason.SETTLING,
         key="cam/front/2023/11/14/Cam1.20240101_120000.mp4",
         policy={"key_template": "{prefix}{camera}/{mtime:%Y/%m/%d}/{name}"}),
    Case("daily budget spent: a ready file waits", F, ActionKind.SKIP, Reason.BUDGET,
         key="cam/x.mp4", entry=STABLE, policy={"daily_budget": 1000}, sent_today=1000),
    Case("daily budget not yet spent: it goes, even if it overshoots", F, ActionKind.UPLOAD,
         Reason.NEW, entry=STABLE, policy={"daily_budget": 1000}, sent_today=999),
    Case("daily budget spent, but a priority file goes", F, ActionKind.UPLOAD, Reason.NEW,
         entry=STABLE, policy={"daily_budget": 1000, "priority": ("*.MP4",)}, sent_today=5000),
    Case("larger than the whole budget, nothing sent today: goes alone", F, ActionKind.UPLOAD,
         Reason.NEW, entry=STABLE, policy={"daily_budget": 50}),
    Case("larger than the whole budget, something sent today: waits for a new day", F,
         ActionKind.SKIP, Reason.BUDGET, entry=STABLE, policy={"daily_budget": 50}, sent_today=1),
    Case("a held failed file keeps backing off first", F, ActionKind.SKIP, Reason.BACKOFF,
         entry=entry(F, EntryState.FAILED, next_attempt_at=NOW + 60),
         policy={"daily_budget": 10}, sent_today=10),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    prior = {(case.file.root, case.file.rel): case.prior} if case.prior else {}
    snap = snapshot([case.file], [case.entry] if case.entry else [], case.twins, case.remote,
                    prior=prior, sent_today=case.sent_today)
    p = plan(snap, NOW, policy(**case.policy))
    assert len(p.actions) == 1
    (action,) = p.actions
    assert (action.kind, action.reason) == (case.kind, case.reason)
    assert action.file == case.file
    if case.key is not None:
        assert action.key == case.key
    if case.overwrite is not None:
        assert action.overwrite is case.overwrite
    if case.detail is not None:
        assert action.detail == case.detail


# ---- a conditional write found its key taken: what the HEAD says decides ----------------------
TAKEN = [  # (what HEAD found, on_conflict, key already the keep_both alternative, verdict)
    (Found.NOTHING, "keep_both", False, Taken.AGAIN),
    (Found.SAME, "keep_both", False, Taken.ADOPT),
    (Found.SAME, "skip", True, Taken.ADOPT),
    (Found.DENIED, "keep_both", False, Taken.UNVERIFIED),  # write-only credentials
    (Found.DENIED, "overwrite", False, Taken.UNVERIFIED),
    (Found.DENIED, "skip", True, Taken.UNVERIFIED),
    (Found.OTHER, "skip", False, Taken.SKIP),
    (Found.OTHER, "overwrite", False, Taken.OVERWRITE),
    (Found.OTHER, "keep_both", False, Taken.KEEP_BOTH),
    (Found.OTHER, "keep_both", True, Taken.FAIL),
]


@pytest.mark.parametrize(("found", "on_conflict", "alternative", "verdict"), TAKEN,
                         ids=[f"{f.name}-{c}-{'alt' if a else 'plain'}" for f, c, a, _ in TAKEN])
def test_when_taken(found: Found, on_conflict: str, alternative: bool, verdict: Taken) -> None:
    assert when_taken(found, on_conflict, alternative) is verdict


def test_bad_name_detail_says_why() -> None:
    (action,) = plan(snapshot([lf("bad\udcff.mp4")]), NOW, policy()).actions
    assert "not UTF-8" in action.detail
    (action,) = plan(snapshot([lf("a" * 1100)]), NOW, policy()).actions
    assert "1024 bytes" in action.detail


def test_skips_carry_the_observation_to_persist() -> None:
    (action,) = plan(snapshot([F], [STABLE]), NOW, policy(checks=3)).actions
    assert action.observation == Observation(F.size, F.mtime_ns, 2, STABLE.observation.first_seen)
    (first,) = plan(snapshot([F]), NOW, policy()).actions
    assert first.observation == Observation(F.size, F.mtime_ns, 1, NOW)


# ---- the in-pass second look (observation asks the planner's pure rules) ----------------------
@pytest.mark.parametrize(
    ("name", "file", "prior_count", "pol", "expected"),
    [
        ("old file first seen", F, None, {}, True),
        ("young file first seen", lf(age=10), None, {}, False),
        ("first seen, ready after the settle wait", lf(age=59), None, {}, True),
        ("first seen, still young after the settle wait", lf(age=57), None, {}, False),
        ("checks 3: one re-check cannot make it ready", F, None, {"checks": 3}, False),
        ("checks 3, seen once before", F, 1, {"checks": 3}, True),
        ("stable for passes, ready after the settle wait", lf(age=59), 4, {}, True),
        ("stable for passes, still young after the wait", lf(age=30), 4, {}, False),
        ("empty file", lf(size=0), None, {}, False),
        ("already ready: nothing to wait for", F, 2, {}, False),
    ],
)
def test_second_look(name, file, prior_count, pol, expected) -> None:
    entries = [entry(file, EntryState.PENDING, observation=seen(file, prior_count))] if prior_count else []
    looks = second_look(snapshot([file], entries), NOW, policy(settle_seconds=2.0, **pol))
    assert (file in [f for f, _ in looks]) is expected, name


def test_no_second_look_for_files_decided_before_stability() -> None:
    uploaded = entry(F, EntryState.UPLOADED)
    backing_off = lf("poison.mp4")
    failed = entry(backing_off, EntryState.FAILED, next_attempt_at=NOW + 600, attempts=2)
    unstorable, reserved = lf("bad\udcff.mp4"), lf("_camup/x.mp4")
    snap = snapshot([F, backing_off, unstorable, reserved], [uploaded, failed])
    assert second_look(snap, NOW, policy()) == []
    assert ready_by_stability(snap, NOW, policy()) == []


def test_second_look_of_settling_file_makes_it_ready() -> None:
    """What observe does: the first look becomes `prior`, the fresh stat is planned once."""
    ((looked_at, first_look),) = second_look(snapshot([F]), NOW, policy())
    assert looked_at == F and first_look == Observation(F.size, F.mtime_ns, 1, NOW)
    again = plan(snapshot([F], prior={F.id: first_look}), NOW + 2, policy())
    assert [(a.kind, a.reason) for a in again.actions] == [(ActionKind.UPLOAD, Reason.NEW)]


# ---- orphans, remote-only, exclusions ---------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "expected"),
    [(EntryState.PENDING, [(ActionKind.FORGET, Reason.GONE)]),
     (EntryState.FAILED, [(ActionKind.FORGET, Reason.GONE)]),
     (EntryState.UPLOADED, [])],
)
def test_orphan_rows(state, expected) -> None:
    gone = entry(lf("gone.mp4"), state)
    p = plan(snapshot([], [gone]), NOW, policy())
    assert [(a.kind, a.reason) for a in p.actions] == expected
    for a in p.actions:
        assert a.file is None
        assert a.key == "cam/gone.mp4"
        assert a.detail == f"{A}|gone.mp4"


@pytest.mark.parametrize("listed", [False, True], ids=["no listing (listing: never)", "listing pass"])
def test_uploaded_rows_of_gone_files_are_pruned_in_any_listing_mode(listed: bool) -> None:
    gone = entry(lf("gone.mp4"), EntryState.UPLOADED, uploaded_at=NOW - 86400)
    recent = entry(lf("recent.mp4"), EntryState.UPLOADED, uploaded_at=NOW - 3600)
    here = lf("here.mp4")
    kept_row = entry(here, EntryState.UPLOADED)
    listing = (RemoteObject("cam/gone.mp4", 100), RemoteObject("cam/here.mp4", 100)) if listed else None

    p = plan(snapshot([here], [gone, recent, kept_row], remote=listing), NOW, policy())
    empty_dir = plan(snapshot([], [gone, kept_row], remote=listing), NOW, policy())

    # gone a day after its upload: pruned; uploaded an hour ago: kept for the grace period
    assert [(a.kind, a.reason, a.detail) for a in p.actions if a.file is None] == [
        (ActionKind.FORGET, Reason.PRUNED, f"{A}|gone.mp4")]
    assert empty_dir.actions == ()  # a watch dir that looks empty may be a half-mounted share


def test_prune_grace_is_a_policy() -> None:
    recent = entry(lf("recent.mp4"), EntryState.UPLOADED, uploaded_at=NOW - 60)
    p = plan(snapshot([lf("here.mp4")], [recent]), NOW, policy(prune_after=60))
    assert [a.reason for a in p.actions if a.file is None] == [Reason.PRUNED]


def test_remote_only_keys_get_no_action() -> None:
    remote = (RemoteObject("cam/only-there.mp4", 10), RemoteObject("cam/x.mp4", 100))
    assert plan(snapshot([], [], remote=remote), NOW, policy()).actions == ()
    p = plan(snapshot([F], [STABLE], remote=remote), NOW, policy())
    assert {a.key for a in p.actions} == {"cam/x.mp4"}


def test_excluded_files_are_reported_as_skips() -> None:
    p = plan(snapshot(excluded=[(A, "~tmp.mp4")]), NOW, policy())
    assert [(a.kind, a.reason, a.file.rel) for a in p.actions] == [
        (ActionKind.SKIP, Reason.EXCLUDED, "~tmp.mp4")]


# ---- determinism and order --------------------------------------------------------------------
def _mixed_inputs():
    files = [lf(f"cam{i % 3}/clip{i:02d}.mp4", size=100 + i, age=3600 + 97 * (i % 7), ino=i + 1)
             for i in range(30)]
    entries = [entry(f, EntryState.PENDING, observation=seen(f)) for f in files[::2]]
    entries += [entry(files[1], EntryState.UPLOADED), entry(lf("orphan.mp4"), EntryState.PENDING)]
    remote = [RemoteObject(PREFIXES[A] + f.rel, f.size) for f in files[3::5]]
    return files, entries, remote


def test_shuffled_input_gives_the_same_plan() -> None:
    files, entries, remote = _mixed_inputs()
    expected = plan(snapshot(files, entries, remote=remote), NOW, policy())
    assert len(expected.uploads) >= 5 and expected.adoptions and expected.skips
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(files)
        rng.shuffle(entries)
        rng.shuffle(remote)
        assert plan(snapshot(files, entries, remote=remote), NOW, policy()) == expected


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_order_of_uploads(order: str) -> None:
    files, entries, remote = _mixed_inputs()
    p = plan(snapshot(files, entries, remote=remote), NOW, policy(order=order))
    kinds = [a.kind for a in p.actions]
    n = len(p.uploads)
    assert kinds[:n] == [ActionKind.UPLOAD] * n, "uploads come first"
    mtimes = [a.file.mtime_ns for a in p.uploads]
    assert len(set(mtimes)) > 1
    assert mtimes == sorted(mtimes, reverse=(order == "newest_first"))
    # ties broken by key, so equal mtimes are still in one fixed order
    for a, b in zip(p.uploads, p.uploads[1:]):
        if a.file.mtime_ns == b.file.mtime_ns:
            assert a.key < b.key


# ---- priority and the daily budget ---------------------------------------------------------
def _ready(*specs: tuple[str, int, int]) -> tuple[list[LocalFile], list[ManifestEntry]]:
    """(rel, size, age) files, each seen once before: ready now."""
    files = [lf(rel, size=size, age=age) for rel, size, age in specs]
    return files, [entry(f, EntryState.PENDING, observation=seen(f)) for f in files]


def test_priority_files_go_first_then_order_within_each_class() -> None:
    files, entries = _ready(("old.jpg", 10, 9000), ("new.mp4", 10, 100), ("mid.JPG", 10, 5000),
                            ("older.mp4", 10, 8000), ("sub/alert.jpg", 10, 200))
    p = plan(snapshot(files, entries), NOW, policy(priority=("*.jpg",)))
    assert [a.file.rel for a in p.uploads] == ["sub/alert.jpg", "mid.JPG", "old.jpg",
                                               "new.mp4", "older.mp4"]
    p = plan(snapshot(files, entries), NOW, policy(priority=("*.jpg",), order="oldest_first"))
    assert [a.file.rel for a in p.uploads] == ["old.jpg", "mid.JPG", "sub/alert.jpg",
                                               "older.mp4", "new.mp4"]


def test_budget_admits_in_order_until_spent_overshooting_by_at_most_one_file() -> None:
    files, entries = _ready(("a.mp4", 400, 100), ("b.mp4", 400, 200), ("c.mp4", 400, 300),
                            ("d.mp4", 10, 400), ("e.jpg", 5000, 500))
    p = plan(snapshot(files, entries, sent_today=100), NOW,
             policy(daily_budget=1000, priority=("*.jpg",)))
    # the priority JPEG goes and counts: 100 + 5000 is over, so no clip goes today
    assert [a.file.rel for a in p.uploads] == ["e.jpg"]
    assert [a.file.rel for a in p.skips if a.reason is Reason.BUDGET] == [
        "a.mp4", "b.mp4", "c.mp4", "d.mp4"]
    p = plan(snapshot(files[:4], entries[:4], sent_today=100), NOW, policy(daily_budget=1000))
    assert [a.file.rel for a in p.uploads] == ["a.mp4", "b.mp4", "c.mp4"]  # 100+800 < 1000
    sent = 100 + sum(a.file.size for a in p.uploads)
    assert sent - 1000 <= max(f.size for f in files[:4])
    assert [a.file.rel for a in p.skips] == ["d.mp4"]


# ---- the open-file probe is an input -------------------------------------------------------------
def test_a_ready_file_held_open_waits_with_its_holder() -> None:
    up, other, settling = lf("up.mp4"), lf("other.mp4"), lf("settling.mp4")
    entries = [entry(f, EntryState.PENDING, observation=seen(f)) for f in (up, other)]
    holders = {up.id: "recorder (pid 9)", settling.id: "x (pid 1)"}
    p = plan(snapshot([up, other, settling], entries, open_by=holders), NOW, policy())
    assert [(a.file.rel, a.kind, a.reason, a.detail) for a in p.actions] == [
        ("other.mp4", ActionKind.UPLOAD, Reason.NEW, ""),
        ("settling.mp4", ActionKind.SKIP, Reason.SETTLING, ""),  # not ready anyway: its own reason
        ("up.mp4", ActionKind.SKIP, Reason.OPEN, "recorder (pid 9)"),
    ]
    held = next(a for a in p.actions if a.reason is Reason.OPEN)
    assert held.observation == Observation(up.size, up.mtime_ns, 2, NOW - 120)  # history kept


def test_a_listed_twin_held_open_waits_like_an_upload() -> None:
    listed = lf("listed.mp4")
    remote = [RemoteObject("cam/listed.mp4", listed.size)]
    entries = [entry(listed, EntryState.PENDING, observation=seen(listed))]
    held = plan(snapshot([listed], entries, remote=remote, open_by={listed.id: "rec (pid 9)"}), NOW, policy())
    assert [(a.kind, a.reason) for a in held.actions] == [(ActionKind.SKIP, Reason.OPEN)]
    free = plan(snapshot([listed], entries, remote=remote), NOW, policy())
    assert [(a.kind, a.reason) for a in free.actions] == [(ActionKind.ADOPT, Reason.ADOPT_REMOTE)]


def test_the_probe_looks_only_at_files_ready_by_stability() -> None:
    ready, young = lf("ready.mp4"), lf("young.mp4", age=5)
    entries = [entry(ready, EntryState.PENDING, observation=seen(ready))]
    assert ready_by_stability(snapshot([ready, young], entries), NOW, policy()) == [ready]


# ---- leftover multipart uploads -------------------------------------------------------------------
PART = 16 * 2**20
BIG = lf("big.mp4", size=3 * PART)


def leftover(file: LocalFile = BIG, upload_id: str = "up-1", started_at: float = NOW - 3600,
             key: str = "cam/big.mp4", part_size: int = PART) -> PendingMultipart:
    return PendingMultipart(upload_id, key, started_at, file.root, file.rel, file.size, file.mtime_ns,
                            part_size)


WAITING_BIG = entry(BIG, EntryState.FAILED, next_attempt_at=NOW + 600, attempts=1)  # backing off
READY_BIG = entry(BIG, EntryState.FAILED, next_attempt_at=NOW - 1, attempts=1,
                  observation=seen(BIG))


@pytest.mark.parametrize(
    ("name", "files", "entries", "pending", "expected"),
    [
        ("its file is uploaded again, unchanged", [BIG], [READY_BIG], [leftover()], MultipartStep.RESUME),
        ("its file is uploaded with another part size", [BIG], [READY_BIG], [leftover(part_size=8 * 2**20)],
         MultipartStep.ABORT),
        ("its file changed since", [replace(BIG, size=BIG.size + 1)], [], [leftover()], MultipartStep.ABORT),
        ("its file only waits this pass", [BIG], [WAITING_BIG], [leftover()], MultipartStep.KEEP),
        ("its file waited more than 7 days", [BIG], [WAITING_BIG], [leftover(started_at=NOW - 8 * 86400)],
         MultipartStep.ABORT),
        ("its file is gone", [], [], [leftover()], MultipartStep.ABORT),
        ("its file is uploaded already", [BIG], [entry(BIG, EntryState.UPLOADED)], [leftover()],
         MultipartStep.ABORT),
        ("recorded before the create answered", [], [], [leftover(upload_id="creating:cam/big.mp4")],
         MultipartStep.FIND_UNKNOWN),
    ],
)
def test_leftover_multipart_uploads(name, files, entries, pending, expected) -> None:
    p = plan(replace(snapshot(files, entries), multiparts=pending), NOW, policy(part_size=PART))
    assert [d.step for d in p.multiparts] == [expected], name
    resumed = [a.resume_id for a in p.uploads]
    assert resumed == (["up-1"] if expected is MultipartStep.RESUME else [None] * len(p.uploads)), name


def test_a_leftover_whose_file_waits_for_the_daily_budget_is_kept() -> None:
    p = plan(replace(snapshot([BIG], [READY_BIG]), multiparts=[leftover()], sent_today=10**9), NOW,
             policy(part_size=PART, daily_budget=10**9))
    assert [(a.file.rel, a.reason) for a in p.skips] == [("big.mp4", Reason.BUDGET)]
    assert [d.step for d in p.multiparts] == [MultipartStep.KEEP]


def test_write_only_keys_never_resume_a_leftover() -> None:
    """Resuming lists the parts already sent, a read write-only keys may not do: ABORT, anew."""
    p = plan(replace(snapshot([BIG], [READY_BIG]), multiparts=[leftover()]), NOW,
             policy(part_size=PART, resume=False))
    assert [d.step for d in p.multiparts] == [MultipartStep.ABORT]
    assert [a.resume_id for a in p.uploads] == [None]


def test_two_leftovers_of_one_file_resume_only_one() -> None:
    pending = [leftover(upload_id="up-1"), leftover(upload_id="up-2")]
    p = plan(replace(snapshot([BIG], [READY_BIG]), multiparts=pending), NOW, policy(part_size=PART))
    assert [d.step for d in p.multiparts] == [MultipartStep.RESUME, MultipartStep.ABORT]
    assert [a.resume_id for a in p.uploads] == ["up-1"]


# ---- the back-off across passes --------------------------------------------------------------
@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 60), (1, 60), (2, 120), (3, 240), (4, 480), (5, 960), (9, 15360), (10, 21600), (11, 21600),
     (100, 21600), (5000, 21600)],
)
def test_cross_pass_backoff(failures: int, seconds: float) -> None:
    assert cross_pass_backoff(failures) == seconds
    assert CROSS_PASS_BACKOFF_CAP == 6 * 3600


# ---- purity ------------------------------------------------------------------------------------
def _imported_top_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", ["plan.py", "stability.py", "snapshot.py", "live_rules.py", "diskguard.py",
                                    "leftovers.py", "budget.py", "conflicts.py"])
def test_pure_modules_import_no_io(module: str) -> None:
    assert _imported_top_modules(PACKAGE / module) & FORBIDDEN == set()


def test_import_checker_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "m.py"
    probe.write_text("import os.path\ndef f():\n    from time import time\n", encoding="utf-8")
    assert _imported_top_modules(probe) == {"os", "time"}


def test_importing_the_planner_loads_no_io_library() -> None:
    code = ("import sys, reconciler.plan, reconciler.stability, reconciler.alerts\n"
            "print(' '.join(sorted(m for m in ('boto3', 'botocore', 'sqlite3', '_sqlite3', 'psutil',"
            " 'loguru', 'yaml') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent)
    assert out.stdout.strip() == ""


def test_rows_under_a_folder_the_scan_could_not_read_are_neither_forgotten_nor_pruned() -> None:
    failing = entry(lf("cam1/poison.mp4"), EntryState.FAILED)
    uploaded = entry(lf("cam1/old.mp4"), EntryState.UPLOADED, uploaded_at=NOW - 2 * 86400)
    elsewhere = entry(lf("cam2/gone.mp4"), EntryState.PENDING)
    listing = (RemoteObject("cam/cam1/old.mp4", 100),)
    snap = replace(snapshot([lf("cam2/here.mp4")], [failing, uploaded, elsewhere], remote=listing),
                   unreadable_folders=[(A, "cam1/")])

    p = plan(snap, NOW, policy())

    assert [a.detail for a in p.actions if a.kind is ActionKind.FORGET] == [f"{A}|cam2/gone.mp4"]


def test_rows_in_a_folder_skipped_as_unchanged_are_not_forgotten_but_its_subfolders_are_judged() -> None:
    pending = entry(lf("cam1/day1/settling.mp4"), EntryState.PENDING)
    deeper = entry(lf("cam1/day1/hour/gone.mp4"), EntryState.PENDING)
    uploaded = entry(lf("cam1/day1/old.mp4"), EntryState.UPLOADED)
    listing = (RemoteObject("cam/cam1/day1/old.mp4", 100),)
    snap = replace(snapshot([lf("cam2/here.mp4")], [pending, deeper, uploaded], remote=listing),
                   skipped=[(A, "cam1/day1/")])

    p = plan(snap, NOW, policy())

    # Only the folder's own files were not looked at; its subfolder was, and its row is an orphan.
    assert [a.detail for a in p.actions if a.kind is ActionKind.FORGET] == [f"{A}|cam1/day1/hour/gone.mp4"]


# ---- live segments: the live rows of the case table ---------------------------------------------
MIB = 1024 * 1024
LIVE = LivePolicy(after_seconds=60, interval_seconds=60, min_segment_bytes=MIB)
G = lf("live.mp4", size=3 * MIB, age=1)  # being written: its mtime is a second old
BASE = "cam/_camup/live/cam/live.mp4/"


def growing(since: Optional[float], size: int = 2 * MIB) -> ManifestEntry:
    """A pending row whose last look saw a smaller size: the file grows."""
    return entry(G, EntryState.PENDING, observation=Observation(size, G.mtime_ns - 10**9, 1, NOW - 5, since))


def sent(segments: int, total: int, last_at: Optional[float] = NOW - 61, intact: bool = True,
         base: str = BASE) -> LiveState:
    return LiveState(A, "live.mp4", base, segments, total, last_at, "ab" * 32, 4096, intact)


@dataclass
class LiveCase:
    name: str
    kind: ActionKind
    reason: Reason
    entry: Optional[ManifestEntry] = None
    state: Optional[LiveState] = None
    file: LocalFile = G
    key: Optional[str] = None
    span: Optional[tuple[int, int]] = None
    drop: bool = False
    live: Optional[LivePolicy] = LIVE
    prior: Optional[Observation] = None
    checks: int = 2


GF = lf("live.mp4", size=3 * MIB)  # the same recording, finished an hour ago
LIVE_CASES = [
    LiveCase("first seen growing: the live clock starts, not yet live", ActionKind.SKIP,
             Reason.GROWING, growing(since=None)),
    LiveCase("growing for less than after_seconds: not yet live", ActionKind.SKIP, Reason.GROWING,
             growing(since=NOW - 59)),
    LiveCase("growing for after_seconds: first segment, the whole file so far", ActionKind.SEGMENT,
             Reason.LIVE, growing(since=NOW - 60), key=BASE + "000000", span=(0, 3 * MIB)),
    LiveCase("too young (just written) counts as unfinished too", ActionKind.SEGMENT, Reason.LIVE,
             entry(G, EntryState.PENDING, observation=Observation(G.size, G.mtime_ns, 1, NOW - 5, NOW - 90)),
             key=BASE + "000000"),
    LiveCase("live due: the bytes appended since the last segment, next seq", ActionKind.SEGMENT,
             Reason.LIVE, growing(since=NOW - 600), sent(2, MIB), key=BASE + "000002",
             span=(MIB, 3 * MIB)),
    LiveCase("interval not elapsed since the last segment", ActionKind.SKIP, Reason.GROWING,
             growing(since=NOW - 600), sent(2, MIB, last_at=NOW - 59)),
    LiveCase("grown by less than min_segment_mb", ActionKind.SKIP, Reason.GROWING,
             growing(since=NOW - 600), sent(2, 3 * MIB - 100)),
    LiveCase("grown by exactly min_segment_mb", ActionKind.SEGMENT, Reason.LIVE,
             growing(since=NOW - 600), sent(2, 2 * MIB), span=(2 * MIB, 3 * MIB)),
    LiveCase("shrunk below its segments' total: restart from 0, old ones dropped",
             ActionKind.SEGMENT, Reason.LIVE_RESTART, growing(since=NOW - 600), sent(3, 4 * MIB),
             key=BASE + "000000", span=(0, 3 * MIB), drop=True),
    LiveCase("first segment's bytes changed (rewritten): restart", ActionKind.SEGMENT,
             Reason.LIVE_RESTART, growing(since=NOW - 600), sent(2, MIB, intact=False),
             key=BASE + "000000", span=(0, 3 * MIB), drop=True),
    LiveCase("a key template moved the key: segments stay under their first base",
             ActionKind.SEGMENT, Reason.LIVE, growing(since=NOW - 600), sent(1, MIB, base="old/"),
             key="old/000001"),
    LiveCase("live upload off: waits like any growing file", ActionKind.SKIP, Reason.GROWING,
             growing(since=NOW - 600), live=None),
    LiveCase("finished, with segments: uploaded whole, then its segments dropped", ActionKind.UPLOAD,
             Reason.NEW, file=GF, state=sent(3, 2 * MIB), drop=True,
             prior=Observation(GF.size, GF.mtime_ns, 1, NOW - 5, NOW - 900), checks=1),
    LiveCase("finished, segments left with live upload off: still dropped", ActionKind.UPLOAD,
             Reason.NEW, file=GF, state=sent(3, 2 * MIB), drop=True, live=None,
             prior=Observation(GF.size, GF.mtime_ns, 1, NOW - 5), checks=1),
    LiveCase("uploaded unchanged, segments left (a run stopped before dropping them)",
             ActionKind.CLEANUP, Reason.LIVE_DONE, entry(GF, EntryState.UPLOADED), sent(3, 2 * MIB),
             file=GF, drop=True),
    LiveCase("settling (unchanged since the last look) is not a live wait", ActionKind.SKIP,
             Reason.SETTLING, entry(GF, EntryState.PENDING, observation=Observation(
                 GF.size, GF.mtime_ns, 1, NOW - 5, NOW - 900)), file=GF, key="cam/live.mp4",
             live=replace(LIVE, after_seconds=1), checks=3),
]


@pytest.mark.parametrize("case", LIVE_CASES, ids=[c.name for c in LIVE_CASES])
def test_live_rows(case: LiveCase) -> None:
    snap = replace(snapshot([case.file], [case.entry] if case.entry else []),
                   live={(A, "live.mp4"): case.state} if case.state else {},
                   first_look={case.file.id: case.prior} if case.prior else {})
    (action,) = plan(snap, NOW, policy(checks=case.checks, live=case.live)).actions
    assert (action.kind, action.reason) == (case.kind, case.reason)
    if case.key is not None:
        assert action.key == case.key
    if case.span is not None:
        assert action.span == case.span
    assert (action.drop is not None) is case.drop
    if case.drop:
        assert action.drop == case.state


def test_the_live_clock_starts_when_first_seen_unfinished_and_is_kept() -> None:
    (first,) = plan(snapshot([G], [growing(since=None)]), NOW, policy(live=LIVE)).actions
    assert first.observation is not None and first.observation.since == NOW
    later = replace(G, size=G.size + 10)
    prior = {G.id: first.observation}
    (again,) = plan(snapshot([later], prior=prior), NOW + 30, policy(live=LIVE)).actions
    assert again.observation is not None and again.observation.since == NOW


def test_a_finished_file_never_starts_the_live_clock() -> None:
    (action,) = plan(snapshot([F]), NOW, policy(live=LIVE)).actions
    assert action.reason is Reason.SETTLING and action.observation.since is None


def test_a_file_held_open_goes_live_when_due() -> None:
    """The probe finds a stable file held open by its writer: live like a growing one."""
    ready = entry(GF, EntryState.PENDING, observation=Observation(GF.size, GF.mtime_ns, 1, NOW - 5, NOW - 61))
    pol = policy(live=LIVE)
    (action,) = plan(snapshot([GF], [ready], open_by={GF.id: "recorder (pid 9)"}), NOW, pol).actions
    assert (action.kind, action.reason, action.key, action.detail) == (
        ActionKind.SEGMENT, Reason.LIVE, BASE + "000000", Reason.OPEN.value)
    fresh = entry(GF, EntryState.PENDING, observation=Observation(GF.size, GF.mtime_ns, 1, NOW - 5))
    (waiting,) = plan(snapshot([GF], [fresh], open_by={GF.id: "recorder (pid 9)"}), NOW, pol).actions
    assert (waiting.kind, waiting.reason, waiting.observation.since) == (ActionKind.SKIP, Reason.OPEN, NOW)


def test_segments_come_after_finished_uploads_and_never_count_as_uploads() -> None:
    snap = replace(snapshot([G, F], [growing(since=NOW - 600), STABLE]))
    p = plan(snap, NOW, policy(live=LIVE))
    assert [a.kind for a in p.actions] == [ActionKind.UPLOAD, ActionKind.SEGMENT]
    assert p.uploads == [p.actions[0]] and p.segments == [p.actions[1]] and p.sends == p.uploads


def test_a_live_file_that_may_have_just_finished_gets_a_second_look_keeping_its_live_clock() -> None:
    finished = lf("live.mp4", size=3 * MIB, age=600)  # grew since the last look, but its mtime is old
    pol = policy(live=LIVE, settle_seconds=2.0)
    snap = snapshot([finished], [growing(since=NOW - 600)])
    assert plan(snap, NOW, pol).actions[0].kind is ActionKind.SEGMENT
    ((looked, first),) = second_look(snap, NOW, pol)
    assert looked == finished and first.since == NOW - 600  # the live clock survives the look
    (again,) = plan(replace(snap, first_look={finished.id: first}), NOW + 2, pol).actions
    assert (again.kind, again.reason, again.drop) == (ActionKind.UPLOAD, Reason.NEW, None)
    assert second_look(snapshot([G], [growing(since=NOW - 600)]), NOW, pol) == []  # still written


# ---- the disk guard (after_upload.keep_free) ---------------------------------------------
GB = 10**9
OLD, MID, NEW = lf("old.mp4", 300, age=30000), lf("mid.mp4", 300, age=20000), lf("new.mp4", 300, age=10000)
WAITING = lf("waiting.mp4", 300, age=40000)  # oldest of all, but never uploaded
CHANGED = lf("changed.mp4", 300, age=50000)  # uploaded, then rewritten: not the stored bytes
ALL_UPLOADED = (entry(OLD, EntryState.UPLOADED), entry(MID, EntryState.UPLOADED),
                entry(NEW, EntryState.UPLOADED),
                entry(CHANGED, EntryState.UPLOADED, size=1, mtime_ns=CHANGED.mtime_ns))


@dataclass
class GuardCase:
    name: str
    free: int
    keep_free: Optional[tuple[str, float]]
    freed: list[str]  # relative paths planned DISK_GUARD, in any order
    short: bool = False
    after_upload: str = "keep"
    total: int = 10_000


GUARD_CASES = [
    GuardCase("guard off: nothing freed", 0, None, []),
    GuardCase("enough free space: nothing freed", 5000, ("bytes", 1000), []),
    GuardCase("short by 100 bytes: only the oldest verified upload", 900, ("bytes", 1000), ["old.mp4"]),
    GuardCase("short by 400 bytes: the two oldest", 600, ("bytes", 1000), ["old.mp4", "mid.mp4"]),
    GuardCase("a percentage of the volume's size", 900, ("percent", 10.0), ["old.mp4"]),
    GuardCase("short by more than all verified uploads: all, and an alert", 0, ("bytes", 1000),
              ["old.mp4", "mid.mp4", "new.mp4"], short=True),
    GuardCase("action: move moves instead", 900, ("bytes", 1000), ["old.mp4"], after_upload="move"),
]


@pytest.mark.parametrize("case", GUARD_CASES, ids=[c.name for c in GUARD_CASES])
def test_disk_guard(case: GuardCase) -> None:
    from reconciler.models import DiskSpace

    files = [OLD, MID, NEW, WAITING, CHANGED]
    snap = replace(snapshot(files, ALL_UPLOADED), disk={A: DiskSpace(case.free, case.total, 7)})
    p = plan(snap, NOW, policy(keep_free=case.keep_free, after_upload=case.after_upload,
                               after_upload_min_age=10**9))  # after_upload itself never due
    guard = [a for a in p.actions if a.reason is Reason.DISK_GUARD]
    assert sorted(a.file.rel for a in guard) == sorted(case.freed)
    want = ActionKind.MOVE if case.after_upload == "move" else ActionKind.DELETE
    assert all(a.kind is want and a.key == "cam/" + a.file.rel for a in guard)
    assert p.disk_short == ((A,) if case.short else ())
    kinds = {a.file.rel: a.kind for a in p.actions if a.file is not None}
    assert kinds["waiting.mp4"] is ActionKind.SKIP  # not uploaded: never freed
    assert kinds["changed.mp4"] is ActionKind.SKIP  # changed since upload: waits to go again, kept


def test_disk_guard_counts_after_upload_deletes_already_planned() -> None:
    from reconciler.models import DiskSpace

    snap = replace(snapshot([OLD, MID], ALL_UPLOADED[:2]), disk={A: DiskSpace(900, 10_000, 7)})
    p = plan(snap, NOW, policy(keep_free=("bytes", 1000), after_upload="delete"))
    assert [(a.file.rel, a.reason) for a in p.local_cleanups] == [("mid.mp4", Reason.UPLOADED),
                                                                  ("old.mp4", Reason.UPLOADED)]


def test_disk_guard_is_per_volume_and_two_watch_dirs_on_one_volume_share_it() -> None:
    from reconciler.models import DiskSpace

    on_b = lf("b.mp4", 300, age=90000, root=B)  # the oldest, on the same volume as A
    on_c = lf("c.mp4", 300, age=90000, root=C)  # another volume with plenty of room
    files = [OLD, on_b, on_c]
    entries = (entry(OLD, EntryState.UPLOADED), entry(on_b, EntryState.UPLOADED),
               entry(on_c, EntryState.UPLOADED))
    disk = {A: DiskSpace(900, 10_000, 7), B: DiskSpace(900, 10_000, 7), C: DiskSpace(9000, 10_000, 8)}
    p = plan(replace(snapshot(files, entries), disk=disk), NOW, policy(keep_free=("bytes", 1000)))
    assert [a.file.rel for a in p.actions if a.reason is Reason.DISK_GUARD] == ["b.mp4"]

