"""A token bucket shared by every upload thread, for transfer.max_bandwidth."""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional


class Throttle:
    """consume(n) blocks until n more bytes fit under the rate; no limit when rate is None."""

    def __init__(self, rate: Optional[int], clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = clock()

    def consume(self, n: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next_free)
            self._next_free = start + n / self.rate
            wait = start - now
        if wait > 0:
            self._sleep(wait)
