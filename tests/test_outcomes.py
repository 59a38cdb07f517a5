"""Recorder: confirmed uploads reach the manifest in small batches, and all of them by the
end of the uploads; nothing is recorded that the store did not confirm."""

from __future__ import annotations

import time
from pathlib import Path

from reconciler.config import from_mapping
from reconciler.manifest import Manifest
from reconciler.models import Action, ActionKind, EntryState, LocalFile, Reason
from reconciler.outcomes import BATCH_ROWS, BATCH_SECONDS, RECORD_AT_ONCE_BYTES, Recorder
from reconciler.progress import PassProgress
from reconciler.results import Outcome, PassReport, UploadResult
from reconciler.tables import local_day


def _recorder(tmp_path: Path, clock: list[float]) -> tuple[Recorder, Manifest]:
    cfg = from_mapping({"watch_dir": str(tmp_path), "bucket": "b-b-b"}, tmp_path, env={})
    m = Manifest.open(tmp_path / "m.sqlite3")
    return Recorder(cfg, m, PassReport(0.0), lambda: clock[0], {}, PassProgress(1, 1, False)), m


def _ok(i: int, root: str) -> UploadResult:
    f = LocalFile(root, f"cam/{i:03d}.jpg", 10, 1)
    action = Action(ActionKind.UPLOAD, Reason.NEW, f, f.rel)
    return UploadResult(action, Outcome.UPLOADED, key=f.rel, checksum="c")


def test_confirmed_uploads_are_written_in_batches_and_all_by_the_flush(tmp_path: Path) -> None:
    clock = [100.0]
    rec, m = _recorder(tmp_path, clock)
    root = str(tmp_path)
    for i in range(BATCH_ROWS - 1):
        rec(_ok(i, root))
    assert m.entries_for(root) == {}  # not yet a batch
    rec(_ok(BATCH_ROWS - 1, root))
    assert len(m.entries_for(root)) == BATCH_ROWS
    rec(_ok(BATCH_ROWS, root))
    failed = _ok(999, root)
    rec(UploadResult(failed.action, Outcome.FAILED, error="refused"))  # failures are written at once
    assert len(m.entries_for(root)) == BATCH_ROWS + 1
    rec.flush()
    rows = m.entries_for(root)
    assert len(rows) == BATCH_ROWS + 2
    assert rows[(root, "cam/999.jpg")].state is EntryState.FAILED
    assert rows[(root, f"cam/{BATCH_ROWS:03d}.jpg")].state is EntryState.UPLOADED
    assert rec.report.uploaded == BATCH_ROWS + 1 and len(rec.done) == BATCH_ROWS + 1
    m.close()


def test_a_slow_trickle_is_written_after_batch_seconds(tmp_path: Path) -> None:
    clock = [100.0]
    rec, m = _recorder(tmp_path, clock)
    rec(_ok(1, str(tmp_path)))
    clock[0] += BATCH_SECONDS
    rec(_ok(2, str(tmp_path)))
    assert len(m.entries_for(str(tmp_path))) == 2
    m.close()


def test_bytes_sent_today_are_counted_with_each_batch_and_all_by_the_flush(tmp_path: Path) -> None:
    clock = [time.mktime((2026, 11, 20, 12, 0, 0, 0, 0, -1))]  # local noon: one local day
    rec, m = _recorder(tmp_path, clock)
    root = str(tmp_path)
    for i in range(BATCH_ROWS):  # one full batch: its rows and its bytes, together
        rec(_ok(i, root))
    assert m.bytes_sent_on(local_day(clock[0])) == 10 * BATCH_ROWS
    rec(_ok(BATCH_ROWS, root))
    adopted = _ok(500, root)
    rec(UploadResult(adopted.action, Outcome.ADOPTED, key=adopted.action.key, checksum="c"))
    rec.flush()
    assert m.bytes_sent_on(local_day(clock[0])) == 10 * (BATCH_ROWS + 1)  # adopting sends nothing
    m.close()


def test_bytes_count_on_the_day_each_file_was_confirmed_not_the_batchs_first(tmp_path: Path) -> None:
    before_midnight = time.mktime((2026, 11, 20, 23, 59, 59, 0, 0, -1))
    clock = [before_midnight]
    rec, m = _recorder(tmp_path, clock)
    root = str(tmp_path)
    rec(_ok(1, root))
    clock[0] += 20 * 60  # a long upload in between: the batch stays open past midnight
    rec(_ok(2, root))
    rec.flush()
    assert m.bytes_sent_on(local_day(before_midnight)) == 10
    assert m.bytes_sent_on(local_day(clock[0])) == 10
    m.close()


def test_a_big_file_is_recorded_with_its_bytes_at_once(tmp_path: Path) -> None:
    """A kill right after a clip's upload must not lose its bytes from the day's count (an
    adopted file adds none): files of RECORD_AT_ONCE_BYTES or more do not wait for a batch."""
    clock = [time.mktime((2026, 11, 20, 12, 0, 0, 0, 0, -1))]
    rec, m = _recorder(tmp_path, clock)
    root = str(tmp_path)
    rec(_ok(1, root))  # a small one waits for its batch ...
    clip = LocalFile(root, "cam/clip.mp4", RECORD_AT_ONCE_BYTES, 1)
    rec(UploadResult(Action(ActionKind.UPLOAD, Reason.NEW, clip, clip.rel), Outcome.UPLOADED,
                     key=clip.rel, checksum="c"))
    # ... and goes with the clip, before any flush (no flush: as if killed here)
    assert set(m.entries_for(root)) == {(root, "cam/001.jpg"), (root, "cam/clip.mp4")}
    assert m.bytes_sent_on(local_day(clock[0])) == 10 + RECORD_AT_ONCE_BYTES
    m.close()
