"""probe.py without a server: the Windows share-mode decision logic (with a fake
CreateFile), long paths, and the psutil sweep against real writer and reader processes."""

from __future__ import annotations

import ntpath
import os
import types
from pathlib import Path

import psutil
import pytest

from reconciler import probe
from reconciler.probe import FileLocked, find_writers, long_path, open_shared, short_path

from .writers import Writers, hold_open


def _raising(winerror: int):
    def create_file(*args: object) -> int:
        exc = OSError(22, f"fake error {winerror}")
        exc.winerror = winerror  # type: ignore[attr-defined]
        raise exc

    return create_file


def _never(*args: object) -> int:
    raise AssertionError("open_osfhandle must not be called when CreateFile failed")


@pytest.mark.parametrize("code", [32, 33])
def test_sharing_or_lock_violation_means_locked_by_a_writer(code: int) -> None:
    with pytest.raises(FileLocked) as info:
        open_shared(r"C:\cams\a.mp4", _raising(code), _never)
    assert info.value.filename == r"C:\cams\a.mp4"
    assert isinstance(info.value, OSError)


@pytest.mark.parametrize("code", [2, 3])
def test_file_or_path_not_found_means_gone(code: int) -> None:
    with pytest.raises(FileNotFoundError) as info:
        open_shared(r"C:\cams\a.mp4", _raising(code), _never)
    assert not isinstance(info.value, FileLocked)


def test_access_denied_is_a_permission_error_not_a_lock() -> None:
    with pytest.raises(PermissionError) as info:
        open_shared(r"C:\cams\a.mp4", _raising(5), _never)
    assert not isinstance(info.value, FileLocked)


def test_other_os_errors_pass_through_unchanged() -> None:
    with pytest.raises(OSError) as info:
        open_shared(r"C:\cams\a.mp4", _raising(1117), _never)  # ERROR_IO_DEVICE
    assert type(info.value) is OSError
    assert info.value.winerror == 1117  # type: ignore[attr-defined]


def test_success_returns_a_readable_binary_file_from_the_handle(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"recorded bytes")
    calls: dict[str, tuple] = {}

    def create_file(*args: object) -> int:
        calls["create"] = args
        return 4242  # a Windows HANDLE

    def open_osfhandle(handle: int, flags: int) -> int:
        calls["osf"] = (handle, flags)
        return os.open(target, os.O_RDONLY)

    with open_shared(str(target), create_file, open_osfhandle) as fh:
        assert fh.read() == b"recorded bytes"
        assert "b" in fh.mode and fh.readable() and not fh.writable()
    path, access, share, _security, disposition, flag_bits, _template = calls["create"]
    assert path == str(target)
    assert access == probe.GENERIC_READ
    assert share == probe.FILE_SHARE_READ | probe.FILE_SHARE_DELETE  # never FILE_SHARE_WRITE (0x2)
    assert not share & 0x2
    assert disposition == probe.OPEN_EXISTING
    assert flag_bits & probe.FILE_FLAG_SEQUENTIAL_SCAN
    assert calls["osf"] == (4242, os.O_RDONLY | getattr(os, "O_BINARY", 0))


def test_open_shared_passes_long_paths_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "os", types.SimpleNamespace(path=ntpath, O_RDONLY=0, fdopen=os.fdopen))
    seen = []

    def create_file(path: str, *args: object) -> int:
        seen.append(path)
        raise _oserror(2)

    long = "C:\\cams\\" + "d" * 250 + "\\a.mp4"
    with pytest.raises(FileNotFoundError):
        open_shared(long, create_file, _never)
    assert seen == ["\\\\?\\" + long]


def _oserror(code: int) -> OSError:
    exc = OSError(22, "fake")
    exc.winerror = code  # type: ignore[attr-defined]
    return exc


def test_long_path() -> None:
    short = r"C:\BlueIris\New\Front.20261124_050000.mp4"
    assert long_path(short, windows=True) == short
    deep = "C:\\BlueIris\\New\\" + "\\".join(["camera-folder-name"] * 14) + "\\clip.mp4"
    assert len(deep) >= 260
    assert long_path(deep, windows=True) == "\\\\?\\" + deep
    assert long_path(long_path(deep, windows=True), windows=True) == "\\\\?\\" + deep  # prefixed: unchanged
    unc = "\\\\nas\\share\\" + "x" * 250 + "\\clip.mp4"
    assert long_path(unc, windows=True) == "\\\\?\\UNC\\nas\\share\\" + "x" * 250 + "\\clip.mp4"
    mixed = "C:/BlueIris/New/" + "y" * 250 + "/clip.mp4"  # \\?\ turns off / normalization
    assert long_path(mixed, windows=True) == "\\\\?\\C:\\BlueIris\\New\\" + "y" * 250 + "\\clip.mp4"


def test_long_path_is_a_no_op_off_windows() -> None:
    """On Linux/macOS a \\\\?\\ prefix would make a long path name another file."""
    deep = "/srv/cams/" + "/".join(["camera-folder-name"] * 14) + "/clip.mp4"
    assert len(deep) >= 260
    assert long_path(deep, windows=False) == deep
    assert long_path(deep, windows=False, always=True) == deep
    windows_style = "C:\\BlueIris\\New\\" + "d" * 260
    assert long_path(windows_style, windows=False) == windows_style


@pytest.mark.skipif(os.name == "nt", reason="the default is the running OS")
def test_long_path_default_follows_the_running_os() -> None:
    deep = "/srv/cams/" + "d" * 300 + "/clip.mp4"
    assert long_path(deep) == deep


def test_long_path_always_prefixes_short_paths_on_windows() -> None:
    assert long_path(r"C:\BlueIris\New", windows=True, always=True) == "\\\\?\\C:\\BlueIris\\New"
    assert long_path(r"\\nas\cams", windows=True, always=True) == "\\\\?\\UNC\\nas\\cams"
    assert long_path(r"C:\BlueIris\New", windows=False, always=True) == r"C:\BlueIris\New"


@pytest.mark.parametrize("path", [r"C:\BlueIris\New", r"\\nas\cams\Front",
                                  "C:\\BlueIris\\" + "z" * 300])
def test_short_path_undoes_long_path(path: str) -> None:
    assert short_path(long_path(path, windows=True, always=True)) == path
    assert short_path(path) == path


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
