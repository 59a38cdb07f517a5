"""Copy a held file into move_to on another volume without ever leaving a partial clip.

Used only by localfs.move: the bytes come from the already-open, verified handle (on
Windows the share-mode handle, never a plain open()), go to a temporary name beside the
target, are fsynced and checked against the verified content, and only then take the
target's name. Any failure (a full disk, a kill) leaves at most a temporary file, which
this call removes at once or `clean_partials` removes next time.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from typing import IO

from loguru import logger

PARTIAL = ".camup-partial-"  # never a clip's name; a leftover is removed on the next move there
_BLOCK = 1024 * 1024
WINDOWS = os.name == "nt"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def copy_verified(src: IO[bytes], size: int, mtime_ns: int, target: str,
                  same_bytes: Callable[[IO[bytes]], bool], unchanged: Callable[[], bool]) -> None:
    """Copy `size` bytes of src to target via a temporary name; raises (and leaves nothing
    behind) unless the copy has `size` bytes that `same_bytes` accepts and the source was
    `unchanged()` throughout."""
    temp = os.path.join(os.path.dirname(target), PARTIAL + secrets.token_hex(6))
    try:
        _copy(src, size, temp)
        with open(temp, "rb") as copy:  # our own new file: a plain open is right here
            if os.fstat(copy.fileno()).st_size != size or not same_bytes(copy):
                raise OSError(errno.EIO, "the copy does not match the verified bytes", temp)
        if not unchanged():
            raise OSError(errno.ESTALE, "the file changed while it was copied", target)
        os.utime(temp, ns=(mtime_ns, mtime_ns))
        _publish(temp, target)
    except BaseException:
        discard(temp)
        raise


def _copy(src: IO[bytes], size: int, temp: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(temp, flags, 0o666), "wb") as out:
        src.seek(0)
        left = size
        while left:
            block = src.read(min(_BLOCK, left))
            if not block:
                raise OSError(errno.ESTALE, "the file is shorter than when it was verified", temp)
            out.write(block)
            left -= len(block)
        out.flush()
        os.fsync(out.fileno())


def _publish(temp: str, target: str) -> None:
    """Give temp the target's name, never replacing a file that appeared there meanwhile."""
    if WINDOWS:
        os.rename(temp, target)  # refuses an existing target on Windows
        return
    try:
        os.link(temp, target)  # atomic, and never replaces
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "already exists", target) from None
        os.rename(temp, target)
        return
    os.unlink(temp)


def discard(path: str) -> None:
    """Remove a file we made; a failure is said, never raised (the caller's error matters)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("Could not remove {}: {}", path, exc.strerror or exc)


def fsync_dir(folder: str) -> None:
    """Make a rename in folder durable (POSIX; Windows has no directory handle to flush)."""
    if WINDOWS:
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def clean_partials(folder: str) -> int:
    """Remove temporary copies a killed run left in folder; returns how many went."""
    try:
        with os.scandir(folder) as it:
            stale = [e.path for e in it
                     if e.name.startswith(PARTIAL) and e.is_file(follow_symlinks=False)]
    except OSError:
        return 0
    for path in stale:
        discard(path)
        logger.info("Removed {}, a partial copy left by an interrupted move", path)
    return sum(not os.path.lexists(p) for p in stale)
