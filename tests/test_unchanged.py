"""models.unchanged: the one "same content as before" test (restic's fileChanged, turned
round), used by the planner, the stability rules, observation, the executor and verify."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.models import EntryState, LocalFile, ManifestEntry, Observation, stat_unchanged, unchanged

BASE = LocalFile("/w", "cam/a.mp4", 1000, 1_700_000_000_000_000_000, dev=1, ino=7)


@pytest.mark.parametrize(("name", "other", "expected"), [
    ("same size and mtime", LocalFile("/w", "cam/a.mp4", 1000, BASE.mtime_ns), True),
    ("renamed, other inode: still the same content by this test", LocalFile("/x", "b.mp4", 1000,
                                                                           BASE.mtime_ns, 2, 9), True),
    ("grown", LocalFile("/w", "cam/a.mp4", 1001, BASE.mtime_ns), False),
    ("truncated", LocalFile("/w", "cam/a.mp4", 999, BASE.mtime_ns), False),
    ("touched by one nanosecond", LocalFile("/w", "cam/a.mp4", 1000, BASE.mtime_ns + 1), False),
    ("mtime put back earlier", LocalFile("/w", "cam/a.mp4", 1000, BASE.mtime_ns - 10**9), False),
    ("a manifest row of it", ManifestEntry("/w", "cam/a.mp4", "k", EntryState.UPLOADED, 1000,
                                           BASE.mtime_ns), True),
    ("an observation of another size", Observation(5, BASE.mtime_ns, 1, 0.0), False),
])
def test_unchanged(name: str, other, expected: bool) -> None:
    assert unchanged(BASE, other) is expected, name
    assert unchanged(other, BASE) is expected, name  # symmetric


def test_stat_unchanged_reads_a_real_stat(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    path.write_bytes(b"x" * 10)
    st = os.stat(path)
    file = LocalFile(str(tmp_path), "a.mp4", st.st_size, st.st_mtime_ns)
    assert stat_unchanged(st, file)
    with open(path, "ab") as fh:
        fh.write(b"more")
    assert not stat_unchanged(os.stat(path), file)
