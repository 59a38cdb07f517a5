"""One pass: observe -> plan -> (dry run: print, stop) -> execute -> record.

The only module that wires the others together; the real clock, sleep, S3 client and
probe are built here (or injected by tests through `World`).
"""

from __future__ import annotations

import socket
import sys
from typing import IO, TYPE_CHECKING, Optional

from loguru import logger

from . import ledger, skipping
from .after import clean_up
from .config import Config
from .execute import Executor
from .ledger import Upload
from .live import LiveSender
from .logs import live_console
from .manifest import Manifest
from .models import Action, ActionKind, ManifestEntry, MultipartDecision, MultipartStep, Plan, Reason
from .notify import after_pass
from .observe import LAST_LISTING, World, observe, open_for_writing, retry_policy_of
from .outcomes import Recorder, count_unstorable, log_decisions, persist_observations
from .plan import FileId
from .progress import PassProgress
from .render import print_plan, summary_line
from .results import PassReport, UploadResult
from .s3errors import ErrorKind, RemoteError, is_denied
from .settings import SMALL_FILE_BYTES

if TYPE_CHECKING:
    from .remote import Bucket

__all__ = ["World", "run_pass", "target_of"]


def target_of(cfg: Config) -> str:
    """What the manifest's rows describe: this bucket at this endpoint."""
    return f"{cfg.remote.endpoint_url or 'aws'}|{cfg.bucket}"


def _settle_multiparts(steps: tuple[MultipartDecision, ...], manifest: Manifest, bucket: Bucket,
                       write_only: bool = False) -> None:
    """Carry out the planner's decisions on uploads an earlier run left. Aborting is best
    effort: a failed abort keeps the row for the next pass and never ends this one (with
    write-only keys, which may not abort, the row goes: the bucket's lifecycle rule cleans up)."""
    known = {d.upload.upload_id for d in steps}
    if write_only and steps:
        logger.info("Interrupted multipart uploads are not resumed: remote.listing is never "
                    "(write-only credentials cannot list the parts already sent); they start anew")
    for d in steps:
        mp = d.upload
        if d.step is MultipartStep.RESUME:
            logger.info("Resuming the interrupted multipart upload of {}", mp.rel)
            continue
        if d.step is MultipartStep.KEEP:
            logger.debug("Keeping the interrupted multipart upload of {} until it is planned", mp.key)
            continue
        try:
            if d.step is MultipartStep.FIND_UNKNOWN:  # killed around a create: find what it made
                found = bucket.abort_unknown(mp.key, known)
            else:
                bucket.abort(mp.key, mp.upload_id)
                found = 1
        except RemoteError as exc:
            if exc.kind is ErrorKind.FATAL:
                raise
            if write_only and is_denied(exc):
                logger.info("Could not abort the interrupted multipart upload of {} (write-only "
                            "credentials); the bucket's AbortIncompleteMultipartUpload rule removes "
                            "it", mp.key)
                manifest.multipart_ended(mp.upload_id)
                continue
            logger.warning("Could not abort the interrupted multipart upload of {} ({}); the next "
                           "pass tries again", mp.key, exc)
            if exc.kind is ErrorKind.RETRYABLE or d.step is MultipartStep.ABORT:
                continue
            found = 0  # denied listing uploads: nothing more we can do about an unknown id
        manifest.multipart_ended(mp.upload_id)
        if found:
            logger.info("Aborted an interrupted multipart upload of {}", mp.key)


def _execute(cfg: Config, p: Plan, manifest: Manifest, world: World, report: PassReport,
             entries: dict[FileId, ManifestEntry], done: set[FileId]) -> list[Upload]:
    """Carry out the plan's sends; returns what was uploaded, for the ledger. `done`
    collects the files that end the pass uploaded (folder records)."""
    moved = [(a.file, a.key, None) for a in p.adoptions if a.file and a.reason is Reason.ADOPT_MOVED]
    if moved:  # the manifest itself vouches for these: no request needed
        manifest.record_uploaded(moved, world.clock())
        report.adopted += len(moved)
        done.update(f.id for f, _key, _sum in moved)
    finished: list[Action] = []  # uploaded whole, with live segments to drop
    sent = _send_files(cfg, p, manifest, world, report, entries, finished, done) if p.sends else []
    if not report.fatal:
        _live(cfg, p, manifest, world, report, finished)
    return sent


def _live(cfg: Config, p: Plan, manifest: Manifest, world: World, report: PassReport,
          finished: list[Action]) -> None:
    """After the finished files: drop the segments of files now whole, then send segments."""
    cleanups = [a for a in p.actions if a.kind is ActionKind.CLEANUP]
    if not (finished or cleanups or p.segments):
        return

    def on_multipart(upload_id: str, key: str, started: bool) -> None:
        if started:  # no file: the next pass aborts it (segments are never resumed)
            manifest.multipart_started(upload_id, key, world.clock())
        else:
            manifest.multipart_ended(upload_id)

    sender = LiveSender(world.get_bucket(cfg), manifest, report, on_multipart,
                        stopping=world.stop.is_set)
    sender.finish(finished + cleanups)
    sender.send(p.segments)


def _send_files(cfg: Config, p: Plan, manifest: Manifest, world: World, report: PassReport,
                entries: dict[FileId, ManifestEntry], finished: list[Action],
                done: set[FileId]) -> list[Upload]:
    uploads = p.sends  # listed twins are verified (HEAD + checksum or ETag) by the executor
    bucket = world.get_bucket(cfg)
    progress = PassProgress(len(uploads), sum(a.file.size for a in uploads if a.file), live_console())
    recorder = Recorder(cfg, manifest, report, world.clock, entries, progress, done)
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
                        progress=progress.add, on_multipart=on_multipart,
                        stop=world.stop, parallel_small=cfg.transfer.parallel_small_files,
                        small_below=SMALL_FILE_BYTES)

    def record(result: UploadResult) -> None:
        recorder(result)
        if result.ok and result.action.drop is not None:
            finished.append(result.action)

    try:
        fatal = executor.run(uploads, record)
    finally:
        progress.close()
        recorder.flush()
    if fatal:
        report.fatal = fatal
    elif recorder.denied and recorder.denied == report.failed and not report.uploaded:
        report.fatal = ("access denied for every upload: the credentials need s3:PutObject on "
                        f"bucket {cfg.bucket}; run 'camup-sync check'.")
    return recorder.ledger


def _write_ledger(cfg: Config, manifest: Manifest, world: World, sent: list[Upload]) -> None:
    """One ledger object for this pass's uploads (and any an earlier pass could not write)."""
    if not cfg.ledger.enabled:
        return
    ledger.write_pass(manifest, lambda: world.get_bucket(cfg), sent, cfg.watch_dirs[0].prefix,
                      socket.gethostname(), world.clock)


def _done_as_planned(p: Plan) -> set[FileId]:
    """Files the plan leaves alone because they are uploaded and unchanged."""
    return {a.file.id for a in p.skips
            if a.file is not None and a.reason in (Reason.UPLOADED, Reason.REMOTE_MISSING)}


def _open_manifest(cfg: Config, dry_run: bool, report: PassReport) -> Optional[Manifest]:
    """The manifest for this pass: read-only for a dry run (None when there is none yet)."""
    target = target_of(cfg)
    manifest = (Manifest.open_readonly(cfg.manifest_path, target) if dry_run
                else Manifest.open(cfg.manifest_path, target))
    if manifest is not None and manifest.moved_aside:
        logger.warning("The manifest was moved aside to {}; rebuilding it from the bucket "
                       "listing (nothing is uploaded twice)", manifest.moved_aside)
        if not dry_run:
            report.manifest_moved_aside = manifest.moved_aside
    return manifest


def _act(cfg: Config, p: Plan, manifest: Manifest, world: World, report: PassReport,
         entries: dict[FileId, ManifestEntry], folders: skipping.FolderPass) -> None:
    """Carry out the plan and record what happened: uploads, the ledger, after_upload."""
    if report.listed:
        manifest.set_meta(LAST_LISTING, repr(report.started_at))
    log_decisions(p, entries, cfg.after_upload.action)
    persist_observations(p, manifest)
    for a in p.skips:
        report.skipped[a.reason.value] = report.skipped.get(a.reason.value, 0) + 1
    done = _done_as_planned(p)
    try:
        sent = _execute(cfg, p, manifest, world, report, entries, done)
        if not report.fatal:
            _write_ledger(cfg, manifest, world, sent)
        if p.local_cleanups and not report.fatal:
            clean_up(world.get_bucket(cfg), p.local_cleanups, cfg.after_upload.move_to,
                     lambda files: open_for_writing(world, files),
                     lambda f, key: manifest.record_overwritten(f, key, world.clock()))
    except RemoteError as exc:
        report.fatal = str(exc)
    count_unstorable(p, report)  # after the uploads: "denied for every upload" counts those
    skipping.record(folders, manifest, cfg, done, report.started_at)
    if report.fatal:
        logger.error("{}", report.fatal)


def run_pass(cfg: Config, world: Optional[World] = None, dry_run: bool = False,
             out: IO[str] = sys.stdout, full: bool = False) -> PassReport:
    """One whole pass: observe -> plan (once) -> print (dry run) or act -> record. Returns
    its report; report.exit_code is the process's answer. `full` stats every file (no folder
    is skipped); a dry run always does."""
    world = world or World()
    report = PassReport(started_at=world.clock())
    manifest = _open_manifest(cfg, dry_run, report)
    pass_id = manifest.start_pass(report.started_at) if manifest and not dry_run else 0
    ready: Optional[list[FileId]] = None  # files ready this pass (the backlog alert)
    ended = True  # False when the pass ends in an exception: no alert round, no heartbeat
    try:
        try:
            p, entries, folders = observe(cfg, manifest, world, report, full or dry_run)
            if p.multiparts and manifest and not dry_run:
                _settle_multiparts(p.multiparts, manifest, world.get_bucket(cfg),
                                   cfg.remote.listing == "never")
        except RemoteError as exc:
            report.fatal = str(exc)
            logger.error("{}", exc)
            return report
        if dry_run:
            print_plan(p, cfg, out)
            return report
        assert manifest is not None
        ready = [a.file.id for a in p.sends + [s for s in p.skips if s.reason is Reason.BACKOFF]
                 if a.file is not None]
        _act(cfg, p, manifest, world, report, entries, folders)
        return report
    except BaseException:
        ended = False
        raise
    finally:
        report.finished_at = world.clock()
        if manifest is not None:
            if pass_id:
                manifest.finish_pass(pass_id, report)
                if ended:
                    after_pass(cfg, manifest, report, world.clock(), ready)  # alerts, heartbeat
            manifest.close()
        if not dry_run:
            logger.info(summary_line(report))
