"""The Windows logic of localfs with a fake Win32 (read against the Win32 documentation):
share mode READ|DELETE, reparse points refused, identity by volume serial + file index,
delete-pending counted as gone, no handle leaked, delete and move through the verified
handle, a cross-volume move reading through the share-mode handle."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import pytest

from reconciler import localfs, win32
from reconciler.localfs import FileLocked, LinkRefused, NotTheScannedFile, open_held
from reconciler.models import LocalFile

VOLUME, INDEX = 0x1234ABCD, 0x0005000000000123


class FakeWin:
    """CreateFileW on a real file's bytes: the handle's descriptor reads them."""

    def __init__(self, data_file: Path, attributes: int = 0x20, index: int = INDEX,
                 error: Optional[tuple[int, int]] = None, osf_error: bool = False,
                 move_error: Optional[int] = None):
        self.data_file, self.attributes, self.index = data_file, attributes, index
        self.error, self.osf_error, self.move_error = error, osf_error, move_error
        self.created: list[tuple] = []
        self.closed: list[int] = []
        self.deleted: list[int] = []
        self.moved: list[tuple[str, str]] = []
        self.fds: list[int] = []
        self.named_index = index  # what a path lookup of the name finds now

    def create_file(self, path: str, access: int, share: int, flags: int) -> int:
        self.created.append((path, access, share, flags))
        if self.error:
            exc = OSError(22, "fake")
            exc.winerror, exc.ntstatus = self.error  # type: ignore[attr-defined]
            raise exc
        return 4242

    def open_osfhandle(self, handle: int, flags: int) -> int:
        if self.osf_error:
            raise OSError(24, "Too many open files")
        fd = os.open(self.data_file, os.O_RDONLY)
        self.fds.append(fd)
        return fd

    def fstat(self, fd: int) -> Any:
        real = os.fstat(fd)
        return SimpleNamespace(st_mode=real.st_mode, st_file_attributes=self.attributes,
                               st_dev=VOLUME, st_ino=self.index)

    def lstat(self, path: str) -> Any:
        return SimpleNamespace(st_dev=VOLUME, st_ino=self.named_index)

    def api(self) -> win32.WinApi:
        return win32.WinApi(self.create_file, self.open_osfhandle, self.closed.append,
                            self.deleted.append, self._move, self.fstat, self.lstat)

    def _move(self, src: str, dst: str) -> None:
        self.moved.append((src, dst))
        if self.move_error:
            exc = OSError(22, "fake")
            exc.winerror = self.move_error  # type: ignore[attr-defined]
            raise exc


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "bytes"
    path.write_bytes(b"recorded bytes")
    return path


def scanned(data: Path, rel: str = "Cam1/a.mp4", ino: int = INDEX) -> LocalFile:
    st = os.stat(data)
    return LocalFile(r"C:\cams", rel, st.st_size, st.st_mtime_ns, VOLUME, ino)


def test_opens_share_read_delete_without_following_reparse_points(data: Path) -> None:
    fake = FakeWin(data)
    with open_held(scanned(data), win=fake.api()) as held:
        assert held.fh.read() == b"recorded bytes"
    ((path, access, share, flags),) = fake.created
    assert path == "\\\\?\\C:\\cams\\Cam1\\a.mp4"
    assert access == win32.GENERIC_READ  # no DELETE needed just to upload
    assert share == win32.FILE_SHARE_READ | win32.FILE_SHARE_DELETE and not share & 0x2  # never WRITE
    assert flags & win32.FILE_FLAG_OPEN_REPARSE_POINT and flags & win32.FILE_FLAG_SEQUENTIAL_SCAN


def test_reserved_names_are_opened_by_their_prefixed_path(data: Path) -> None:
    fake = FakeWin(data)
    with open_held(scanned(data, "Cam1/aux.mp4"), win=fake.api()):
        pass
    assert fake.created[0][0] == "\\\\?\\C:\\cams\\Cam1\\aux.mp4"


def test_for_delete_it_asks_for_delete_access(data: Path) -> None:
    fake = FakeWin(data)
    with open_held(scanned(data), delete=True, win=fake.api()):
        pass
    assert fake.created[0][1] == win32.GENERIC_READ | win32.DELETE


def test_a_reparse_point_is_refused_and_its_handle_closed(data: Path) -> None:
    fake = FakeWin(data, attributes=0x20 | localfs.FILE_ATTRIBUTE_REPARSE_POINT)  # ARCHIVE | REPARSE
    with pytest.raises(LinkRefused):
        open_held(scanned(data), win=fake.api())
    with pytest.raises(OSError):
        os.fstat(fake.fds[0])  # the descriptor (and so the handle) was closed


def test_another_file_index_is_not_the_scanned_file(data: Path) -> None:
    fake = FakeWin(data, index=INDEX + 1)
    with pytest.raises(NotTheScannedFile):
        open_held(scanned(data), win=fake.api())


def test_identity_unknown_to_the_scan_is_not_checked(data: Path) -> None:
    with open_held(scanned(data, ino=0), win=FakeWin(data, index=99).api()) as held:
        assert held.fh.read() == b"recorded bytes"


def test_a_handle_is_closed_when_open_osfhandle_fails(data: Path) -> None:
    fake = FakeWin(data, osf_error=True)
    with pytest.raises(OSError):
        open_held(scanned(data), win=fake.api())
    assert fake.closed == [4242]


@pytest.mark.parametrize(("error", "expected"), [
    ((32, 0), FileLocked), ((33, 0), FileLocked),  # a writer holds it
    ((2, 0), FileNotFoundError), ((3, 0), FileNotFoundError),
    ((303, 0), FileNotFoundError),  # ERROR_DELETE_PENDING
    ((5, win32.STATUS_DELETE_PENDING), FileNotFoundError),  # deleted, a handle still open
    ((5, 0xC0000022), PermissionError),  # STATUS_ACCESS_DENIED: a real denial
])
def test_create_file_errors(data: Path, error: tuple[int, int], expected: type) -> None:
    with pytest.raises(expected) as info:
        open_held(scanned(data), win=FakeWin(data, error=error).api())
    assert info.value.filename == "\\\\?\\C:\\cams\\Cam1\\a.mp4"
    if expected is not FileLocked:
        assert not isinstance(info.value, FileLocked)


def test_other_errors_pass_through_unchanged(data: Path) -> None:
    with pytest.raises(OSError) as info:
        open_held(scanned(data), win=FakeWin(data, error=(1117, 0)).api())  # ERROR_IO_DEVICE
    assert type(info.value) is OSError and info.value.winerror == 1117  # type: ignore[attr-defined]


def test_remove_marks_the_held_handle_for_deletion(data: Path) -> None:
    fake = FakeWin(data)
    with open_held(scanned(data), delete=True, win=fake.api()) as held:
        localfs.remove(held)
    assert fake.deleted == [4242]


def test_remove_refuses_when_the_name_holds_another_file(data: Path) -> None:
    fake = FakeWin(data)
    with open_held(scanned(data), delete=True, win=fake.api()) as held:
        fake.named_index = INDEX + 7
        with pytest.raises(NotTheScannedFile):
            localfs.remove(held)
    assert fake.deleted == []


def test_move_on_the_same_volume_is_move_file_ex_of_the_verified_path(data: Path, tmp_path: Path) -> None:
    fake = FakeWin(data)
    with open_held(scanned(data), delete=True, win=fake.api()) as held:
        localfs.move(held, str(tmp_path / "archive" / "a.mp4"), lambda fh: True)
    ((src, dst),) = fake.moved
    assert src == "\\\\?\\C:\\cams\\Cam1\\a.mp4" and dst.startswith("\\\\?\\")
    assert fake.deleted == []


def test_move_refuses_an_existing_target(data: Path, tmp_path: Path) -> None:
    fake = FakeWin(data, move_error=win32.ERROR_ALREADY_EXISTS)
    with open_held(scanned(data), delete=True, win=fake.api()) as held, pytest.raises(FileExistsError):
        localfs.move(held, str(tmp_path / "archive" / "a.mp4"), lambda fh: True)
    assert fake.deleted == []


def test_move_to_another_volume_reads_through_the_share_mode_handle(data: Path, tmp_path: Path) -> None:
    fake = FakeWin(data, move_error=win32.ERROR_NOT_SAME_DEVICE)
    target = tmp_path / "archive" / "a.mp4"
    with open_held(scanned(data), delete=True, win=fake.api()) as held:
        localfs.move(held, str(target), lambda fh: fh.read() == b"recorded bytes")
    assert target.read_bytes() == b"recorded bytes"
    assert len(fake.created) == 1  # the one share-mode handle; no second open of the source
    assert fake.deleted == [4242]  # then deleted through that handle


def test_a_live_segment_opens_sharing_write_too_so_the_recorder_is_never_refused(data: Path) -> None:
    fake = FakeWin(data)
    with localfs.open_live(scanned(data), win=fake.api()) as fh:
        assert fh.read() == b"recorded bytes"
    ((_, access, share, flags),) = fake.created
    assert access == win32.GENERIC_READ
    assert share == win32.FILE_SHARE_READ | win32.FILE_SHARE_WRITE | win32.FILE_SHARE_DELETE
    assert flags & win32.FILE_FLAG_OPEN_REPARSE_POINT  # no link followed, as for any upload
