"""Run a pass every N seconds until asked to stop, never overlapping, never bursting."""

from __future__ import annotations

import threading
from typing import Any, Callable

import schedule
from loguru import logger


def run_forever(job: Callable[[], Any], interval: float, stop: threading.Event) -> None:
    """Run `job` now and then every `interval` seconds until `stop` is set.

    A private Scheduler (not the module-level default); the job runs on this thread, so a
    slow pass delays the next instead of overlapping it, and schedule does not replay
    missed runs, so there is no burst afterwards. schedule does not catch exceptions:
    the wrapper logs them and the loop goes on.
    """
    scheduler = schedule.Scheduler()

    def guarded() -> None:
        if stop.is_set():
            return
        try:
            job()
        except Exception as exc:  # one bad pass must not end the service
            logger.error("The pass failed unexpectedly ({}: {}); trying again in {} s. This is a bug: "
                         "please report it with the log at --log-level DEBUG.", type(exc).__name__,
                         exc, interval)
            logger.opt(exception=exc).debug("The failed pass's traceback")

    guarded()
    scheduler.every(interval).seconds.do(guarded)
    while not stop.is_set():
        scheduler.run_pending()
        idle = scheduler.idle_seconds
        stop.wait(min(1.0, max(0.05, idle if idle is not None else 1.0)))
