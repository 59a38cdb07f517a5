"""Observe: scan the folder, read the manifest, list the bucket when due, probe writers,
and hand the snapshots to the pure planner (with its one in-pass re-check).

Nothing here writes anywhere, so --dry-run is exactly this plus printing.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from loguru import logger

from .config import Config
from .execute import RetryPolicy
from .manifest import Manifest, local_day
from .models import EntryState, LocalFile, ManifestEntry, PassReport, Plan, RemoteObject
from .plan import FileId, Policy, Snapshot, apply_open_files, merge, plan, reorder
from .probe import SweepResult, find_writers
from .remote import Bucket, make_client
from .s3errors import ErrorKind, RemoteError
from .scan import Filters, ScanResult, WatchDirError, restat, scan
from .stability import StabilityPolicy

LAST_LISTING = "last_listing_at"


@dataclass
class World:
    """Everything a pass touches outside itself; tests swap parts of it."""

    clock: Callable[[], float] = time.time
    stop: threading.Event = field(default_factory=threading.Event)
    bucket: Optional[Callable[[Config], Bucket]] = None
    probe: Callable[..., SweepResult] = find_writers
    _bucket: Optional[Bucket] = None

    def sleep(self, seconds: float) -> None:
        self.stop.wait(seconds)  # a stop request cuts any wait short

    def get_bucket(self, cfg: Config) -> Bucket:
        if self._bucket is None:
            factory = self.bucket or (lambda c: Bucket(make_client(c), c))
            self._bucket = factory(cfg)
        return self._bucket


def policy_of(cfg: Config) -> Policy:
    s = cfg.stability
    return Policy(
        stability=StabilityPolicy(s.checks, s.min_age_seconds, s.skip_empty),
        prefixes={w.path: w.prefix for w in cfg.watch_dirs},
        key_template=cfg.key_template, on_conflict=cfg.remote.on_conflict, order=cfg.order,
        settle_seconds=s.settle_seconds, after_upload=cfg.after_upload.action,
        after_upload_min_age=cfg.after_upload.min_age_hours * 3600,
        priority=cfg.priority, daily_budget=cfg.transfer.budget_bytes)


def sent_today(cfg: Config, manifest: Optional[Manifest], now: float) -> int:
    if cfg.transfer.daily_budget is None or manifest is None:
        return 0
    return manifest.bytes_sent_on(local_day(now))


def retry_policy_of(cfg: Config) -> RetryPolicy:
    r = cfg.retry
    return RetryPolicy(r.max_attempts, r.base_delay_seconds, r.max_delay_seconds)


def _listing_due(cfg: Config, manifest: Optional[Manifest], now: float) -> bool:
    mode = cfg.remote.listing
    if mode != "auto":
        return mode == "always"
    if manifest is None or manifest.fresh:
        return True
    last = manifest.meta(LAST_LISTING)
    return last is None or now - float(last) >= cfg.remote.relist_hours * 3600


def _observe_local(cfg: Config, manifest: Optional[Manifest],
                   report: PassReport) -> tuple[ScanResult, dict[FileId, ManifestEntry]]:
    filters = Filters(cfg.extensions, cfg.exclude, cfg.recursive)
    found = ScanResult()
    entries: dict[FileId, ManifestEntry] = {}
    for watch in cfg.watch_dirs:
        try:
            result = scan(watch, filters)
        except WatchDirError as exc:
            report.errors.append(str(exc))
            report.watch_dir_missing = True
            logger.error("{}", exc)
            continue
        for warning in result.warnings:
            logger.warning("{}", warning)
        found.files.extend(result.files)
        found.excluded.extend(result.excluded)
        found.unreadable.extend(result.unreadable)
        if manifest is not None:
            entries.update(manifest.entries_for(watch.path))
    return found, entries


def _list_remote(cfg: Config, world: World) -> dict[str, RemoteObject]:
    bucket = world.get_bucket(cfg)
    listed: dict[str, RemoteObject] = {}
    retry = retry_policy_of(cfg)
    for prefix in sorted({w.prefix for w in cfg.watch_dirs}):
        for attempt in range(1, retry.max_attempts + 1):
            try:  # a transient answer (5xx, SlowDown, a dropped connection) is retried here too
                listed.update(bucket.list(prefix))
                break
            except RemoteError as exc:
                if exc.kind is not ErrorKind.RETRYABLE or attempt == retry.max_attempts:
                    raise
                logger.warning("Listing s3://{}/{} failed (attempt {} of {}): {}", cfg.bucket,
                               prefix, attempt, retry.max_attempts, exc)
                world.sleep(retry.delay(attempt, random.random))
    logger.info("Listed {} objects under s3://{}/{}", len(listed), cfg.bucket,
                ", ".join(sorted({w.prefix for w in cfg.watch_dirs})))
    return listed


def _recheck(p: Plan, snap: Snapshot, cfg: Config, world: World, policy: Policy) -> Plan:
    """One wait for all new candidates, one fresh stat each, then decide them again."""
    if not p.rechecks:
        return p
    logger.debug("Re-checking {} new file(s) in {} s", len(p.rechecks), cfg.stability.settle_seconds)
    world.sleep(cfg.stability.settle_seconds)
    prior = {a.file.id: a.observation for a in p.actions
             if a.file is not None and a.observation is not None}
    fresh = [f for f in (restat(f) for f in p.rechecks) if f is not None]
    # Only the re-checked files' rows: given all of them, the re-plan would take every other
    # pending or failed row for an orphan and forget it (losing backoff and history).
    ids = {f.id for f in fresh}
    entries = {fid: e for fid, e in snap.entries.items() if fid in ids}
    again = plan(Snapshot(fresh, entries, snap.uploaded_by_identity, snap.remote, (), prior,
                          sent_today=snap.sent_today), world.clock(), policy, allow_recheck=False)
    gone = {f.id for f in p.rechecks} - {f.id for f in fresh}
    for _root, rel in sorted(gone):  # moved away during the wait: said, never an error
        logger.info("Gone before upload: {} (moved or deleted by the recorder)", rel)
    kept = Plan(tuple(a for a in p.actions if not (a.file and a.file.id in gone)))
    return reorder(merge(kept, again), policy, snap.sent_today)


def _probe_open(p: Plan, cfg: Config, world: World) -> Plan:
    sending = p.sends
    if not cfg.stability.check_open_files or not sending:
        return p
    candidates = {(a.file.dev, a.file.ino): a.file.id for a in sending if a.file}
    sweep = world.probe(candidates)
    if not sweep.complete:
        logger.warning("The open-file check ran out of time after {} processes; files it did "
                       "not reach are judged by size and age alone this pass", sweep.processes)
    return apply_open_files(p, sweep.writers)


def open_for_writing(world: World, files: list[LocalFile]) -> set[FileId]:
    """Files another process holds open for writing now; all of them if the sweep was cut short."""
    candidates = {(f.dev, f.ino): f.id for f in files if f.ino}
    sweep = world.probe(candidates)
    if not sweep.complete:
        logger.warning("The open-file check did not finish; no local file is deleted or moved "
                       "this pass")
        return {f.id for f in files}
    if sweep.hidden and not _privileged():
        logger.warning("The open-file check could not see the files of {} processes (other users'); "
                       "run camup-sync as the recorder's user or as an administrator before using "
                       "after_upload delete/move, or raise after_upload.min_age_hours", sweep.hidden)
    return set(sweep.writers)


def _privileged() -> bool:
    """Root sees every process's files (a denial then is a kernel or namespace artefact)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _fresh_candidates(files: list[LocalFile],
                      entries: dict[FileId, ManifestEntry]) -> tuple[list[LocalFile], int]:
    """Re-stat every file the manifest does not already hold as uploaded-and-unchanged.

    On Windows a directory listing's size and mtime lag behind a file that is open for
    writing, so stability is judged on a fresh os.stat of the file itself. Files already
    uploaded keep the listing's values: re-statting 100k of them would make idle passes slow.
    """
    out = []
    candidates = 0
    for f in files:
        e = entries.get(f.id)
        if e is not None and e.state is EntryState.UPLOADED and (e.size, e.mtime_ns) == (f.size, f.mtime_ns):
            out.append(f)
            continue
        candidates += 1
        fresh = restat(f)
        if fresh is not None:
            out.append(fresh)
    return out, candidates


def build_plan(cfg: Config, manifest: Optional[Manifest], world: World,
               report: PassReport) -> tuple[Plan, dict[FileId, ManifestEntry]]:
    """Observe everything and decide; no writes anywhere. Also returns the manifest rows."""
    found, entries = _observe_local(cfg, manifest, report)
    report.found = len(found.files)
    remote = None
    if report.errors and len(report.errors) == len(cfg.watch_dirs):
        return Plan(()), entries  # nothing readable: no reason to ask the bucket anything
    if _listing_due(cfg, manifest, report.started_at):
        remote = _list_remote(cfg, world)
        report.listed = True
    local, candidates = _fresh_candidates(found.files, entries)
    # Only a file the manifest does not know can be a moved twin: skip the query when idle.
    identity = manifest.uploaded_by_identity() if manifest is not None and candidates else {}
    now = world.clock()
    snap = Snapshot(local, entries, identity, remote, found.excluded, unread=found.unreadable,
                    sent_today=sent_today(cfg, manifest, now))
    policy = policy_of(cfg)
    p = plan(snap, now, policy)
    p = _recheck(p, snap, cfg, world, policy)
    return _probe_open(p, cfg, world), entries
