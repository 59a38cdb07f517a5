"""probe.py without a server: the psutil sweep against real writer and reader processes.
(The Windows share-mode open and the path forms moved to localfs: test_localfs, test_win32.)"""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from reconciler import probe
from reconciler.probe import find_writers

from .writers import Writers, hold_open

# ---------------------------------------------------------------- find_writers, real processes


def _ident(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def test_find_writers_names_a_real_process_holding_a_file_open_for_writing(
        tmp_path: Path, writers: Writers) -> None:
    clip = tmp_path / "front.mp4"
    w = writers("append", clip, every=0.5)
    other = tmp_path / "back.mp4"
    other.write_bytes(b"finished")

    result = find_writers({_ident(clip): "front", _ident(other): "back"})

    assert result.complete
    assert result.processes > 1
    name = psutil.Process(w.pid).name()
    assert result.writers == {"front": f"{name} (pid {w.pid})"}


def test_find_writers_sees_an_idle_writer_with_an_old_mtime(tmp_path: Path, writers: Writers) -> None:
    clip = tmp_path / "idle.mp4"
    w = writers("idle", clip, size=1000)

    result = find_writers({_ident(clip): "idle"})

    assert result.writers == {"idle": f"{psutil.Process(w.pid).name()} (pid {w.pid})"}


def test_find_writers_follows_the_open_file_not_the_name(tmp_path: Path, writers: Writers) -> None:
    clip = tmp_path / "clip.mp4"
    w = writers("rename", clip, every=0.5)  # writes clip.mp4.part
    moved = tmp_path / "renamed.mp4"
    os.rename(tmp_path / "clip.mp4.part", moved)  # the recorder's handle stays on the same inode

    result = find_writers({_ident(moved): "moved"})

    assert result.writers == {"moved": f"{psutil.Process(w.pid).name()} (pid {w.pid})"}


def test_find_writers_ignores_a_reader(tmp_path: Path) -> None:
    clip = tmp_path / "played.mp4"
    clip.write_bytes(b"x" * 100)
    reader = hold_open(clip, "rb")
    try:
        assert str(clip) in {f.path for f in psutil.Process(reader.pid).open_files()}  # it holds it
        result = find_writers({_ident(clip): "played"})
    finally:
        reader.kill()
        reader.wait()
    assert result.complete
    assert result.writers == {}


def test_find_writers_with_no_time_left_reports_an_incomplete_sweep(
        tmp_path: Path, writers: Writers) -> None:
    clip = tmp_path / "a.mp4"
    writers("append", clip, every=0.5)

    result = find_writers({_ident(clip): "a"}, budget_seconds=0)

    assert result.complete is False
    assert result.writers == {}


def test_find_writers_with_no_candidates_does_not_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sweep(*args: object, **kw: object) -> None:
        raise AssertionError("swept processes with no candidates")

    monkeypatch.setattr(psutil, "process_iter", no_sweep)

    result = find_writers({})

    assert result.complete and result.processes == 0 and result.writers == {}


def _sweep_as_nobody(conn) -> None:  # runs in a child process
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)  # nobody: other users' processes now deny us their open files
    result = probe.find_writers({(1, 1): "x"})
    conn.send((result.hidden, result.complete))


def test_processes_that_deny_access_are_counted_as_hidden() -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_sweep_as_nobody, args=(child,))
    proc.start()
    hidden, complete = parent.recv()
    proc.join(timeout=30)

    assert complete
    assert hidden >= 1  # at least init (pid 1) belongs to another user
