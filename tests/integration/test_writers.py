"""Issue 4: never upload a file that is still being written.

Real writer processes (tests/writers.py) hold real files open while camup-sync runs as
a real subprocess against each of the session's S3 servers: nothing is uploaded while a writer
holds its file, and once the writer is done the object equals the finished bytes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ..writers import Writer, Writers, hold_open
from .harness import Camp, assert_clean_stderr

PASS_DONE = re.compile(r"Pass done in [\d.]+ s: found (\d+), uploaded (\d+).*skipped: (.*)$")


class Sync:
    """camup-sync running continuously (or one --once pass) with its stderr collected live."""

    def __init__(self, camp: Camp, *args: str) -> None:
        self.proc = camp.start(*args)
        self.lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append("<eof>")
            self.cond.notify_all()

    @property
    def text(self) -> str:
        with self.cond:
            return "\n".join(self.lines)

    def matching(self, pattern: str) -> list[str]:
        with self.cond:
            return [line for line in self.lines if re.search(pattern, line)]

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 20.0) -> list[str]:
        """Wait until `count` stderr lines match `pattern`; fail with the log if they do not."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [line for line in self.lines if re.search(pattern, line)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] == "<eof>"):
                    raise AssertionError(f"waited for {count} x {pattern!r}; log:\n" + "\n".join(self.lines))
                self.cond.wait(min(left, 0.5))

    def passes(self) -> list[re.Match]:
        with self.cond:
            return [m for m in (PASS_DONE.search(line) for line in self.lines) if m]

    def wait_passes(self, n: int, timeout: float = 20.0) -> list[re.Match]:
        """Wait for n more completed passes than have been seen so far."""
        self.wait_for(PASS_DONE.pattern, len(self.passes()) + n, timeout)
        return self.passes()

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.wait_for("<eof>", timeout=5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def syncs() -> Iterator[list[Sync]]:
    started: list[Sync] = []
    try:
        yield started
    finally:
        for s in started:
            s.close()


def run_continuously(camp: Camp, syncs: list[Sync], *args: str) -> Sync:
    s = Sync(camp, "--interval", "1", *args)
    syncs.append(s)
    return s


def stop_cleanly(sync: Sync) -> None:
    """SIGTERM, exit 0, and never a traceback (or a loguru 'Logging error') on stderr."""
    assert sync.stop() == 0, sync.text
    assert "Traceback" not in sync.text and "Logging error" not in sync.text, sync.text


def uploaded_lines(sync: Sync, rel: str) -> list[str]:
    return sync.matching(rf"Successfully uploaded {re.escape(rel)} -> ")


def assert_nothing_uploaded_for(camp: Camp, key: str) -> None:
    assert key not in camp.objects(), f"{key} was uploaded while its writer held it"


def skip_reason(dry_run_stdout: str, rel: str) -> str:
    m = re.search(rf"^skip    {re.escape(rel)}  \((.*)\)$", dry_run_stdout, re.MULTILINE)
    assert m, f"no skip line for {rel} in:\n{dry_run_stdout}"
    return m.group(1)


def process_label(pid: int) -> str:
    return f"{psutil.Process(pid).name()} (pid {pid})"


# ---------------------------------------------------------------- the four writers


def test_appending_writer_is_not_uploaded_until_it_closes(camp: Camp, writers: Writers,
                                                          syncs: list[Sync]) -> None:
    rel, key = "front/Front.20261124_050000.mp4", "cams/front/Front.20261124_050000.mp4"
    (camp.watch / "front").mkdir()
    w = writers("append", camp.watch / rel, every=0.2)
    sync = run_continuously(camp, syncs)

    passes = sync.wait_passes(3)
    dry = camp.run("--dry-run")

    assert_nothing_uploaded_for(camp, key)
    assert [m.group(3) for m in passes[:3]] == ["too young 1", "growing 1", "growing 1"]
    assert dry.returncode == 0, dry.stderr
    assert skip_reason(dry.stdout, rel) in ("growing", "too young")
    assert f"upload  {rel}" not in dry.stdout
    size = w.finish()
    sync.wait_for(rf"Successfully uploaded {re.escape(rel)} ")
    stop_cleanly(sync)
    final = (camp.watch / rel).read_bytes()
    assert len(final) == size
    assert camp.objects() == {key: final}
    assert len(uploaded_lines(sync, rel)) == 1  # the finished file only, never a partial one


def test_idle_writer_with_an_old_mtime_is_held_back_by_the_open_file_check(
        camp: Camp, writers: Writers, syncs: list[Sync]) -> None:
    # Size and mtime never move and the mtime is a day old: only "who has it open" tells.
    rel, key = "back/Back.20261124_040000.mp4", "cams/back/Back.20261124_040000.mp4"
    (camp.watch / "back").mkdir()
    w = writers("idle", camp.watch / rel, size=200_000)
    camp.file("back/finished.jpg", 5000)  # a finished neighbour is not held up by it
    holder = process_label(w.pid)
    sync = run_continuously(camp, syncs)

    sync.wait_for(rf"Skipping {re.escape(rel)}: open by another process: {re.escape(holder)}", count=2)
    dry = camp.run("--dry-run")

    assert_nothing_uploaded_for(camp, key)
    assert "cams/back/finished.jpg" in camp.objects()
    assert dry.returncode == 0, dry.stderr
    assert skip_reason(dry.stdout, rel) == f"open by another process: {holder}"
    assert w.finish() == 200_000
    sync.wait_for(rf"Successfully uploaded {re.escape(rel)} ")
    stop_cleanly(sync)
    assert camp.objects()[key] == (camp.watch / rel).read_bytes()
    assert len(uploaded_lines(sync, rel)) == 1


def test_preallocated_file_filled_in_slowly_is_not_uploaded_with_holes(
        camp: Camp, writers: Writers, syncs: list[Sync]) -> None:
    # Full size from the first instant: a size-only check would take it for finished.
    rel, key = "side/Side.20261124_030000.mp4", "cams/side/Side.20261124_030000.mp4"
    (camp.watch / "side").mkdir()
    size = 8 * 16_384  # one chunk every 1.5 s (longer than min_age): 12 s unless told to finish
    w = writers("prealloc", camp.watch / rel, size=size, chunk=16_384, every=1.5)
    assert (camp.watch / rel).stat().st_size == size
    sync = run_continuously(camp, syncs)

    sync.wait_passes(2)
    dry = camp.run("--dry-run")
    assert_nothing_uploaded_for(camp, key)
    assert w.alive, "the writer finished too soon for this test to mean anything"

    assert dry.returncode == 0, dry.stderr
    holder = process_label(w.pid)
    assert skip_reason(dry.stdout, rel) in ("growing", "too young", f"open by another process: {holder}")
    assert b"\0" * 16_384 in (camp.watch / rel).read_bytes()  # a hole: what an early upload would hold
    assert w.finish() == size  # fills in the rest, closes
    sync.wait_for(rf"Successfully uploaded {re.escape(rel)} ")
    stop_cleanly(sync)
    final = (camp.watch / rel).read_bytes()
    assert b"\0" * 1024 not in final  # every chunk was written
    assert camp.objects() == {key: final}
    assert len(uploaded_lines(sync, rel)) == 1
    skipped = {m.group(3) for m in sync.passes() if m.group(2) == "0"}
    assert skipped <= {"too young 1", "growing 1", "open by another process 1"}, skipped


def test_temp_name_is_never_uploaded_and_the_renamed_file_is(camp: Camp, writers: Writers,
                                                             syncs: list[Sync]) -> None:
    rel, key = "ftp/Cam3_20261124_020000.mp4", "cams/ftp/Cam3_20261124_020000.mp4"
    (camp.watch / "ftp").mkdir()
    w = writers("rename", camp.watch / rel, every=0.2)
    assert (camp.watch / (rel + ".part")).exists()
    sync = run_continuously(camp, syncs)

    passes = sync.wait_passes(2)
    dry = camp.run("--dry-run")

    assert [m.group(1) for m in passes] == ["0", "0"]  # the .part is not even a candidate
    assert dry.returncode == 0, dry.stderr
    assert ".part" not in dry.stdout
    assert camp.objects() == {}
    w.finish()
    assert not (camp.watch / (rel + ".part")).exists()
    sync.wait_for(rf"Successfully uploaded {re.escape(rel)} ")
    stop_cleanly(sync)
    assert camp.objects() == {key: (camp.watch / rel).read_bytes()}


# ---------------------------------------------------------------- long recordings, changes, vanishing


def test_a_long_recording_is_never_given_up_on_and_waiting_is_said_once(
        camp: Camp, writers: Writers, syncs: list[Sync]) -> None:
    # The old script gave up after 60 s of growth. Here there is no give-up: the file is
    # skipped as growing on every pass for as long as it grows, then uploaded whole.
    rel, key = "drive/Drive.20261124_010000.mp4", "cams/drive/Drive.20261124_010000.mp4"
    (camp.watch / "drive").mkdir()
    w = writers("append", camp.watch / rel, every=0.2, chunk=2048)
    sync = run_continuously(camp, syncs)

    passes = sync.wait_passes(8, timeout=30)
    assert_nothing_uploaded_for(camp, key)
    w.finish()
    sync.wait_for(rf"Successfully uploaded {re.escape(rel)} ")
    stop_cleanly(sync)

    growing = [m.group(3) for m in passes[1:8]]
    assert growing == ["growing 1"] * 7  # seven consecutive passes saw it grow
    assert camp.objects() == {key: (camp.watch / rel).read_bytes()}
    assert len(uploaded_lines(sync, rel)) == 1
    waiting = sync.matching(rf"Waiting for file to stabilize: {re.escape(rel)} ")
    assert len(waiting) == 1, sync.text  # said once, not on every pass


def test_a_file_that_grows_after_upload_is_uploaded_again_under_the_same_key(
        camp: Camp, writers: Writers, syncs: list[Sync]) -> None:
    rel, key = "garage/Garage.20261124_000000.mp4", "cams/garage/Garage.20261124_000000.mp4"
    (camp.watch / "garage").mkdir()
    path = camp.watch / rel
    first = writers("append", path, every=0.1, chunks=3, seed=1)
    first.wait_done()
    v1 = path.read_bytes()
    sync = run_continuously(camp, syncs)
    sync.wait_for(rf"Successfully uploaded {re.escape(rel)} ")
    assert camp.objects() == {key: v1}

    second = writers("append", path, every=0.2, seed=2)  # the recorder reopens and appends
    sync.wait_passes(2)
    assert camp.objects() == {key: v1}  # still the old version, never a partial new one
    second.finish()
    sync.wait_for(rf"Successfully uploaded {re.escape(rel)} ", count=2)
    stop_cleanly(sync)

    v2 = path.read_bytes()
    assert len(v2) > len(v1) and v2.startswith(v1)
    assert camp.objects() == {key: v2}
    assert len(uploaded_lines(sync, rel)) == 2


def _gone_config(camp: Camp, settle: float, extra: str = "") -> None:
    camp.write_config(extra)
    text = camp.config_path.read_text(encoding="utf-8")
    camp.config_path.write_text(text.replace("settle_seconds: 0.3", f"settle_seconds: {settle}"),
                                encoding="utf-8")


def test_a_file_moved_away_during_the_settle_wait_is_not_an_error(camp: Camp, syncs: list[Sync]) -> None:
    camp.file("cam/stays.jpg", 3000)
    camp.file("cam/moves.mp4", 5000)
    stored = camp.root / "Stored"
    stored.mkdir()
    _gone_config(camp, settle=2)
    sync = Sync(camp, "--once", "--log-level", "DEBUG")
    syncs.append(sync)

    sync.wait_for(r"Re-checking 2 new file\(s\)")
    shutil.move(str(camp.watch / "cam/moves.mp4"), stored / "moves.mp4")  # Blue Iris: New -> Stored

    assert sync.proc.wait(30) == 0, sync.text
    sync.wait_for("<eof>")
    assert_clean_stderr(subprocess.CompletedProcess([], 0, "", sync.text))
    assert "Gone before upload: cam/moves.mp4" in sync.text
    assert set(camp.objects()) == {"cams/cam/stays.jpg"}
    again = camp.run("--once")  # and it stays forgotten: nothing failing, nothing pending
    assert again.returncode == 0, again.stderr
    assert "failed 0" in again.stderr


def test_a_file_that_vanishes_between_scan_and_upload_is_logged_gone_and_the_pass_exits_0(
        camp: Camp, syncs: list[Sync]) -> None:
    # One file in flight at a time, and a throttled multipart upload holds the first
    # file long enough for the recorder to move the second one away.
    camp.file("cam/big.mp4", 10 * 1024 * 1024 + 1, age=100)  # newest first: uploaded first
    camp.file("cam/small.dat", 2000, age=200)  # not a .jpg: priority would send it first
    camp.write_config("transfer:\n  parallel_files: 1\n  parallel_small_files: 0\n  max_bandwidth: 5MB/s\n"
                      "  multipart_threshold_mb: 5\n  multipart_chunksize_mb: 5\n")
    sync = Sync(camp, "--once")
    syncs.append(sync)

    sync.wait_for(r"Uploading cam/big\.mp4 ")
    (camp.watch / "cam/small.dat").unlink()

    assert sync.proc.wait(60) == 0, sync.text
    sync.wait_for("<eof>")
    assert "Gone before upload: cam/small.dat" in sync.text
    assert "failed 0" in sync.text
    assert set(camp.objects()) == {"cams/cam/big.mp4"}


def test_zero_byte_files_are_skipped_as_empty(camp: Camp) -> None:
    camp.file("cam/empty.mp4", data=b"")  # finished, old, but empty
    holder = hold_open(camp.watch / "cam/just-created.mp4", "wb")  # a recorder that just opened it
    try:
        dry = camp.run("--dry-run")
        once = camp.run("--once")
    finally:
        holder.kill()
        holder.wait()

    assert dry.returncode == 0, dry.stderr
    assert skip_reason(dry.stdout, "cam/empty.mp4") == "empty"
    assert skip_reason(dry.stdout, "cam/just-created.mp4") == "empty"
    assert once.returncode == 0, once.stderr
    assert "empty 2" in once.stderr
    assert camp.objects() == {}


def test_writer_helpers_clean_up_after_themselves(tmp_path: Path) -> None:
    w = Writer("append", tmp_path / "a.mp4", every=0.1).start()
    w.close()
    assert w.proc is not None and w.proc.returncode is not None  # terminated and reaped
    assert not w.stop_file.exists()
    assert os.path.getsize(tmp_path / "a.mp4") > 0
