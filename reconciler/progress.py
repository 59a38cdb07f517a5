"""Progress of a pass's uploads: a live bar on a terminal, a log line every ~10 s off one.

Fed by the uploads through one thread-safe `add(bytes)`; it never touches the transfer.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from loguru import logger

LOG_EVERY_SECONDS = 10.0


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


class PassProgress:
    def __init__(self, total_files: int, total_bytes: int, live: bool,
                 clock: Callable[[], float] = time.monotonic):
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.files = 0
        self.bytes = 0
        self._clock = clock
        self._start = clock()
        self._last_log = self._start
        self._lock = threading.Lock()
        self._bar: Optional[Any] = None
        if live and total_bytes:
            from tqdm import tqdm

            self._bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=f"0/{total_files} files", leave=False, dynamic_ncols=True)

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes += n
            if self._bar is not None:
                self._bar.update(n)
                return
            now = self._clock()
            if now - self._last_log >= LOG_EVERY_SECONDS:
                self._last_log = now
                logger.info(self.line(now))

    def file_done(self) -> None:
        with self._lock:
            self.files += 1
            if self._bar is not None:
                self._bar.set_description(f"{self.files}/{self.total_files} files")

    def line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-6)
        rate = self.bytes / elapsed
        left = max(self.total_bytes - self.bytes, 0)
        eta = f"{left / rate:.0f} s" if rate > 0 else "unknown"
        return (f"Progress: {self.files}/{self.total_files} files, {_mb(self.bytes)} of "
                f"{_mb(self.total_bytes)}, {_mb(rate)}/s, ETA {eta}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
