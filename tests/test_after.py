"""after_upload's clean_up: verified first, one file's trouble never stops the others."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import IO, Optional

from reconciler.after import clean_up
from reconciler.models import Action, ActionKind, EntryState, LocalFile, ManifestEntry, Reason
from reconciler.s3errors import ErrorKind, RemoteError
from reconciler.scan import restat


def sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class Store:
    def __init__(self, objects: dict[str, bytes], failing: frozenset[str] = frozenset(),
                 keep_checksums: bool = True):
        self.objects = objects
        self.failing = failing
        self.keep_checksums = keep_checksums

    def head(self, key: str) -> Optional[tuple[int, Optional[str], str]]:
        if key in self.failing:
            raise RemoteError(ErrorKind.RETRYABLE, "S3 answered 503: SlowDown", "SlowDown")
        data = self.objects.get(key)
        if data is None:
            return None
        return len(data), (sha(data) if self.keep_checksums else None), hashlib.md5(data).hexdigest()

    def etag_matches(self, fh: IO[bytes], size: int, etag: str) -> bool:
        return hashlib.md5(fh.read(size)).hexdigest() == etag

    def local_checksum(self, fh: IO[bytes], size: int) -> Optional[str]:
        return sha(fh.read(size))


def setup(tmp_path: Path, names: list[str]) -> tuple[list[Action], dict, dict[str, bytes]]:
    actions, entries, objects = [], {}, {}
    for name in names:
        data = name.encode() * 100
        (tmp_path / name).write_bytes(data)
        f = restat(LocalFile(str(tmp_path), name, 0, 0))
        assert f is not None
        key = f"cams/{name}"
        objects[key] = data
        actions.append(Action(ActionKind.DELETE, Reason.UPLOADED, f, key))
        entries[(f.root, f.rel)] = ManifestEntry(f.root, f.rel, key, EntryState.UPLOADED, f.size,
                                                 f.mtime_ns, checksum=sha(data), uploaded_at=1.0)
    return actions, entries, objects


def test_deletes_only_verified_files_and_one_failure_does_not_stop_the_rest(tmp_path: Path) -> None:
    actions, entries, objects = setup(tmp_path, ["a.mp4", "b.mp4", "c.mp4", "d.mp4"])
    objects["cams/c.mp4"] = b"other content"  # the remote copy differs
    store = Store(objects, failing=frozenset({"cams/a.mp4"}))  # HEAD fails for a

    removed = clean_up(store, actions, entries, None, lambda files: set())

    assert removed == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "c.mp4"]


def test_a_file_another_process_holds_open_is_kept(tmp_path: Path) -> None:
    actions, entries, objects = setup(tmp_path, ["a.mp4", "b.mp4"])
    held = {(str(tmp_path), "a.mp4")}

    removed = clean_up(Store(objects), actions, entries, None, lambda files: held)

    assert removed == 1
    assert (tmp_path / "a.mp4").exists() and not (tmp_path / "b.mp4").exists()


def test_a_file_changed_since_the_plan_is_kept(tmp_path: Path) -> None:
    actions, entries, objects = setup(tmp_path, ["a.mp4"])
    (tmp_path / "a.mp4").write_bytes(b"recorder appended more")

    assert clean_up(Store(objects), actions, entries, None, lambda files: set()) == 0
    assert (tmp_path / "a.mp4").exists()


def test_move_keeps_the_relative_path_and_never_overwrites(tmp_path: Path) -> None:
    watch = tmp_path / "w"
    watch.mkdir()
    actions, entries, objects = setup(watch, ["a.mp4", "b.mp4"])
    moved = [Action(ActionKind.MOVE, a.reason, a.file, a.key) for a in actions]
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "b.mp4").write_bytes(b"already here")

    assert clean_up(Store(objects), moved, entries, str(archive), lambda files: set()) == 1

    assert (archive / "a.mp4").read_bytes() == objects["cams/a.mp4"]
    assert (watch / "b.mp4").exists() and (archive / "b.mp4").read_bytes() == b"already here"


def test_without_a_stored_checksum_the_md5_etag_decides_never_the_size_alone(tmp_path: Path) -> None:
    actions, entries, objects = setup(tmp_path, ["a.mp4", "b.mp4"])
    objects["cams/b.mp4"] = bytes(reversed(objects["cams/b.mp4"]))  # same size, other bytes
    entries = {k: replace(e, checksum=None) for k, e in entries.items()}  # adopted from a listing

    removed = clean_up(Store(objects, keep_checksums=False), actions, entries, None, lambda files: set())

    assert removed == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.mp4"]
