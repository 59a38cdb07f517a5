"""The one seam for touching a local file after the scan (like s3transfer's OSUtils).

Every open, re-stat, delete and move of a camera file goes through here, so that:

* No link is followed. POSIX opens each folder below the watch dir and then the file
  with O_NOFOLLOW, each relative to its parent's descriptor, so neither a symlinked file
  nor a symlinked folder swapped in is entered; Windows opens with
  FILE_FLAG_OPEN_REPARSE_POINT and refuses a handle that is a reparse point.
* The handle is the file the scan saw: its (volume, file id) must be the scan's when the
  scan knew them. Anything else raises LinkRefused or NotTheScannedFile: a skip, never
  an upload, a delete or a move.
* A delete or move acts only on the file of the held, verified handle (see `remove`,
  `move`). Windows uses share mode READ|DELETE (never WRITE), so a writer that still holds
  the file makes the open fail (FileLocked) and nothing is deleted under it.

The Win32 calls (ctypes, imported only on Windows) are in win32.py, the copy to another
volume in localcopy.py; both are reached only through this module. Tests drive the
Windows logic with a fake `WinApi` on any OS.
"""

from __future__ import annotations

import errno
import ntpath
import os
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Optional

from .localcopy import PARTIAL as PARTIAL
from .localcopy import clean_partials, copy_verified, discard, fsync_dir
from .models import LocalFile, stat_unchanged

if TYPE_CHECKING:
    from .win32 import WinApi

WINDOWS = os.name == "nt"
_PREFIX = "\\\\?\\"
FILE_ATTRIBUTE_REPARSE_POINT = 0x400

# O_NONBLOCK: a FIFO swapped in must not hang the open (it is refused right after).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
# No O_DIRECTORY below the watch dir: with it Linux reports a symlink as ENOTDIR, not ELOOP.
_DIR_FLAGS = _FILE_FLAGS


class FileLocked(OSError):
    """Another process holds the file in a way that excludes our read (Windows)."""


class LinkRefused(OSError):
    """A link, reparse point or non-regular file where the scan saw a regular file."""


class NotTheScannedFile(OSError):
    """The name now holds another file than the scan saw, or the file changed meanwhile."""


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


def path_of(file: LocalFile, windows: bool = WINDOWS) -> str:
    """The path to open, stat, remove or move the file by. On Windows always the \\\\?\\
    form the scan walks with: without it a name with trailing dots or spaces, or a
    reserved one (aux.mp4), would open another file or a device."""
    if windows:
        return long_path(ntpath.join(file.root, *file.rel.split("/")), windows=True, always=True)
    return os.path.join(file.root, *file.rel.split("/"))


def local_file(root: str, rel: str, st: os.stat_result) -> LocalFile:
    return LocalFile(root=root, rel=rel, size=st.st_size, mtime_ns=st.st_mtime_ns,
                     dev=st.st_dev, ino=st.st_ino)


def _not_regular(st: Any) -> bool:
    reparse = getattr(st, "st_file_attributes", 0) & FILE_ATTRIBUTE_REPARSE_POINT
    return bool(reparse) or not stat_mod.S_ISREG(st.st_mode)


def restat(file: LocalFile, windows: bool = WINDOWS) -> Optional[LocalFile]:
    """A fresh stat of the file itself, not following a link (directory listings lag on
    Windows); None if gone or no longer a regular file (a link swapped in)."""
    try:
        st = os.lstat(path_of(file, windows))
    except (FileNotFoundError, NotADirectoryError):
        return None
    if _not_regular(st):
        return None
    return local_file(file.root, file.rel, st)


def check_identity(st: Any, file: LocalFile, path: str) -> None:
    """The opened handle must be a regular file, and the one the scan saw when it knew it."""
    if _not_regular(st):
        raise LinkRefused(errno.ELOOP, "not a regular file (a link, reparse point or device): "
                          "not followed", path)
    if file.ino and (st.st_dev, st.st_ino) != (file.dev, file.ino):
        raise NotTheScannedFile(errno.ESTALE, "another file than the scan saw is there now "
                                "(replaced meanwhile)", path)


@dataclass
class Held:
    """An open file, checked to be the scanned one, and what it takes to act on exactly it."""

    file: LocalFile
    fh: IO[bytes]
    path: str
    name: str = ""  # POSIX: its name inside dir_fd
    dir_fd: Optional[int] = None  # POSIX: its folder, reached without following links
    handle: Optional[int] = None  # Windows: the handle behind fh
    win: Optional[WinApi] = field(default=None, repr=False)

    def close(self) -> None:
        try:
            self.fh.close()
        finally:
            if self.dir_fd is not None:
                os.close(self.dir_fd)
                self.dir_fd = None

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def unchanged(self) -> bool:
        """Size and mtime of the held file are still those planned (and verified)."""
        st = os.fstat(self.fh.fileno())
        return stat_unchanged(st, self.file)


def open_held(file: LocalFile, delete: bool = False, win: Optional[WinApi] = None,
              share_write: bool = False) -> Held:
    """Open the scanned file without following links and check it is that file.

    delete=True (Windows) also asks for DELETE access, for `remove`/`move` through it.
    Raises FileNotFoundError (gone, or being deleted), FileLocked, LinkRefused,
    NotTheScannedFile, or another OSError.
    """
    if win is not None or WINDOWS:
        from . import win32

        return win32.open_held(file, delete, win or win32.api(), share_write)
    return _open_posix(file)


def open_for_upload(file: LocalFile) -> IO[bytes]:
    """The handle an upload reads from (no link followed, identity checked)."""
    return _handle_only(open_held(file))


def open_live(file: LocalFile, win: Optional[WinApi] = None) -> IO[bytes]:
    """The handle a live segment reads from, while the recorder still writes the file: as
    open_for_upload (no link followed, identity checked), but on Windows it also shares
    WRITE, so the recorder is never refused or blocked. (POSIX has no share modes.)"""
    return _handle_only(open_held(file, win=win, share_write=True))


def _handle_only(held: Held) -> IO[bytes]:
    """Reading needs no folder handle (that is for acting on the name): close it now."""
    if held.dir_fd is not None:
        os.close(held.dir_fd)
        held.dir_fd = None
    return held.fh


def _open_posix(file: LocalFile) -> Held:
    path = path_of(file, windows=False)
    *folders, name = file.rel.split("/")
    # The watch dir itself may be a link (a mount point); nothing below it is followed.
    try:
        dir_fd = os.open(file.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except NotADirectoryError:
        raise FileNotFoundError(errno.ENOENT, "gone (its watch dir is not a folder now)", path) from None
    try:
        for folder in folders:
            inner = os.open(folder, _DIR_FLAGS, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = inner
            if not stat_mod.S_ISDIR(os.fstat(dir_fd).st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", folder)
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        os.close(dir_fd)
        if exc.errno == errno.ELOOP:
            raise LinkRefused(errno.ELOOP, "a symlink: not followed", path) from None
        if exc.errno == errno.ENOTDIR:
            raise FileNotFoundError(errno.ENOENT, "gone (a folder on its path is not one now)",
                                    path) from None
        raise
    try:
        check_identity(os.fstat(fd), file, path)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        os.close(dir_fd)
        raise
    return Held(file, fh, path, name=name, dir_fd=dir_fd)


# ---- acting on the held file --------------------------------------------------------------
def _named_here(held: Held) -> None:
    """Right before acting: unchanged since verified, and its name still holds it."""
    if not held.unchanged():
        raise NotTheScannedFile(errno.ESTALE, "changed since it was verified", held.path)
    if held.win is not None:
        st, named = held.win.fstat(held.fh.fileno()), held.win.lstat(held.path)
    else:
        st = os.fstat(held.fh.fileno())
        named = os.stat(held.name, dir_fd=held.dir_fd, follow_symlinks=False)
    if (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino):
        raise NotTheScannedFile(errno.ESTALE, "another file has its name now", held.path)


def remove(held: Held) -> None:
    """Delete the held file. Windows: through its own handle (opened with DELETE access),
    so exactly that file goes when the handle closes; POSIX: unlink its name, checked
    right before to still be it."""
    _named_here(held)
    if held.win is not None:
        assert held.handle is not None
        held.win.set_delete(held.handle)
        return
    os.unlink(held.name, dir_fd=held.dir_fd)


def move(held: Held, target: str, same_bytes: Callable[[IO[bytes]], bool]) -> None:
    """Move the held file to target, never replacing anything there.

    Same volume: a rename of the verified file. Another volume: localcopy's copy from the
    held handle to a temporary name, checked with `same_bytes` (the verified content),
    renamed into place, and only then the original removed. On any failure the clip stays
    where it was and no file is left under the target's name.
    """
    target = long_path(target)  # Windows: a deep archive folder too (no-op elsewhere)
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "already exists", target)
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    clean_partials(folder)
    if _rename(held, target):
        fsync_dir(folder)
        return
    copy_verified(held.fh, held.file.size, held.file.mtime_ns, target, same_bytes, held.unchanged)
    fsync_dir(folder)  # the copy's name is on disk before the original goes
    try:
        remove(held)
    except BaseException:
        discard(target)  # undo: the clip stays where it was; the next pass tries again
        raise


def _rename(held: Held, target: str) -> bool:
    """Rename within the volume; False when target is on another one (copy instead)."""
    _named_here(held)
    if held.win is not None:
        from . import win32

        return win32.rename(held, long_path(target, windows=True, always=True), held.win)
    try:  # a hard link never replaces; checked to be our file before the old name goes
        os.link(held.name, target, src_dir_fd=held.dir_fd, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError:  # another volume, or a file system without hard links
        return False
    try:
        linked, mine = os.lstat(target), os.fstat(held.fh.fileno())
        if (linked.st_dev, linked.st_ino) != (mine.st_dev, mine.st_ino):
            raise NotTheScannedFile(errno.ESTALE, "another file has its name now", held.path)
        remove(held)
    except BaseException:
        discard(target)  # undo: the file stays only where it was
        raise
    return True
