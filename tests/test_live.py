"""live.py: segments sent from a real file into an in-memory store, recorded in a real manifest."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

import pytest

from reconciler.live import LiveSender, observe_heads
from reconciler.manifest import Manifest
from reconciler.models import Action, ActionKind, LiveState, LocalFile, Reason
from reconciler.results import PassReport
from reconciler.s3errors import ErrorKind, RemoteError

BASE = "cam/_camup/live/cam/a.mp4/"
NOW = 1_700_000_000.0


@dataclass
class MemoryStore:
    name: str = "cams"
    objects: dict[str, bytes] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    fail_delete: Optional[RemoteError] = None
    fail_upload: Optional[RemoteError] = None

    def upload_range(self, fh: IO[bytes], key: str, start: int, length: int, events):
        if self.fail_upload:
            raise self.fail_upload
        fh.seek(start)
        self.objects[key] = fh.read(length)
        return None

    def delete(self, key: str) -> None:
        if self.fail_delete:
            raise self.fail_delete
        self.deleted.append(key)
        self.objects.pop(key, None)


@pytest.fixture
def world(tmp_path: Path):
    store = MemoryStore()
    manifest = Manifest.open(tmp_path / "state" / "m.sqlite3")
    report = PassReport(started_at=NOW)
    yield store, manifest, report, LiveSender(store, manifest, report)
    manifest.close()


def recording(tmp_path: Path, data: bytes) -> LocalFile:
    (tmp_path / "a.mp4").write_bytes(data)
    st = os.stat(tmp_path / "a.mp4")
    return LocalFile(str(tmp_path), "a.mp4", st.st_size, st.st_mtime_ns)


def segment(file: LocalFile, seq: int, span: tuple[int, int], drop: Optional[LiveState] = None) -> Action:
    reason = Reason.LIVE_RESTART if drop else Reason.LIVE
    return Action(ActionKind.SEGMENT, reason, file, f"{BASE}{seq:06d}", span=span, drop=drop)


def test_a_segment_is_exactly_the_planned_range_even_if_the_file_grew_since(world, tmp_path: Path) -> None:
    store, manifest, report, sender = world
    data = os.urandom(5000)
    file = recording(tmp_path, data[:3000])
    with open(tmp_path / "a.mp4", "ab") as writer:  # the recorder appends after the scan
        writer.write(data[3000:])
    sender.send([segment(file, 0, (0, 3000))])
    assert store.objects == {BASE + "000000": data[:3000]}
    (state,) = manifest.live_states().values()
    assert (state.segments, state.sent, state.base, state.last_at) == (1, 3000, BASE, NOW)  # the pass's start
    assert (state.head_sha, state.head_len) == (hashlib.sha256(data[:3000]).hexdigest(), 3000)
    sender.send([segment(replace_size(file, 5000), 1, (3000, 5000))])
    assert b"".join(store.objects[k] for k in sorted(store.objects)) == data
    assert (report.segments, report.segment_bytes) == (2, 5000)


def replace_size(file: LocalFile, size: int) -> LocalFile:
    return LocalFile(file.root, file.rel, size, file.mtime_ns)


def test_a_file_that_shrank_before_the_read_sends_nothing(world, tmp_path: Path) -> None:
    store, manifest, _, sender = world
    file = recording(tmp_path, b"x" * 100)
    sender.send([segment(file, 0, (0, 500))])
    assert store.objects == {} and manifest.live_states() == {}


def test_restart_deletes_the_old_segments_newest_first_then_sends_seq_0(world, tmp_path: Path) -> None:
    store, manifest, _, sender = world
    old = LiveState(str(tmp_path), "a.mp4", BASE, 2, 900, NOW - 60, "00" * 32, 500)
    store.objects = {BASE + "000000": b"o" * 500, BASE + "000001": b"o" * 400}
    file = recording(tmp_path, b"n" * 300)
    sender.send([segment(file, 0, (0, 300), drop=old)])
    assert store.deleted == [BASE + "000002", BASE + "000001", BASE + "000000"]
    assert store.objects == {BASE + "000000": b"n" * 300}
    (state,) = manifest.live_states().values()
    assert (state.segments, state.sent) == (1, 300)


def test_restart_waits_while_the_old_segments_cannot_be_deleted_yet(world, tmp_path: Path) -> None:
    store, _, _, sender = world
    old = LiveState(str(tmp_path), "a.mp4", BASE, 2, 900, NOW - 60, "00" * 32, 500)
    store.objects = {BASE + "000000": b"o"}
    store.fail_delete = RemoteError(ErrorKind.RETRYABLE, "S3 answered 503", "503")
    sender.send([segment(recording(tmp_path, b"n" * 300), 0, (0, 300), drop=old)])
    assert store.objects == {BASE + "000000": b"o"}  # no new seq 0 among stale segments


def test_without_delete_permission_segments_are_left_and_forgotten(world, tmp_path: Path) -> None:
    store, manifest, _, sender = world
    file = recording(tmp_path, b"d" * 10)
    manifest.record_segment(file, BASE, 0, 10, NOW, ("", 0))
    store.fail_delete = RemoteError(ErrorKind.THIS_FILE, "access denied", "AccessDenied")
    (state,) = manifest.live_states().values()
    sender.finish([Action(ActionKind.CLEANUP, Reason.LIVE_DONE, file, "cam/a.mp4", drop=state)])
    assert manifest.live_states() == {}  # not retried every pass: the lifecycle rule expires them


def test_a_failed_segment_counts_as_a_failure_and_a_fatal_one_ends_the_pass(world, tmp_path: Path) -> None:
    store, manifest, report, sender = world
    file = recording(tmp_path, b"z" * 10)
    store.fail_upload = RemoteError(ErrorKind.RETRYABLE, "S3 answered 500", "500")
    sender.send([segment(file, 0, (0, 10))])
    assert report.failed == 1 and manifest.live_states() == {}
    store.fail_upload = RemoteError(ErrorKind.FATAL, "no such bucket", "NoSuchBucket")
    with pytest.raises(RemoteError):
        sender.send([segment(file, 0, (0, 10))])


def test_observe_heads_sees_a_rewritten_start(tmp_path: Path) -> None:
    file = recording(tmp_path, b"a" * 100)
    state = LiveState(file.root, file.rel, BASE, 1, 50, NOW, hashlib.sha256(b"a" * 50).hexdigest(), 50)
    assert observe_heads({file.id: state}, [file])[file.id].head_intact is True
    file = recording(tmp_path, b"b" + b"a" * 99)
    assert observe_heads({file.id: state}, [file])[file.id].head_intact is False
    assert observe_heads({file.id: state}, [])[file.id].head_intact is True  # not here: not judged


def test_open_live_follows_no_symlink(tmp_path: Path) -> None:
    from reconciler.localfs import LinkRefused, open_live

    (tmp_path / "real.mp4").write_bytes(b"r")
    os.symlink(tmp_path / "real.mp4", tmp_path / "link.mp4")
    with pytest.raises(LinkRefused):
        open_live(LocalFile(str(tmp_path), "link.mp4", 1, 0))
    with open_live(LocalFile(str(tmp_path), "real.mp4", 1, 0)) as fh:
        assert fh.read() == b"r"
