"""observe: the in-pass re-check and the listing schedule, on real files, no server."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import reconciler.observe as observe
from reconciler.config import from_mapping
from reconciler.localfs import restat
from reconciler.models import ActionKind, EntryState, LocalFile, ManifestEntry, Reason
from reconciler.observe import World, _listing_due, _second_look, policy_of
from reconciler.passes import run_pass
from reconciler.plan import Snapshot, plan


class NoWait(World):
    def sleep(self, seconds: float) -> None:
        pass


def _file(root: Path, rel: str, age: float) -> LocalFile:
    path = root / rel
    path.write_bytes(b"x" * 100)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    found = restat(LocalFile(str(root), rel, 0, 0))
    assert found is not None
    return found


def test_second_look_restats_only_new_candidates_and_keeps_every_other_row(tmp_path: Path) -> None:
    cfg = from_mapping({"watch_dir": str(tmp_path), "bucket": "b-b-b"}, tmp_path, env={})
    new = _file(tmp_path, "new.mp4", age=600)
    failing = _file(tmp_path, "poison.mp4", age=600)
    backoff = ManifestEntry(str(tmp_path), "poison.mp4", "poison.mp4", EntryState.FAILED, attempts=3,
                            next_attempt_at=time.time() + 3600, last_error="denied")
    gone_pending = ManifestEntry(str(tmp_path), "moved-away.mp4", "moved-away.mp4", EntryState.PENDING)
    entries = {(e.root, e.rel): e for e in (backoff, gone_pending)}
    policy = policy_of(cfg)

    snap = _second_look(Snapshot([new, failing], entries), cfg, NoWait(), policy)

    assert list(snap.first_look) == [new.id]  # only the new candidate got a second look
    p = plan(snap, time.time(), policy)
    forgotten = [a.detail for a in p.actions if a.kind is ActionKind.FORGET]
    assert forgotten == [f"{tmp_path}|moved-away.mp4"]  # the real orphan, once; not poison.mp4
    by_rel = {a.file.rel: a for a in p.actions if a.file is not None}
    assert by_rel["new.mp4"].kind is ActionKind.UPLOAD
    assert by_rel["poison.mp4"].reason is Reason.BACKOFF


def test_a_file_gone_during_the_settle_wait_is_not_planned(tmp_path: Path) -> None:
    cfg = from_mapping({"watch_dir": str(tmp_path), "bucket": "b-b-b"}, tmp_path, env={})
    new = _file(tmp_path, "moved.mp4", age=600)

    class MovesItAway(NoWait):
        def sleep(self, seconds: float) -> None:
            os.remove(tmp_path / "moved.mp4")  # the recorder moves New -> Stored meanwhile

    snap = _second_look(Snapshot([new], {}), cfg, MovesItAway(), policy_of(cfg))
    assert snap.local == [] and snap.first_look == {}


def test_plan_is_called_once_per_pass(tmp_path: Path, monkeypatch) -> None:
    """Observation is complete before the planner runs: the second look and the open-file
    probe are inputs, never patches applied to a plan afterwards."""
    watch = tmp_path / "watch"
    watch.mkdir()
    for rel in ("old.mp4", "young.mp4"):
        _file(watch, rel, age=600 if rel == "old.mp4" else 1)
    cfg = from_mapping({"watch_dir": str(watch), "bucket": "b-b-b", "remote": {"listing": "never"},
                        "stability": {"settle_seconds": 0.01}}, tmp_path, env={})
    calls = []
    real_plan = observe.plan

    def counting_plan(*args, **kwargs):
        calls.append(args)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(observe, "plan", counting_plan)
    probed = []

    def probe(candidates):
        probed.append(sorted(candidates.values()))
        return observe.SweepResult()

    run_pass(cfg, World(probe=probe), dry_run=True, out=io.StringIO())
    assert len(calls) == 1
    assert probed == [[(str(watch), "old.mp4")]]  # one sweep, for the file that can go
    (snap, _now, _policy) = calls[0]
    assert snap.first_look and list(snap.first_look) == [(str(watch), "old.mp4")]


def test_listing_schedule(tmp_path: Path) -> None:
    class FakeManifest:
        fresh = False

        def __init__(self, last: str | None) -> None:
            self.last = last

        def meta(self, name: str) -> str | None:
            return self.last

    def cfg(listing: str, hours: float = 24):
        return from_mapping({"watch_dir": str(tmp_path), "bucket": "b-b-b",
                             "remote": {"listing": listing, "relist_hours": hours}}, tmp_path, env={})

    now = 1_000_000.0
    assert _listing_due(cfg("auto"), None, now)  # no manifest yet
    assert not _listing_due(cfg("auto"), FakeManifest(repr(now - 3600)), now)
    assert _listing_due(cfg("auto"), FakeManifest(repr(now - 25 * 3600)), now)
    assert _listing_due(cfg("auto", hours=0.5), FakeManifest(repr(now - 3600)), now)
    assert _listing_due(cfg("always"), FakeManifest(repr(now)), now)
    assert not _listing_due(cfg("never"), None, now)
    fresh = FakeManifest(repr(now))
    fresh.fresh = True
    assert _listing_due(cfg("auto"), fresh, now)  # rebuilt manifest: list once


def test_the_listing_ignores_camup_s_own_objects(tmp_path: Path) -> None:
    """Keys under {prefix}_camup/ (live segments, ledger) are never taken for recordings."""
    from reconciler.models import RemoteObject
    from reconciler.observe import _list_remote

    class Listed:
        def list(self, prefix: str) -> dict[str, RemoteObject]:
            keys = ["cam/a.mp4", "cam/_camup/live/cam/a.mp4/000000", "cam/sub/_camup/x.mp4"]
            return {k: RemoteObject(k, 1) for k in keys}

    cfg = from_mapping({"watch_dir": str(tmp_path), "bucket": "b-b-b", "prefix": "cam/"}, tmp_path, env={})
    listed = _list_remote(cfg, World(bucket=lambda c: Listed()))  # type: ignore[arg-type,return-value]
    assert sorted(listed) == ["cam/a.mp4", "cam/sub/_camup/x.mp4"]
