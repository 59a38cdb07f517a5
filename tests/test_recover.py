"""recover.py: what the bucket holds of one recording, into OUT, never half-written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

import pytest

from reconciler.models import RemoteObject
from reconciler.recover import Recovered, bases_for, recover, segment_keys
from reconciler.s3errors import ErrorKind, RemoteError

BASE = "cam/_camup/live/cam/a.mp4/"


@dataclass
class MemoryStore:
    objects: dict[str, bytes] = field(default_factory=dict)
    fail_on: Optional[str] = None

    def download(self, key: str, out: IO[bytes]) -> Optional[int]:
        if key == self.fail_on:
            out.write(b"half")
            raise RemoteError(ErrorKind.RETRYABLE, "network error: reset")
        if key not in self.objects:
            return None
        out.write(self.objects[key])
        return len(self.objects[key])

    def list(self, prefix: str) -> dict[str, RemoteObject]:
        return {k: RemoteObject(k, len(v)) for k, v in self.objects.items() if k.startswith(prefix)}


def test_segment_keys_are_in_order_and_stop_at_a_gap() -> None:
    listed = [BASE + "000002", BASE + "000000", BASE + "000001", BASE + "000004"]
    assert segment_keys(listed, BASE) == [BASE + "000000", BASE + "000001", BASE + "000002"]
    assert segment_keys([BASE + "000001"], BASE) == []


def test_bases_try_the_prefix_the_key_starts_with_first() -> None:
    assert bases_for("cam/x/a.mp4", ["other/", "cam/", "cam/x/"]) == [
        "cam/x/_camup/live/cam/x/a.mp4/", "cam/_camup/live/cam/x/a.mp4/", "other/_camup/live/cam/x/a.mp4/"]


def test_live_segments_are_concatenated_when_there_is_no_object(tmp_path: Path) -> None:
    store = MemoryStore({BASE + "000000": b"abc", BASE + "000001": b"de", "cam/b.mp4": b"other"})
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old content, overwritten")
    assert recover(store, "cam/a.mp4", ["cam/"], str(out)) == Recovered(5, 2)
    assert out.read_bytes() == b"abcde"


def test_the_whole_object_wins_over_segments(tmp_path: Path) -> None:
    store = MemoryStore({"cam/a.mp4": b"whole file", BASE + "000000": b"whole"})
    out = tmp_path / "out.mp4"
    assert recover(store, "cam/a.mp4", ["cam/"], str(out)) == Recovered(10, 0)
    assert out.read_bytes() == b"whole file"


def test_nothing_there_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    assert recover(MemoryStore(), "cam/a.mp4", ["cam/"], str(out)) is None
    assert list(tmp_path.iterdir()) == []


def test_a_failure_midway_leaves_out_as_it_was_and_no_temporary_file(tmp_path: Path) -> None:
    store = MemoryStore({BASE + "000000": b"abc", BASE + "000001": b"de"}, fail_on=BASE + "000001")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"before")
    with pytest.raises(RemoteError):
        recover(store, "cam/a.mp4", ["cam/"], str(out))
    assert out.read_bytes() == b"before"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
