"""Outcomes: what a pass learned, into the manifest, the log and the report."""

from __future__ import annotations

from typing import Callable, Optional

from loguru import logger

from .config import Config
from .ledger import Upload
from .manifest import Manifest
from .models import ActionKind, EntryState, LocalFile, ManifestEntry, Plan, Reason
from .plan import FileId, cross_pass_backoff
from .progress import PassProgress
from .results import Outcome, PassReport, UploadResult
from .tables import local_day
from .text import printable


def log_decisions(p: Plan, entries: dict[FileId, ManifestEntry], after_upload: str = "keep") -> None:
    unverified = [a for a in p.skips if a.reason is Reason.UNVERIFIED]
    if unverified and after_upload != "keep":
        logger.warning("Keeping {} files recorded as uploaded (unverified), e.g. {}: after_upload "
                       "and the disk guard never delete or move what the bucket could not confirm "
                       "(write-only credentials).", len(unverified), unverified[0].file.rel)  # type: ignore[union-attr]
    missing = [a for a in p.skips if a.reason is Reason.REMOTE_MISSING]
    if missing:
        logger.warning("{} uploaded files are no longer in the bucket (deleted, or expired by a "
                       "lifecycle rule), e.g. {}. They are not re-sent; to re-upload them, delete "
                       "the state dir: the next run lists the bucket and sends only what is missing.",
                       len(missing), printable(missing[0].key))
    held = [a for a in p.skips if a.reason is Reason.BUDGET]
    if held:
        logger.info("Daily budget reached: {} file(s) ({} bytes) wait for the next day (priority "
                    "files still go)", len(held), sum(a.file.size for a in held if a.file))
    for a in p.actions:
        if a.file is None:
            continue
        name = printable(a.file.rel)  # a name may hold a newline: never a forged log line
        before = entries.get(a.file.id)
        started_waiting = before is None or before.observation is None  # said once, not every pass
        if a.reason in (Reason.SETTLING, Reason.GROWING, Reason.TOO_YOUNG) and started_waiting:
            logger.info("Waiting for file to stabilize: {} ({} bytes)", name, a.file.size)
        elif a.reason is Reason.OPEN:
            logger.info("Skipping {}: open by another process: {}", name, printable(a.detail))
        elif a.kind is ActionKind.UPLOAD:
            logger.info("File ready ({} bytes): {} ({})", a.file.size, name, a.reason.value)
        elif a.kind is ActionKind.ADOPT:
            logger.info("Already in the bucket: {} -> {} ({})", name, printable(a.key), a.reason.value)
        elif a.reason is Reason.BAD_NAME:
            logger.error("Cannot upload {}: {}", name, printable(a.detail))
        elif a.reason is Reason.RESERVED:
            logger.warning("Skipping {}: {} ({})", name, a.reason.value, printable(a.key))


BATCH_ROWS = 32  # confirmed uploads recorded per transaction ...
BATCH_SECONDS = 0.5  # ... or after this long, whichever comes first; and at the pass's end
RECORD_AT_ONCE_BYTES = 1024 * 1024  # a file this big is recorded (with its bytes) at once


class Recorder:
    """Turns each upload result into manifest rows, log lines and report counts.

    Confirmed uploads of small files are written in small batches (one transaction per
    file costs as much CPU as a small file's whole request), with the bytes they sent
    (daily_budget) in the same transaction. A kill before a batch is written loses its
    rows, never a file: the next pass's conditional PUT finds the object, and its checksum
    check adopts it; the bytes lost from the day's count are under 32 MiB (files of
    RECORD_AT_ONCE_BYTES or more are recorded at once).
    """

    def __init__(self, cfg: Config, manifest: Manifest, report: PassReport, clock: Callable[[], float],
                 entries: dict[FileId, ManifestEntry], progress: PassProgress,
                 done: Optional[set[FileId]] = None):
        self.cfg, self.manifest, self.report, self.clock = cfg, manifest, report, clock
        self.entries = entries
        self.done: set[FileId] = set() if done is None else done  # files now uploaded
        self._batch: list[tuple[LocalFile, str, Optional[str]]] = []
        self._batch_since = 0.0
        self._batch_bytes: dict[str, int] = {}  # local day -> bytes the batch sent (daily_budget)
        self._day: tuple[int, str] = (-1, "")  # (minute, its local day): local_day is not free
        self.progress = progress
        self.denied = 0
        self.ledger: list[Upload] = []  # what this pass sent, for the ledger

    def __call__(self, r: UploadResult) -> None:
        """One row of the table: outcome -> manifest operation, report count, log line."""
        f = r.action.file
        assert f is not None
        record = {
            Outcome.UPLOADED: self._sent, Outcome.ADOPTED: self._adopted,
            Outcome.UNVERIFIED: self._unverified, Outcome.GONE: self._gone,
            Outcome.CHANGED: self._changed, Outcome.LOCKED: self._locked,
            Outcome.CONFLICT_SKIPPED: self._conflict_skipped, Outcome.STOPPED: self._stopped,
            Outcome.FAILED: self._failed,
        }[r.outcome]
        record(r, f, self.clock())

    def _names(self, r: UploadResult, f: LocalFile) -> tuple[str, str]:
        return printable(f.rel), printable(f"s3://{self.cfg.bucket}/{r.key}")

    def _sent(self, r: UploadResult, f: LocalFile, now: float) -> None:
        name, url = self._names(r, f)
        day = self._day_of(now)  # the day it was confirmed on, whenever its batch is written
        self._batch_bytes[day] = self._batch_bytes.get(day, 0) + f.size
        self._uploaded(f, r.key, r.checksum, now)
        self.done.add(f.id)
        self.report.uploaded += 1
        self.report.uploaded_bytes += f.size
        self.ledger.append(Upload(r.key, f.size, r.sha256, f.mtime_ns, now, r.version_id))
        logger.success("Successfully uploaded {} -> {} ({} bytes)", name, url, f.size)
        self.progress.file_done()

    def _adopted(self, r: UploadResult, f: LocalFile, now: float) -> None:
        name, url = self._names(r, f)
        self._uploaded(f, r.key, r.checksum, now)
        self.done.add(f.id)
        self.report.adopted += 1
        logger.info("Already in the bucket with the same content: {} -> {}", name, url)
        self.progress.file_done()

    def _unverified(self, r: UploadResult, f: LocalFile, now: float) -> None:
        name, url = self._names(r, f)
        self.manifest.record_uploaded([(f, r.key, None)], now, unverified=True)
        self.report.unverified += 1
        logger.warning("Uploaded (unverified) {} -> {}: kept locally, never deleted or moved, "
                       "not sent again", name, url)
        self.progress.file_done()

    def _gone(self, r: UploadResult, f: LocalFile, now: float) -> None:
        logger.info("Gone before upload: {} (moved or deleted by the recorder)", printable(f.rel))
        self.manifest.forget([f.id])
        self._skip("gone")

    def _changed(self, r: UploadResult, f: LocalFile, now: float) -> None:
        logger.info("Changed while uploading, will upload again when stable: {}", printable(f.rel))
        if r.key:  # our object is at the key, yet the file is not done
            self.manifest.record_overwritten(f, r.key, now)
        else:
            self.manifest.reset_observation(f)
        self._skip(Reason.GROWING.value)

    def _locked(self, r: UploadResult, f: LocalFile, now: float) -> None:
        logger.info("Skipping {}: locked by another process", printable(f.rel))
        self._skip(Reason.LOCKED.value)

    def _conflict_skipped(self, r: UploadResult, f: LocalFile, now: float) -> None:
        name, url = self._names(r, f)
        logger.warning("Skipping {}: {} holds other content and on_conflict is skip", name, url)
        self._skip(Reason.CONFLICT_SKIP.value)
        # Remembered with a growing back-off, so later passes do not resend the whole
        # file just to be refused again; `status` lists it, since it is not backed up.
        self.manifest.record_failed(f, r.key or r.action.key, f"skipped: {url} holds other content "
                                    "and on_conflict is skip", now + self._backoff(f))

    def _stopped(self, r: UploadResult, f: LocalFile, now: float) -> None:
        logger.info("Stopped before {} was uploaded; the next run continues", printable(f.rel))

    def _uploaded(self, f: LocalFile, key: str, checksum: Optional[str], now: float) -> None:
        if not self._batch:
            self._batch_since = now
        self._batch.append((f, key, checksum))
        if (len(self._batch) >= BATCH_ROWS or now - self._batch_since >= BATCH_SECONDS
                or f.size >= RECORD_AT_ONCE_BYTES):
            self.flush()

    def _day_of(self, now: float) -> str:
        minute = int(now // 60)  # local days begin on a minute
        if minute != self._day[0]:
            self._day = (minute, local_day(now))
        return self._day[1]

    def flush(self) -> None:
        """Write the confirmed uploads not yet recorded (called at the end of the uploads)."""
        if self._batch:
            rows, self._batch = self._batch, []
            sent, self._batch_bytes = self._batch_bytes, {}
            self.manifest.record_uploaded(rows, self.clock(), sent=sent)

    def _backoff(self, f: LocalFile) -> float:
        entry = self.entries.get(f.id)
        return cross_pass_backoff((entry.attempts if entry and entry.state is EntryState.FAILED else 0) + 1)

    def _skip(self, reason: str) -> None:
        self.report.skipped[reason] = self.report.skipped.get(reason, 0) + 1

    def _failed(self, r: UploadResult, f: LocalFile, now: float) -> None:  # retried in later passes
        wait = self._backoff(f)
        self.manifest.record_failed(f, r.key or r.action.key, r.error or "unknown error", now + wait)
        self.report.failed += 1
        if r.denied:
            self.denied += 1
        logger.error("Failed to upload {} after {} attempt(s): {}. Will retry in {:.0f} min.",
                     printable(f.rel), r.attempts, printable(r.error or ""), wait / 60)


def persist_observations(p: Plan, manifest: Manifest) -> None:
    rows = [(a.file, a.key, a.observation) for a in p.actions
            if a.file is not None and a.observation is not None and a.kind is not ActionKind.ADOPT]
    manifest.record_observations(rows)  # type: ignore[arg-type]
    forget = [a.row for a in p.actions
              if a.kind is ActionKind.FORGET and a.reason is Reason.GONE]
    manifest.forget(forget)
    pruned = [a.row for a in p.actions
              if a.kind is ActionKind.FORGET and a.reason is Reason.PRUNED]
    manifest.forget(pruned, uploaded_too=True)
    if pruned:
        logger.info("Pruned {} manifest rows of uploaded files no longer in the folder", len(pruned))


def count_unstorable(p: Plan, report: PassReport) -> None:
    """A file S3 cannot store (not UTF-8, key too long) is a failure of the pass (exit 1),
    listed by name and reason for `status`; it is never silently skipped."""
    for a in p.skips:
        if a.reason is Reason.BAD_NAME and a.file is not None:
            report.failed += 1
            report.unstorable.append(f"{printable(a.file.rel)}: {printable(a.detail)}")
