"""Observe other processes: which candidate files are held open for writing.

Two OS-specific answers, each behind one function:

* `find_writers` (Linux/macOS): one psutil sweep per pass over every process's open
  files, bounded in time, tolerant of processes that vanish or deny access.
* `open_for_upload` (every OS): the handle an upload reads from. On Windows it opens
  with share mode READ|DELETE, so a sharing violation means a writer holds the file,
  and while we hold the handle no writer can open it but the recorder can still move or
  delete it. Python's plain open() does not share DELETE and would break the recorder's
  move, so it is never used there.
"""

from __future__ import annotations

import ntpath
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Optional

import psutil

ERROR_FILE_NOT_FOUND = 2
ERROR_PATH_NOT_FOUND = 3
ERROR_ACCESS_DENIED = 5
ERROR_SHARING_VIOLATION = 32
ERROR_LOCK_VIOLATION = 33
GENERIC_READ = 0x80000000
FILE_SHARE_READ = 0x1
FILE_SHARE_DELETE = 0x4
OPEN_EXISTING = 3
FILE_FLAG_SEQUENTIAL_SCAN = 0x08000000
_WRITE_MODES = {"w", "a", "r+", "a+", "w+"}


class FileLocked(OSError):
    """Another process holds the file in a way that excludes our read (Windows)."""


@dataclass
class SweepResult:
    writers: dict[Any, str] = field(default_factory=dict)  # candidate id -> "name (pid N)"
    complete: bool = True  # False: the time budget ran out before every process was seen
    processes: int = 0
    hidden: int = 0  # processes whose open files we may not see (AccessDenied: another user's)


def find_writers(candidates: Mapping[tuple[int, int], Any], budget_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> SweepResult:
    """Which candidates (keyed by (st_dev, st_ino)) another process has open for writing."""
    result = SweepResult()
    if not candidates or os.name == "nt":
        return result  # Windows: the share-mode open in open_for_upload is the gate
    deadline = clock() + budget_seconds
    me = os.getpid()
    for proc in psutil.process_iter(["name"]):
        if clock() > deadline:
            result.complete = False
            break
        if proc.pid == me:
            continue
        result.processes += 1
        try:
            files = proc.open_files()
        except psutil.AccessDenied:
            result.hidden += 1
            continue
        except (psutil.NoSuchProcess, psutil.ZombieProcess, OSError):
            continue
        for f in files:
            mode = getattr(f, "mode", None)  # Linux only; elsewhere assume it may write
            if mode is not None and mode not in _WRITE_MODES:
                continue
            ident = _identity(proc.pid, f)
            if ident in candidates:
                result.writers[candidates[ident]] = f"{proc.info.get('name') or '?'} (pid {proc.pid})"
    return result


def _identity(pid: int, f: Any) -> Optional[tuple[int, int]]:
    # /proc/PID/fd/N is the open file itself, even if it was renamed since it was opened.
    for path in (f"/proc/{pid}/fd/{f.fd}", f.path):
        try:
            st = os.stat(path)
            return (st.st_dev, st.st_ino)
        except (OSError, ValueError):
            continue
    return None


WINDOWS = os.name == "nt"
_PREFIX = "\\\\?\\"


def long_path(path: str, windows: bool = WINDOWS, always: bool = False) -> str:
    """Windows: a path of 248+ characters (or any, with `always`) gets the \\\\?\\ prefix,
    which lifts the 260-character limit; elsewhere the path is returned unchanged.

    The prefix turns off Windows' own normalisation, so the path is made absolute and
    normalised first (ntpath's rules: the tests pass windows=True on any OS).
    """
    if not windows or path.startswith(_PREFIX) or (len(path) < 248 and not always):
        return path
    path = ntpath.abspath(path)
    return _PREFIX + "UNC\\" + path[2:] if path.startswith("\\\\") else _PREFIX + path


def short_path(path: str) -> str:
    """The path as a person wrote it: without the \\\\?\\ (or \\\\?\\UNC\\) prefix, for messages."""
    if path.startswith(_PREFIX + "UNC\\"):
        return "\\\\" + path[len(_PREFIX) + 4:]
    return path[len(_PREFIX):] if path.startswith(_PREFIX) else path


def open_shared(path: str, create_file: Callable[..., int],
                open_osfhandle: Callable[[int, int], int]) -> IO[bytes]:
    """Windows: open for reading with share READ|DELETE; map the OS's answers to Python's."""
    try:
        # Only ever called on Windows (open_for_upload), so the prefix rule applies here always.
        handle = create_file(long_path(path, windows=True), GENERIC_READ,
                             FILE_SHARE_READ | FILE_SHARE_DELETE, 0, OPEN_EXISTING,
                             FILE_FLAG_SEQUENTIAL_SCAN, 0)
    except OSError as exc:
        code = getattr(exc, "winerror", None)
        if code in (ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION):
            raise FileLocked(code, "held open by another process (sharing violation)", path) from None
        if code in (ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND):
            raise FileNotFoundError(code, "gone", path) from None
        if code == ERROR_ACCESS_DENIED:
            raise PermissionError(code, "access denied", path) from None
        raise
    fd = open_osfhandle(handle, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    return os.fdopen(fd, "rb")


def open_for_upload(path: str) -> IO[bytes]:
    """The handle an upload reads from (see the module doc for why it differs on Windows)."""
    if sys.platform == "win32":
        import _winapi  # type: ignore[import-not-found]
        import msvcrt

        return open_shared(path, _winapi.CreateFile, msvcrt.open_osfhandle)
    return open(path, "rb")


FILE_SHARE_WRITE = 0x2
FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000
FILE_ATTRIBUTE_REPARSE_POINT = 0x400


def open_live(path: str) -> IO[bytes]:
    """The handle a live segment reads from: it shares read, write AND delete, so the
    recorder that is still writing the file is never blocked or refused, and it follows
    no link (a symlink or reparse point is refused). The lead may move this to localfs.py.
    """
    if sys.platform == "win32":
        import _winapi  # type: ignore[import-not-found]
        import msvcrt

        try:
            handle = _winapi.CreateFile(
                long_path(path, windows=True), GENERIC_READ,
                FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, 0, OPEN_EXISTING,
                FILE_FLAG_OPEN_REPARSE_POINT, 0)
        except OSError as exc:
            if getattr(exc, "winerror", None) in (ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND):
                raise FileNotFoundError(exc.winerror, "gone", path) from None
            raise
        fh = os.fdopen(msvcrt.open_osfhandle(handle, os.O_RDONLY | getattr(os, "O_BINARY", 0)), "rb")
        if getattr(os.fstat(fh.fileno()), "st_file_attributes", 0) & FILE_ATTRIBUTE_REPARSE_POINT:
            fh.close()
            raise OSError(f"{path} is a link (reparse point); links are not followed")
        return fh
    # POSIX has no share modes: a read handle never blocks a writer. O_NOFOLLOW: no link.
    return os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")
