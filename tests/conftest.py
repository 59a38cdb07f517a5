"""Shared helpers for unit tests: builders for records and configs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.receiver import Receiver
from tests.writers import Writers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # seaweed.py, shared with scripts/demo


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config.yaml into tmp_path and return its path."""

    def write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def writers() -> Iterator[Writers]:
    """Real writer processes for a test; every one is stopped afterwards."""
    pool = Writers()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP receiver for notifications and heartbeats (127.0.0.1, this process)."""
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()
