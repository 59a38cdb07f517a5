"""Windows: the few Win32 calls localfs needs, and how their answers are read.

Imported only on Windows (or by tests, which pass a fake `WinApi`). The rules, from the
Win32 documentation:

* CreateFileW with share mode READ|DELETE and never WRITE: a writer that holds the file
  makes the open fail with a sharing violation (FileLocked), and while we hold the handle
  no writer can open it, yet the recorder may still move or delete it.
* FILE_FLAG_OPEN_REPARSE_POINT opens a symlink or junction itself instead of its target;
  the handle is then refused (its attributes carry FILE_ATTRIBUTE_REPARSE_POINT).
* "If you call CreateFile on a file that is pending deletion ... GetLastError returns
  ERROR_ACCESS_DENIED": the thread's last NTSTATUS (STATUS_DELETE_PENDING) tells it from a
  real denial. Such a file is gone, not failed.
* Delete through our handle (DELETE access): SetFileInformationByHandle with
  FileDispositionInfo marks exactly that file; it goes when the handle closes.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .localfs import FileLocked, Held, check_identity, path_of
from .models import LocalFile

ERROR_FILE_NOT_FOUND = 2
ERROR_PATH_NOT_FOUND = 3
ERROR_ACCESS_DENIED = 5
ERROR_NOT_SAME_DEVICE = 17
ERROR_SHARING_VIOLATION = 32
ERROR_LOCK_VIOLATION = 33
ERROR_FILE_EXISTS = 80
ERROR_ALREADY_EXISTS = 183
ERROR_DELETE_PENDING = 303
STATUS_DELETE_PENDING = 0xC0000056
GENERIC_READ = 0x80000000
DELETE = 0x00010000
FILE_SHARE_READ = 0x1
FILE_SHARE_DELETE = 0x4
FILE_SHARE_WRITE = 0x2  # only for a live segment: the recorder is still writing
OPEN_EXISTING = 3
FILE_FLAG_SEQUENTIAL_SCAN = 0x08000000
FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000
FILE_DISPOSITION_INFO_CLASS = 4  # FILE_INFO_BY_HANDLE_CLASS.FileDispositionInfo
MOVEFILE_WRITE_THROUGH = 0x8


@dataclass
class WinApi:
    """create_file raises OSError with .winerror and .ntstatus. fstat on a descriptor is
    GetFileInformationByHandle on its handle: attributes, volume serial (st_dev) and file
    index (st_ino), read the same way os.stat read them for the scan."""

    create_file: Callable[[str, int, int, int], int]  # path, access, share, flags -> handle
    open_osfhandle: Callable[[int, int], int]
    close_handle: Callable[[int], None]
    set_delete: Callable[[int], None]  # SetFileInformationByHandle(FileDispositionInfo)
    move_file: Callable[[str, str], None]  # MoveFileExW: never replacing, never copying
    fstat: Callable[[int], Any] = os.fstat
    lstat: Callable[[str], Any] = os.lstat


def open_held(file: LocalFile, delete: bool, win: WinApi, share_write: bool = False) -> Held:
    path = path_of(file, windows=True)
    access = GENERIC_READ | (DELETE if delete else 0)
    share = FILE_SHARE_READ | FILE_SHARE_DELETE | (FILE_SHARE_WRITE if share_write else 0)
    try:
        handle = win.create_file(path, access, share,
                                 FILE_FLAG_SEQUENTIAL_SCAN | FILE_FLAG_OPEN_REPARSE_POINT)
    except OSError as exc:
        raise error_of(exc, path) from None
    try:
        fd = win.open_osfhandle(handle, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except BaseException:
        win.close_handle(handle)  # no descriptor owns it yet
        raise
    try:
        check_identity(win.fstat(fd), file, path)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)  # closes the handle too
        raise
    return Held(file, fh, path, handle=handle, win=win)


def error_of(exc: OSError, path: str) -> OSError:
    """CreateFile's answers as Python's exceptions: locked, gone, or denied."""
    code = getattr(exc, "winerror", None)
    if code in (ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION):
        return FileLocked(code, "held open by another process (sharing violation)", path)
    if code in (ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND, ERROR_DELETE_PENDING):
        return FileNotFoundError(errno.ENOENT, "gone", path)
    if code == ERROR_ACCESS_DENIED:
        if getattr(exc, "ntstatus", None) == STATUS_DELETE_PENDING:
            return FileNotFoundError(errno.ENOENT, "gone (being deleted)", path)
        return PermissionError(errno.EACCES, "access denied", path)
    return exc


def rename(held: Held, target: str, win: WinApi) -> bool:
    """MoveFileEx the verified file; False when target is on another volume (copy instead)."""
    try:
        win.move_file(held.path, target)
    except OSError as exc:
        code = getattr(exc, "winerror", None)
        if code == ERROR_NOT_SAME_DEVICE:
            return False
        if code in (ERROR_FILE_EXISTS, ERROR_ALREADY_EXISTS):
            raise FileExistsError(errno.EEXIST, "already exists", target) from None
        raise
    return True


_API: list[WinApi] = []


def api() -> WinApi:
    """The real calls, through ctypes (built once, on first use)."""
    if not _API:
        _API.append(_ctypes_api())
    return _API[0]


def _ctypes_api() -> WinApi:  # pragma: no cover - runs on Windows only
    import ctypes
    import msvcrt
    from ctypes import wintypes

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    ntdll = ctypes.WinDLL("ntdll")
    k32.CreateFileW.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID,
                                wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE]
    k32.CreateFileW.restype = wintypes.HANDLE
    k32.CloseHandle.argtypes = [wintypes.HANDLE]
    k32.SetFileInformationByHandle.argtypes = [wintypes.HANDLE, ctypes.c_int, wintypes.LPVOID,
                                               wintypes.DWORD]
    k32.SetFileInformationByHandle.restype = wintypes.BOOL
    k32.MoveFileExW.argtypes = [wintypes.LPCWSTR, wintypes.LPCWSTR, wintypes.DWORD]
    k32.MoveFileExW.restype = wintypes.BOOL
    ntdll.RtlGetLastNtStatus.restype = ctypes.c_ulong
    invalid = ctypes.c_void_p(-1).value

    def failed(path: str) -> OSError:
        status = ntdll.RtlGetLastNtStatus()  # first: any later call may overwrite it
        exc = ctypes.WinError(ctypes.get_last_error())
        exc.filename = path
        exc.ntstatus = status  # type: ignore[attr-defined]
        return exc

    def create_file(path: str, access: int, share: int, flags: int) -> int:
        handle = k32.CreateFileW(path, access, share, None, OPEN_EXISTING, flags, None)
        if handle is None or handle == invalid:
            raise failed(path)
        return int(handle)

    def set_delete(handle: int) -> None:
        info = ctypes.c_ubyte(1)  # FILE_DISPOSITION_INFO { BOOLEAN DeleteFile = TRUE }
        if not k32.SetFileInformationByHandle(handle, FILE_DISPOSITION_INFO_CLASS,
                                              ctypes.byref(info), ctypes.sizeof(info)):
            raise failed("")

    def move_file(src: str, dst: str) -> None:
        if not k32.MoveFileExW(src, dst, MOVEFILE_WRITE_THROUGH):
            raise failed(src)

    return WinApi(create_file, msvcrt.open_osfhandle, lambda h: k32.CloseHandle(h), set_delete,
                  move_file)
