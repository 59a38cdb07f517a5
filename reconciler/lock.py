"""One camup-sync per manifest: an OS lock that dies with its process."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Optional

from filelock import FileLock, Timeout

from .logs import private_opener

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600  # state: only its owner reads it (POSIX)


def make_private_dir(path: str) -> None:
    """Create the state dir 0700 whatever the umask; a folder that exists is left as it is
    (it may be one the user chose and shares), its files are made 0600 one by one."""
    if os.path.isdir(path):
        return
    os.makedirs(path, mode=PRIVATE_DIR, exist_ok=True)
    if os.name == "posix":
        os.chmod(path, PRIVATE_DIR)


class AlreadyRunning(Exception):
    """Another instance holds the lock; the message names it."""


class InstanceLock:
    """An OS-level lock (flock / LockFileEx): a killed holder never blocks the next run."""

    def __init__(self, state_dir: str):
        self.dir = Path(state_dir)
        self.path = self.dir / "camup.lock"
        self.owner = self.dir / "camup.lock.owner"
        self._lock: Optional[FileLock] = None

    def __enter__(self) -> InstanceLock:
        make_private_dir(str(self.dir))
        lock = FileLock(str(self.path), timeout=0, mode=PRIVATE_FILE)
        try:
            lock.acquire()
        except Timeout:
            raise AlreadyRunning(f"another camup-sync ({self._holder()}) is using the manifest in "
                                 f"{self.dir}; nothing was done. Wait for it to finish, or stop "
                                 "it first.") from None
        self._lock = lock
        with open(self.owner, "w", encoding="utf-8", opener=private_opener) as fh:
            fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        return self

    def _holder(self) -> str:
        try:
            return self.owner.read_text(encoding="utf-8").strip()
        except OSError:
            return "unknown process"

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
