"""One camup-sync per manifest: an OS lock that dies with its process."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Optional

from filelock import FileLock, Timeout


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
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise AlreadyRunning(f"another camup-sync ({self._holder()}) is using the manifest in "
                                 f"{self.dir}; nothing was done. Wait for it to finish, or stop "
                                 "it first.") from None
        self._lock = lock
        self.owner.write_text(f"pid {os.getpid()} on {socket.gethostname()}\n", encoding="utf-8")
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
