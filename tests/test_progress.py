"""PassProgress off a terminal: a log line about every 10 s with rate and ETA."""

from __future__ import annotations

from loguru import logger

from reconciler.progress import LOG_EVERY_SECONDS, PassProgress


def test_logs_a_line_every_interval_with_rate_and_eta() -> None:
    now = [100.0]
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="INFO")
    progress = PassProgress(total_files=2, total_bytes=10_000_000, live=False, clock=lambda: now[0])

    progress.add(1_000_000)  # t=0: too soon for a line
    now[0] += LOG_EVERY_SECONDS
    progress.add(1_000_000)  # 2 MB in 10 s
    now[0] += 1
    progress.add(1_000_000)  # 1 s later: no new line yet
    logger.remove(sink)

    assert len(lines) == 1
    assert "2.0 MB of 10.0 MB" in lines[0]
    assert "0.2 MB/s" in lines[0]
    assert "ETA 40 s" in lines[0]


def test_file_counts_show_in_the_line() -> None:
    progress = PassProgress(total_files=3, total_bytes=100, live=False, clock=lambda: 5.0)
    progress.file_done()
    assert progress.line(6.0).startswith("Progress: 1/3 files")
