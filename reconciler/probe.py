"""Observe other processes: which candidate files are held open for writing.

Two OS-specific answers, each behind one function:

* `find_writers` (Linux/macOS): one psutil sweep per pass over every process's open
  files, bounded in time, tolerant of processes that vanish or deny access.
* the share-mode open (Windows): localfs.open_for_upload opens with share mode
  READ|DELETE, so a sharing violation means a writer holds the file (FileLocked).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

_WRITE_MODES = {"w", "a", "r+", "a+", "w+"}


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
    import psutil  # here, not at import: an idle pass never loads it

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
