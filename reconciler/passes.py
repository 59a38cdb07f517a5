"""One pass: observe -> plan -> (dry run: print, stop) -> execute -> record.

The only module that wires the others together; the real clock, sleep, S3 client and
probe are built here (or injected by tests through `World`).
"""

from __future__ import annotations

import sys
from typing import IO, Optional

from loguru import logger

from .after import clean_up
from .config import Config
from .execute import Executor
from .logs import live_console
from .manifest import Manifest
from .models import CREATING, ManifestEntry, PassReport, Plan, Reason
from .observe import LAST_LISTING, World, build_plan, open_for_writing, retry_policy_of
from .outcomes import Recorder, log_decisions, persist_observations
from .plan import FileId
from .progress import PassProgress
from .render import print_plan, summary_line
from .s3errors import ErrorKind, RemoteError

__all__ = ["World", "run_pass", "target_of"]


def target_of(cfg: Config) -> str:
    """What the manifest's rows describe: this bucket at this endpoint."""
    return f"{cfg.remote.endpoint_url or 'aws'}|{cfg.bucket}"


# A pending upload whose file waits this pass for one of these reasons is kept for a later pass.
_WAITING = {Reason.BACKOFF, Reason.SETTLING, Reason.OPEN, Reason.TOO_YOUNG, Reason.LOCKED,
            Reason.BUDGET}
KEEP_WAITING_SECONDS = 7 * 24 * 3600  # older pending uploads are aborted even if their file waits


def _settle_multiparts(cfg: Config, manifest: Manifest, world: World, p: Plan) -> dict[FileId, str]:
    """Multipart uploads an earlier run left: resume those whose file is planned again
    unchanged (same key and part size); keep, for up to KEEP_WAITING_SECONDS, those whose
    unchanged file only waits this pass (back-off, open, settling); abort the rest, so none
    lingers in the bucket. Aborting is best effort: a failed abort keeps the row for the
    next pass and never ends this one."""
    pending = manifest.open_multiparts()
    if not pending:
        return {}
    planned = {a.file.id: a for a in p.uploads if a.file is not None}
    waiting = {a.file.id: a.file for a in p.skips
               if a.file is not None and a.reason in _WAITING}
    chunk = cfg.transfer.chunk_bytes
    now = world.clock()
    resume: dict[FileId, str] = {}
    for mp in pending:
        if mp.upload_id.startswith(CREATING):  # killed around a create: find what it made
            try:
                found = world.get_bucket(cfg).abort_unknown(mp.key, {m.upload_id for m in pending})
            except RemoteError as exc:
                if exc.kind is ErrorKind.FATAL:
                    raise
                logger.warning("Cannot list or abort the multipart uploads at {}: {}", mp.key, exc)
                if exc.kind is ErrorKind.RETRYABLE:
                    continue  # the next pass tries again
                found = 0
            manifest.multipart_ended(mp.upload_id)
            if found:
                logger.info("Aborted an interrupted multipart upload of {}", mp.key)
            continue
        fid = (mp.root or "", mp.rel or "")
        action = planned.get(fid)
        if action is not None and action.file is not None and fid not in resume \
                and mp.resumes(action.file, action.key, chunk):
            resume[fid] = mp.upload_id
            logger.info("Resuming the interrupted multipart upload of {}", action.file.rel)
            continue
        file = waiting.get(fid)
        if action is None and file is not None and (file.size, file.mtime_ns) == (mp.size, mp.mtime_ns) \
                and now - mp.started_at < KEEP_WAITING_SECONDS:
            logger.debug("Keeping the interrupted multipart upload of {} until it is planned", mp.key)
            continue
        try:
            world.get_bucket(cfg).abort(mp.key, mp.upload_id)
        except RemoteError as exc:
            if exc.kind is ErrorKind.FATAL:
                raise
            logger.warning("Could not abort the interrupted multipart upload of {} ({}); the next "
                           "pass tries again", mp.key, exc)
            continue
        manifest.multipart_ended(mp.upload_id)
        logger.info("Aborted an interrupted multipart upload of {}", mp.key)
    return resume


def _execute(cfg: Config, p: Plan, manifest: Manifest, world: World, report: PassReport,
             entries: dict[FileId, ManifestEntry], resume: dict[FileId, str]) -> None:
    moved = [(a.file, a.key, None) for a in p.adoptions if a.file and a.reason is Reason.ADOPT_MOVED]
    if moved:  # the manifest itself vouches for these: no request needed
        manifest.record_uploaded(moved, world.clock())
        report.adopted += len(moved)
    uploads = p.sends  # listed twins are verified (HEAD + checksum or ETag) by the executor
    if not uploads:
        return
    bucket = world.get_bucket(cfg)
    progress = PassProgress(len(uploads), sum(a.file.size for a in uploads if a.file), live_console())
    recorder = Recorder(cfg, manifest, report, world.clock, entries, progress)
    now = world.clock

    files_by_key = {a.key: a.file for a in uploads}

    def on_multipart(upload_id: str, key: str, started: bool) -> None:
        if started:  # with the file it is for, so a later run can resume it
            manifest.multipart_started(upload_id, key, now(), files_by_key.get(key),
                                       cfg.transfer.chunk_bytes)
        else:
            manifest.multipart_ended(upload_id)

    executor = Executor(bucket, retry_policy_of(cfg),
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
        log_decisions(p, entries)
        persist_observations(p, manifest)
        for a in p.skips:
            report.skipped[a.reason.value] = report.skipped.get(a.reason.value, 0) + 1
        try:
            _execute(cfg, p, manifest, world, report, entries, resume)
            if p.local_cleanups and not report.fatal:
                clean_up(world.get_bucket(cfg), p.local_cleanups, entries, cfg.after_upload.move_to,
                         lambda files: open_for_writing(world, files))
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

