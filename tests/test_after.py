"""after_upload's clean_up on real files: the CURRENT bytes, read through the handle that
deletes or moves, must match the stored object; one file's trouble never stops the others."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import IO, Optional

import pytest

from reconciler.after import clean_up
from reconciler.localfs import restat
from reconciler.models import Action, ActionKind, LocalFile, Reason
from reconciler.results import StoredObject
from reconciler.s3errors import ErrorKind, RemoteError


def sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class Store:
    def __init__(self, objects: dict[str, bytes], failing: frozenset[str] = frozenset(),
                 keep_checksums: bool = True):
        self.objects = objects
        self.failing = failing
        self.keep_checksums = keep_checksums
        self.compared: list[bytes] = []  # the local bytes each comparison read

    def head(self, key: str) -> Optional[StoredObject]:
        if key in self.failing:
            raise RemoteError(ErrorKind.RETRYABLE, "S3 answered 503: SlowDown", "SlowDown")
        data = self.objects.get(key)
        if data is None:
            return None
        return StoredObject(len(data), sha(data) if self.keep_checksums else None,
                            hashlib.md5(data).hexdigest())

    def same_content(self, fh: IO[bytes], size: int, found: StoredObject) -> bool:
        fh.seek(0)
        data = fh.read(size)
        self.compared.append(data)
        if found.checksum is not None:
            return sha(data) == found.checksum
        return hashlib.md5(data).hexdigest() == found.etag


class Changed(list):
    def __call__(self, file: LocalFile, key: str) -> None:
        self.append((file.rel, key))


def scanned(root: Path, name: str) -> LocalFile:
    f = restat(LocalFile(str(root), name, 0, 0))
    assert f is not None
    return f


def setup(tmp_path: Path, names: list[str], kind: ActionKind = ActionKind.DELETE
          ) -> tuple[list[Action], dict[str, bytes]]:
    actions, objects = [], {}
    for name in names:
        data = name.encode() * 100
        (tmp_path / name).write_bytes(data)
        key = f"cams/{name}"
        objects[key] = data
        actions.append(Action(kind, Reason.UPLOADED, scanned(tmp_path, name), key))
    return actions, objects


def run(store: Store, actions: list[Action], move_to: Optional[str] = None,
        held: frozenset = frozenset()) -> tuple[int, Changed]:
    changed = Changed()
    return clean_up(store, actions, move_to, lambda files: set(held), changed), changed


def test_deletes_only_verified_files_and_one_failure_does_not_stop_the_rest(tmp_path: Path) -> None:
    actions, objects = setup(tmp_path, ["a.mp4", "b.mp4", "c.mp4", "d.mp4"])
    objects["cams/c.mp4"] = b"other content"  # the remote copy differs
    store = Store(objects, failing=frozenset({"cams/a.mp4"}))  # HEAD fails for a

    removed, changed = run(store, actions)

    assert removed == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "c.mp4"]
    assert changed == [("c.mp4", "cams/c.mp4")]  # uploaded again by a later pass


@pytest.mark.parametrize("how", ["os.replace", "rewritten in place"])
@pytest.mark.parametrize("kind", [ActionKind.DELETE, ActionKind.MOVE])
def test_a_file_swapped_for_other_bytes_of_the_same_size_and_mtime_stays_and_is_marked_changed(
        tmp_path: Path, how: str, kind: ActionKind) -> None:
    """The bug: the manifest's checksum equals the stored one, so the old code deleted it."""
    watch = tmp_path / "w"
    watch.mkdir()
    actions, objects = setup(watch, ["a.mp4"], kind)
    before = actions[0].file
    assert before is not None
    other = bytes(reversed(objects["cams/a.mp4"]))
    if how == "os.replace":
        (watch / "new").write_bytes(other)
        os.replace(watch / "new", watch / "a.mp4")
    else:
        (watch / "a.mp4").write_bytes(other)
    os.utime(watch / "a.mp4", ns=(before.mtime_ns, before.mtime_ns))  # the old mtime put back
    now = scanned(watch, "a.mp4")  # what this pass's scan saw: same size and mtime
    assert (now.size, now.mtime_ns) == (before.size, before.mtime_ns)
    store = Store(objects)

    removed, changed = run(store, [Action(kind, Reason.UPLOADED, now, "cams/a.mp4")],
                           str(tmp_path / "archive"))

    assert removed == 0
    assert (watch / "a.mp4").read_bytes() == other
    assert not (tmp_path / "archive").exists()
    assert store.compared == [other]  # the current bytes were hashed
    assert changed == [("a.mp4", "cams/a.mp4")]


def test_a_file_another_process_holds_open_is_kept(tmp_path: Path) -> None:
    actions, objects = setup(tmp_path, ["a.mp4", "b.mp4"])

    removed, _ = run(Store(objects), actions, held=frozenset({(str(tmp_path), "a.mp4")}))

    assert removed == 1
    assert (tmp_path / "a.mp4").exists() and not (tmp_path / "b.mp4").exists()


def test_a_file_changed_since_the_plan_is_kept(tmp_path: Path) -> None:
    actions, objects = setup(tmp_path, ["a.mp4"])
    (tmp_path / "a.mp4").write_bytes(b"recorder appended more")

    assert run(Store(objects), actions) == (0, [])
    assert (tmp_path / "a.mp4").exists()


def test_a_symlink_swapped_in_is_never_followed_nor_deleted(tmp_path: Path) -> None:
    actions, objects = setup(tmp_path, ["a.mp4"])
    (tmp_path / "keep.bin").write_bytes(objects["cams/a.mp4"])  # even with the very bytes
    os.remove(tmp_path / "a.mp4")
    os.symlink(tmp_path / "keep.bin", tmp_path / "a.mp4")

    assert run(Store(objects), actions) == (0, [])
    assert os.path.islink(tmp_path / "a.mp4") and (tmp_path / "keep.bin").exists()


def test_move_keeps_the_relative_path_and_never_overwrites(tmp_path: Path) -> None:
    watch = tmp_path / "w"
    watch.mkdir()
    actions, objects = setup(watch, ["a.mp4", "b.mp4"], ActionKind.MOVE)
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "b.mp4").write_bytes(b"already here")

    assert run(Store(objects), actions, str(archive))[0] == 1

    assert (archive / "a.mp4").read_bytes() == objects["cams/a.mp4"]
    assert (watch / "b.mp4").exists() and (archive / "b.mp4").read_bytes() == b"already here"


def test_without_a_stored_checksum_the_md5_etag_decides_never_the_size_alone(tmp_path: Path) -> None:
    actions, objects = setup(tmp_path, ["a.mp4", "b.mp4"])
    objects["cams/b.mp4"] = bytes(reversed(objects["cams/b.mp4"]))  # same size, other bytes

    removed, changed = run(Store(objects, keep_checksums=False), actions)

    assert removed == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.mp4"]
    assert changed == [("b.mp4", "cams/b.mp4")]


def test_a_writer_holding_the_file_makes_the_share_mode_open_fail_and_the_file_stays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows: the delete/move open (share READ|DELETE, never WRITE) fails with a sharing
    violation while the recorder holds the file: FileLocked, and nothing is removed."""
    from reconciler import localfs

    actions, objects = setup(tmp_path, ["a.mp4"])

    def locked(file: LocalFile, delete: bool = False) -> localfs.Held:
        assert delete  # asked with DELETE access, to delete through that very handle
        raise localfs.FileLocked(32, "held open by another process (sharing violation)")

    monkeypatch.setattr(localfs, "open_held", locked)

    assert run(Store(objects), actions) == (0, [])
    assert (tmp_path / "a.mp4").exists()
