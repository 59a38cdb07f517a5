"""The shared token bucket for transfer.max_bandwidth, on a fake clock."""

from __future__ import annotations

import threading
import time

import pytest

from reconciler.throttle import Throttle


class FakeTime:
    """A clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds


def throttle(rate, t: FakeTime) -> Throttle:
    return Throttle(rate, clock=t.clock, sleep=t.sleep)


@pytest.mark.parametrize("rate", [None, 0])
def test_no_limit_never_sleeps(rate) -> None:
    t = FakeTime()
    th = throttle(rate, t)
    for _ in range(100):
        th.consume(10**9)
    assert t.sleeps == []


def test_first_chunk_goes_at_once_then_the_rate_holds() -> None:
    t = FakeTime()
    th = throttle(1000, t)
    th.consume(500)
    assert t.sleeps == []
    th.consume(500)
    assert t.sleeps == [pytest.approx(0.5)]
    th.consume(2000)  # each wait pays for the bytes admitted before it
    assert t.sleeps == [pytest.approx(0.5), pytest.approx(0.5)]
    th.consume(1)
    assert t.sleeps[-1] == pytest.approx(2.0)


@pytest.mark.parametrize(("rate", "chunk", "chunks"), [(1000, 100, 50), (2_000_000, 65536, 100),
                                                       (10, 1, 30)])
def test_long_run_average_is_the_rate(rate: int, chunk: int, chunks: int) -> None:
    t = FakeTime()
    th = throttle(rate, t)
    start = t.now
    for _ in range(chunks):
        th.consume(chunk)
    # the last chunk is admitted at once and paid for by whoever comes next
    assert t.now - start == pytest.approx((chunks - 1) * chunk / rate)


def test_idle_time_is_not_saved_up_for_a_burst() -> None:
    t = FakeTime()
    th = throttle(1000, t)
    th.consume(1000)
    t.now += 3600  # an hour idle
    th.consume(1000)
    assert t.sleeps == []
    th.consume(1000)
    assert t.sleeps == [pytest.approx(1.0)], "only one chunk goes free after idling"


def test_threads_share_one_budget() -> None:
    """Real clock: 4 threads x 5 chunks of 100 bytes at 10 kB/s take about 0.2 s, not 0.05."""
    th = Throttle(10_000)
    start = time.monotonic()
    threads = [threading.Thread(target=lambda: [th.consume(100) for _ in range(5)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert 0.19 <= elapsed < 2.0
