"""One pass: observe -> plan -> (dry run: print, stop) -> execute -> record.

The only module that wires the others together; the real clock, sleep, S3 client and
probe are built here (or injected by tests through `World`).
"""

from __future__ import annotations

import random
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Optional

from loguru import logger

from .after import clean_up
from .config import Config
from .execute import Executor, RetryPolicy, cross_pass_backoff
from .logs import live_console
from .manifest import Manifest
from .models import (
    ActionKind,
    EntryState,
    LocalFile,
    ManifestEntry,
    PassReport,
    Plan,
    Reason,
    RemoteObject,
    UploadResult,
)
from .plan import FileId, Policy, Snapshot, apply_open_files, merge, plan, reorder
from .probe import SweepResult, find_writers
from .progress import PassProgress
from .remote import Bucket, make_client
from .render import print_plan, summary_line
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


def target_of(cfg: Config) -> str:
    """What the manifest's rows describe: this bucket at this endpoint."""
    return f"{cfg.remote.endpoint_url or 'aws'}|{cfg.bucket}"


def policy_of(cfg: Config) -> Policy:
    s = cfg.stability
    return Policy(
        stability=StabilityPolicy(s.checks, s.min_age_seconds, s.skip_empty),
        prefixes={w.path: w.prefix for w in cfg.watch_dirs},
        key_template=cfg.key_template, on_conflict=cfg.remote.on_conflict, order=cfg.order,
        settle_seconds=s.settle_seconds, after_upload=cfg.after_upload.action,
        after_upload_min_age=cfg.after_upload.min_age_hours * 3600)


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
        if manifest is not None:
            entries.update(manifest.entries_for(watch.path))
    return found, entries


def _list_remote(cfg: Config, world: World) -> dict[str, RemoteObject]:
    bucket = world.get_bucket(cfg)
    listed: dict[str, RemoteObject] = {}
    r = cfg.retry
    retry = RetryPolicy(r.max_attempts, r.base_delay_seconds, r.max_delay_seconds)
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
    prior = {(a.file.root, a.file.rel): a.observation for a in p.actions
             if a.file is not None and a.observation is not None}
    fresh = [f for f in (restat(f) for f in p.rechecks) if f is not None]
    again = plan(Snapshot(fresh, snap.entries, snap.uploaded_by_identity, snap.remote, (), prior),
                 world.clock(), policy, allow_recheck=False)
    gone = {(f.root, f.rel) for f in p.rechecks} - {(f.root, f.rel) for f in fresh}
    for _root, rel in sorted(gone):  # moved away during the wait: said, never an error
        logger.info("Gone before upload: {} (moved or deleted by the recorder)", rel)
    kept = Plan(tuple(a for a in p.actions if not (a.file and (a.file.root, a.file.rel) in gone)))
    return reorder(merge(kept, again), cfg.order)


def _probe_open(p: Plan, cfg: Config, world: World) -> Plan:
    if not cfg.stability.check_open_files or not p.uploads:
        return p
    candidates = {(a.file.dev, a.file.ino): (a.file.root, a.file.rel) for a in p.uploads if a.file}
    sweep = world.probe(candidates)
    if not sweep.complete:
        logger.warning("The open-file check ran out of time after {} processes; files it did "
                       "not reach are judged by size and age alone this pass", sweep.processes)
    return apply_open_files(p, sweep.writers)


def _fresh_candidates(files: list[LocalFile], entries: dict[FileId, ManifestEntry]) -> list[LocalFile]:
    """Re-stat every file the manifest does not already hold as uploaded-and-unchanged.

    On Windows a directory listing's size and mtime lag behind a file that is open for
    writing, so stability is judged on a fresh os.stat of the file itself. Files already
    uploaded keep the listing's values: re-statting 100k of them would make idle passes slow.
    """
    out = []
    for f in files:
        e = entries.get((f.root, f.rel))
        if e is not None and e.state is EntryState.UPLOADED and (e.size, e.mtime_ns) == (f.size, f.mtime_ns):
            out.append(f)
            continue
        fresh = restat(f)
        if fresh is not None:
            out.append(fresh)
    return out


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
    identity = manifest.uploaded_by_identity() if manifest is not None else {}
    local = _fresh_candidates(found.files, entries)
    snap = Snapshot(local, entries, identity, remote, found.excluded)
    policy = policy_of(cfg)
    p = plan(snap, world.clock(), policy)
    p = _recheck(p, snap, cfg, world, policy)
    return _probe_open(p, cfg, world), entries


def _log_decisions(p: Plan, entries: dict[FileId, ManifestEntry]) -> None:
    for a in p.actions:
        if a.file is None:
            continue
        before = entries.get((a.file.root, a.file.rel))
        started_waiting = before is None or before.observation is None  # said once, not every pass
        if a.reason in (Reason.SETTLING, Reason.GROWING, Reason.TOO_YOUNG) and started_waiting:
            logger.info("Waiting for file to stabilize: {} ({} bytes)", a.file.rel, a.file.size)
        elif a.reason is Reason.OPEN:
            logger.info("Skipping {}: open by another process: {}", a.file.rel, a.detail)
        elif a.kind is ActionKind.UPLOAD:
            logger.info("File ready ({} bytes): {} ({})", a.file.size, a.file.rel, a.reason.value)
        elif a.kind is ActionKind.ADOPT:
            logger.info("Already in the bucket: {} -> {} ({})", a.file.rel, a.key, a.reason.value)
        elif a.reason is Reason.BAD_NAME:
            logger.warning("Skipping {}: {}", a.file.rel, a.detail)


class _Recorder:
    """Turns each upload result into manifest rows, log lines and report counts."""

    def __init__(self, cfg: Config, manifest: Manifest, report: PassReport, world: World,
                 entries: dict[FileId, ManifestEntry], progress: PassProgress):
        self.cfg, self.manifest, self.report, self.world = cfg, manifest, report, world
        self.entries = entries
        self.progress = progress
        self.denied = 0

    def __call__(self, r: UploadResult) -> None:
        f = r.action.file
        assert f is not None
        now = self.world.clock()
        url = f"s3://{self.cfg.bucket}/{r.key}"
        if r.ok:
            self.manifest.record_uploaded([(f, r.key, r.checksum)], now)
            if r.adopted:
                self.report.adopted += 1
                logger.info("Already in the bucket with the same content: {} -> {}", f.rel, url)
            else:
                self.report.uploaded += 1
                self.report.uploaded_bytes += f.size
                logger.success("Successfully uploaded {} -> {} ({} bytes)", f.rel, url, f.size)
            self.progress.file_done()
        elif r.gone:
            logger.info("Gone before upload: {} (moved or deleted by the recorder)", f.rel)
            self.manifest.forget([(f.root, f.rel)])
            self._skip("gone")
        elif r.changed:
            logger.info("Changed while uploading, will upload again when stable: {}", f.rel)
            if r.key:
                self.manifest.record_overwritten(f, r.key, now)
            else:
                self.manifest.reset_observation(f)
            self._skip(Reason.GROWING.value)
        elif r.locked:
            logger.info("Skipping {}: locked by another process", f.rel)
            self._skip(Reason.LOCKED.value)
        elif r.skipped_conflict:
            logger.warning("Skipping {}: {} holds other content and on_conflict is skip", f.rel, url)
            self._skip(Reason.CONFLICT_SKIP.value)
        elif r.error == "stopped":
            logger.info("Stopped before {} was uploaded; the next run continues", f.rel)
        else:
            self._failed(r, f, now)

    def _skip(self, reason: str) -> None:
        self.report.skipped[reason] = self.report.skipped.get(reason, 0) + 1

    def _failed(self, r: UploadResult, f: Any, now: float) -> None:
        entry = self.entries.get((f.root, f.rel))
        failures = (entry.attempts if entry and entry.state is EntryState.FAILED else 0) + 1
        wait = cross_pass_backoff(failures)
        self.manifest.record_failed(f, r.key or r.action.key, r.error or "unknown error", now + wait)
        self.report.failed += 1
        if (r.error or "").startswith("access denied"):
            self.denied += 1
        logger.error("Failed to upload {} after {} attempt(s): {}. Will retry in {:.0f} min.",
                     f.rel, r.attempts, r.error, wait / 60)


def _settle_multiparts(cfg: Config, manifest: Manifest, world: World, p: Plan) -> dict[FileId, str]:
    """Multipart uploads an earlier run left: resume those whose file is planned again
    unchanged (same key and part size); abort the rest, so none lingers in the bucket."""
    pending = manifest.open_multiparts()
    if not pending:
        return {}
    planned = {(a.file.root, a.file.rel): a for a in p.uploads if a.file is not None}
    chunk = cfg.transfer.chunk_bytes
    resume: dict[FileId, str] = {}
    for mp in pending:
        action = planned.get((mp.root or "", mp.rel or ""))
        fid = (mp.root or "", mp.rel or "")
        if action is not None and action.file is not None and fid not in resume \
                and mp.resumes(action.file, action.key, chunk):
            resume[fid] = mp.upload_id
            logger.info("Resuming the interrupted multipart upload of {}", action.file.rel)
            continue
        world.get_bucket(cfg).abort(mp.key, mp.upload_id)
        manifest.multipart_ended(mp.upload_id)
        logger.info("Aborted an interrupted multipart upload of {}", mp.key)
    return resume


def _persist_observations(p: Plan, manifest: Manifest) -> None:
    rows = [(a.file, a.key, a.observation) for a in p.actions
            if a.file is not None and a.observation is not None and a.kind is not ActionKind.ADOPT]
    manifest.record_observations(rows)  # type: ignore[arg-type]
    forget = [tuple(a.detail.split("|", 1)) for a in p.actions if a.kind is ActionKind.FORGET]
    manifest.forget(forget)  # type: ignore[arg-type]


def _execute(cfg: Config, p: Plan, manifest: Manifest, world: World, report: PassReport,
             entries: dict[FileId, ManifestEntry], resume: dict[FileId, str]) -> None:
    adopt = [(a.file, a.key, None) for a in p.adoptions if a.file is not None]
    if adopt:
        manifest.record_uploaded(adopt, world.clock())
        report.adopted += len(adopt)
    uploads = p.uploads
    if not uploads:
        return
    bucket = world.get_bucket(cfg)
    progress = PassProgress(len(uploads), sum(a.file.size for a in uploads if a.file), live_console())
    recorder = _Recorder(cfg, manifest, report, world, entries, progress)
    now = world.clock

    files_by_key = {a.key: a.file for a in uploads}

    def on_multipart(upload_id: str, key: str, started: bool) -> None:
        if started:  # with the file it is for, so a later run can resume it
            manifest.multipart_started(upload_id, key, now(), files_by_key.get(key),
                                       cfg.transfer.chunk_bytes)
        else:
            manifest.multipart_ended(upload_id)

    r = cfg.retry
    executor = Executor(bucket, RetryPolicy(r.max_attempts, r.base_delay_seconds, r.max_delay_seconds),
                        cfg.transfer.parallel_files, cfg.remote.on_conflict, sleep=world.sleep,
                        progress=progress.add, on_multipart=on_multipart, resume=resume,
                        stop=world.stop)
    try:
        fatal = executor.run(uploads, recorder)
    finally:
        progress.close()
    if fatal:
        report.fatal = fatal
    elif recorder.denied and recorder.denied == report.failed and not report.uploaded:
        report.fatal = ("access denied for every upload: the credentials need s3:PutObject on "
                        f"bucket {cfg.bucket}; run 'camup-sync check'.")


def run_pass(cfg: Config, world: Optional[World] = None, dry_run: bool = False,
             out: IO[str] = sys.stdout) -> PassReport:
    """One whole pass. Returns its report; report.exit_code is the process's answer."""
    world = world or World()
    report = PassReport(started_at=world.clock())
    target = target_of(cfg)
    manifest = (Manifest.open_readonly(cfg.manifest_path, target) if dry_run
                else Manifest.open(cfg.manifest_path, target))
    if manifest is not None and manifest.moved_aside:
        logger.warning("The manifest was moved aside to {}; rebuilding it from the bucket "
                       "listing (nothing is uploaded twice)", manifest.moved_aside)
    pass_id = manifest.start_pass(report.started_at) if manifest and not dry_run else 0
    try:
        try:
            p, entries = build_plan(cfg, manifest, world, report)
            resume = _settle_multiparts(cfg, manifest, world, p) if manifest and not dry_run else {}
        except RemoteError as exc:
            report.fatal = str(exc)
            logger.error("{}", exc)
            return report
        if dry_run:
            print_plan(p, cfg, out)
            return report
        assert manifest is not None
        if report.listed:
            manifest.set_meta(LAST_LISTING, repr(report.started_at))
        _log_decisions(p, entries)
        _persist_observations(p, manifest)
        for a in p.skips:
            report.skipped[a.reason.value] = report.skipped.get(a.reason.value, 0) + 1
        try:
            _execute(cfg, p, manifest, world, report, entries, resume)
            if p.local_cleanups and not report.fatal:
                clean_up(world.get_bucket(cfg), p.local_cleanups, entries, cfg.after_upload.move_to)
        except RemoteError as exc:
            report.fatal = str(exc)
        if report.fatal:
            logger.error("{}", report.fatal)
        return report
    finally:
        report.finished_at = world.clock()
        if manifest is not None:
            if pass_id:
                manifest.finish_pass(pass_id, report)
            manifest.close()
        if not dry_run:
            logger.info(summary_line(report))

