"""loop.run_forever: never overlapping, exceptions logged, stops on the event."""

from __future__ import annotations

import threading
import time

from loguru import logger

from reconciler.loop import run_forever


def test_runs_at_once_then_every_interval_and_survives_exceptions() -> None:
    stop = threading.Event()
    calls: list[float] = []
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="ERROR")

    def job() -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("boom")
        if len(calls) >= 3:
            stop.set()

    thread = threading.Thread(target=run_forever, args=(job, 0.2, stop))
    thread.start()
    thread.join(timeout=10)
    logger.remove(sink)

    assert not thread.is_alive()
    assert len(calls) == 3
    assert any("boom" in m for m in messages)
    assert calls[1] - calls[0] >= 0.15


def test_a_slow_job_is_never_overlapped_and_causes_no_burst() -> None:
    stop = threading.Event()
    running = threading.Lock()
    starts: list[float] = []
    overlaps: list[bool] = []

    def slow() -> None:
        overlaps.append(not running.acquire(blocking=False))
        starts.append(time.monotonic())
        time.sleep(0.5)  # longer than the interval
        running.release()
        if len(starts) >= 3:
            stop.set()

    thread = threading.Thread(target=run_forever, args=(slow, 0.1, stop))
    thread.start()
    thread.join(timeout=10)

    assert overlaps == [False, False, False]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(g >= 0.5 for g in gaps)  # each run starts after the previous one ended


def test_stop_before_the_next_run_ends_the_loop_promptly() -> None:
    stop = threading.Event()
    calls = []
    thread = threading.Thread(target=run_forever, args=(lambda: calls.append(1), 3600, stop))
    thread.start()
    time.sleep(0.2)
    stop.set()
    thread.join(timeout=3)

    assert not thread.is_alive()
    assert calls == [1]
