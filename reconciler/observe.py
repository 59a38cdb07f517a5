"""Observe: scan the folder, read the manifest, list the bucket when due, re-stat new
candidates once after the settle wait, probe writers; then call the pure planner once.

Nothing here writes anywhere, so --dry-run is exactly this plus printing.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Optional

from loguru import logger

from . import skipping
from .config import Config
from .execute import RetryPolicy
from .keys import is_reserved
from .live import observe_heads
from .localfs import restat
from .manifest import Manifest
from .models import DiskSpace, EntryState, LocalFile, ManifestEntry, Plan, RemoteObject, unchanged
from .plan import FileId, LivePolicy, Policy, Snapshot, plan, ready_by_stability, second_look
from .probe import SweepResult, find_writers
from .results import PassReport
from .s3errors import ErrorKind, RemoteError
from .scan import Filters, ScanResult, WatchDirError, scan
from .stability import StabilityPolicy
from .tables import local_day
from .text import printable

if TYPE_CHECKING:  # boto3 is imported only when a pass talks to the bucket
    from .remote import Bucket

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
            from .remote import Bucket
            from .s3client import make_client

            factory = self.bucket or (lambda c: Bucket.for_uploads(make_client(c), c))
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
        part_size=cfg.transfer.chunk_bytes, resume=cfg.remote.listing != "never",
        live=LivePolicy(cfg.live.after_seconds, cfg.live.interval_seconds,
                        cfg.live.min_segment_bytes) if cfg.live.enabled else None,
        keep_free=cfg.after_upload.keep_free_parsed,
        priority=cfg.priority, daily_budget=cfg.transfer.budget_bytes)


def sent_today(cfg: Config, manifest: Optional[Manifest], now: float) -> int:
    """Bytes the manifest counted as uploaded on today's local calendar day."""
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


def _observe_local(cfg: Config, manifest: Optional[Manifest], report: PassReport,
                   fp: skipping.FolderPass) -> tuple[ScanResult, dict[FileId, ManifestEntry]]:
    filters = Filters(cfg.extensions, cfg.exclude, cfg.recursive)
    found = ScanResult()
    entries: dict[FileId, ManifestEntry] = {}
    for watch in cfg.watch_dirs:
        try:
            result = scan(watch, filters, skipping.dirs_for_scan(fp, manifest, cfg, watch))
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
        found.skipped_files += result.skipped_files
        fp.scans[watch.path] = result
        if manifest is not None:
            entries.update(skipping.entries_of(manifest, watch, result, fp.known.get(watch.path, {})))
    return found, entries


def _list_remote(cfg: Config, world: World) -> dict[str, RemoteObject]:
    bucket = world.get_bucket(cfg)
    listed: dict[str, RemoteObject] = {}
    retry = retry_policy_of(cfg)
    for prefix in sorted({w.prefix for w in cfg.watch_dirs}):
        for attempt in range(1, retry.max_attempts + 1):
            try:  # a transient answer (5xx, SlowDown, a dropped connection) is retried here too
                listed.update((k, o) for k, o in bucket.list(prefix).items()
                              if not is_reserved(k, [w.prefix for w in cfg.watch_dirs]))
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


def _second_look(snap: Snapshot, cfg: Config, world: World, policy: Policy) -> Snapshot:
    """One wait for all new candidates, then one fresh stat each: their first look becomes the
    planner's `first_look`, so an old, finished file is uploaded on the first --once run."""
    looks = second_look(snap, world.clock(), policy)
    if not looks:
        return snap
    logger.debug("Re-checking {} new file(s) in {} s", len(looks), cfg.stability.settle_seconds)
    world.sleep(cfg.stability.settle_seconds)
    fresh = {f.id: restat(f) for f, _ in looks}
    for (_root, rel), now in sorted(fresh.items()):
        if now is None:  # moved away during the wait: said, never an error
            logger.info("Gone before upload: {} (moved or deleted by the recorder)", printable(rel))
    local = [fresh.get(f.id, f) for f in snap.local]
    return replace(snap, local=[f for f in local if f is not None],
                   first_look={f.id: seen for f, seen in looks if fresh[f.id] is not None})


def _open_files(snap: Snapshot, now: float, cfg: Config, world: World, policy: Policy) -> dict[FileId, str]:
    """One sweep for the files the stability rules call ready (none: no sweep at all)."""
    if not cfg.stability.check_open_files:
        return {}
    ready = ready_by_stability(snap, now, policy)
    if not ready:
        return {}
    sweep = world.probe({(f.dev, f.ino): f.id for f in ready})
    if not sweep.complete:
        logger.warning("The open-file check ran out of time after {} processes; files it did "
                       "not reach are judged by size and age alone this pass", sweep.processes)
    return dict(sweep.writers)


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
        if e is not None and e.state is EntryState.UPLOADED and unchanged(e, f):
            out.append(f)
            continue
        candidates += 1
        fresh = restat(f)
        if fresh is not None:
            out.append(fresh)
    return out, candidates


def disk_space(path: str) -> DiskSpace:
    """Free and total bytes of the volume holding `path` (the one OS call of the disk guard)."""
    usage = shutil.disk_usage(path)
    return DiskSpace(usage.free, usage.total, os.stat(path).st_dev)


def observe_disks(cfg: Config, report: PassReport) -> dict[str, DiskSpace]:
    """Each readable watch dir's volume space, when the disk guard is on; before planning."""
    if cfg.after_upload.keep_free is None:
        return {}
    found = {}
    for w in cfg.watch_dirs:
        try:
            found[w.path] = disk_space(w.path)
        except OSError as exc:  # the scan reports a missing watch dir; nothing to guard there
            logger.debug("No free-space figure for {}: {}", w.path, exc)
    return found


def observe(cfg: Config, manifest: Optional[Manifest], world: World, report: PassReport,
               full: bool = False) -> tuple[Plan, dict[FileId, ManifestEntry], skipping.FolderPass]:
    """Observe everything and decide; no writes anywhere. Also returns the manifest rows
    and the folder pass (which folders were listed or skipped, for recording)."""
    due = _listing_due(cfg, manifest, report.started_at)
    fp = skipping.start(cfg, manifest, report.started_at, full, due)
    found, entries = _observe_local(cfg, manifest, report, fp)
    report.found = len(found.files) + found.skipped_files
    skipping.log_skipped(fp, len(found.files))
    remote = None
    if report.errors and len(report.errors) == len(cfg.watch_dirs):
        return Plan(()), entries, fp  # nothing readable: no reason to ask the bucket anything
    if due:
        remote = _list_remote(cfg, world)
        report.listed = True
    local, candidates = _fresh_candidates(found.files, entries)
    # Only a file the manifest does not know can be a moved twin: skip the query when idle.
    identity = manifest.uploaded_by_identity() if manifest is not None and candidates else {}
    live = manifest.live_states() if manifest is not None else {}
    leftovers = manifest.open_multiparts() if manifest is not None else ()
    skipped = [(root, d) for root, r in fp.scans.items() for d in r.skipped]
    snap = Snapshot(local, entries, identity, remote, found.excluded, unreadable_folders=found.unreadable,
                    skipped=skipped, multiparts=leftovers,
                    live=observe_heads(live, local) if live else {}, disk=observe_disks(cfg, report),
                    sent_today=sent_today(cfg, manifest, report.started_at))
    policy = policy_of(cfg)
    snap = _second_look(snap, cfg, world, policy)
    now = world.clock()
    snap = replace(snap, open_by=_open_files(snap, now, cfg, world, policy))
    p = plan(snap, now, policy)
    report.disk_short = list(p.disk_short)
    for root in p.disk_short:
        logger.warning("Free space on the volume of {} is below after_upload.keep_free ({}) and no "
                       "verified upload is left to free", root, cfg.after_upload.keep_free)
    return p, entries, fp
