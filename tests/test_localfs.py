"""localfs on real files (POSIX): no link followed, the scanned file or nothing, delete and
move acting on the held file only, a move to another volume never leaving a partial clip.
Path forms for Windows are string logic, tested with windows=True on any OS."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO

import pytest

from reconciler import localcopy, localfs
from reconciler.localfs import (
    PARTIAL,
    FileLocked,
    LinkRefused,
    NotTheScannedFile,
    long_path,
    open_for_upload,
    open_held,
    path_of,
    restat,
    short_path,
)
from reconciler.models import LocalFile


def clip(root: Path, rel: str = "cam/a.mp4", data: bytes = b"recorded bytes") -> LocalFile:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    found = restat(LocalFile(str(root), rel, 0, 0))
    assert found is not None
    return found


def same_as(data: bytes):
    def check(fh: IO[bytes]) -> bool:
        fh.seek(0)
        return fh.read() == data
    return check


# ---- opening ------------------------------------------------------------------------------------
def test_opens_the_scanned_file(tmp_path: Path) -> None:
    f = clip(tmp_path)
    with open_for_upload(f) as fh:
        assert fh.read() == b"recorded bytes"


def test_a_symlink_swapped_in_is_refused_not_followed(tmp_path: Path) -> None:
    f = clip(tmp_path)
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"root-only bytes")
    (tmp_path / "cam" / "a.mp4").unlink()
    (tmp_path / "cam" / "a.mp4").symlink_to(secret)

    with pytest.raises(LinkRefused):
        open_for_upload(f)
    with pytest.raises(LinkRefused):  # even when the scan's identity is not known
        open_for_upload(LocalFile(f.root, f.rel, f.size, f.mtime_ns))
    assert restat(f) is None  # a re-stat does not follow it either


def test_a_symlinked_folder_swapped_in_is_refused(tmp_path: Path) -> None:
    f = clip(tmp_path)
    elsewhere = tmp_path.parent / (tmp_path.name + "-elsewhere")
    (tmp_path / "cam").rename(elsewhere)
    (tmp_path / "cam").symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(LinkRefused):
        open_for_upload(f)


def test_a_file_swapped_for_another_is_refused_by_its_identity(tmp_path: Path) -> None:
    f = clip(tmp_path)
    other = tmp_path / "other.mp4"
    other.write_bytes(b"recorded bytes")  # same size, even the same mtime
    os.utime(other, ns=(f.mtime_ns, f.mtime_ns))
    os.replace(other, tmp_path / "cam" / "a.mp4")

    with pytest.raises(NotTheScannedFile):
        open_for_upload(f)


def test_a_fifo_swapped_in_is_refused_without_hanging(tmp_path: Path) -> None:
    f = clip(tmp_path)
    (tmp_path / "cam" / "a.mp4").unlink()
    os.mkfifo(tmp_path / "cam" / "a.mp4")

    with pytest.raises(LinkRefused):
        open_for_upload(f)


def test_gone_is_file_not_found_even_when_a_folder_became_a_file(tmp_path: Path) -> None:
    f = clip(tmp_path)
    (tmp_path / "cam" / "a.mp4").unlink()
    with pytest.raises(FileNotFoundError):
        open_for_upload(f)
    (tmp_path / "cam").rmdir()
    (tmp_path / "cam").write_bytes(b"now a file")
    with pytest.raises(FileNotFoundError):
        open_for_upload(f)


def test_the_watch_dir_itself_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    f = clip(real)
    (tmp_path / "watch").symlink_to(real, target_is_directory=True)
    with open_for_upload(LocalFile(str(tmp_path / "watch"), f.rel, f.size, f.mtime_ns, f.dev, f.ino)) as fh:
        assert fh.read() == b"recorded bytes"


# ---- remove ------------------------------------------------------------------------------------
def test_remove_deletes_the_held_file(tmp_path: Path) -> None:
    f = clip(tmp_path)
    with open_held(f, delete=True) as held:
        localfs.remove(held)
    assert not (tmp_path / "cam" / "a.mp4").exists()


def test_remove_refuses_when_the_name_now_holds_another_file(tmp_path: Path) -> None:
    f = clip(tmp_path)
    with open_held(f, delete=True) as held:
        (tmp_path / "new.mp4").write_bytes(b"unsent")
        os.replace(tmp_path / "new.mp4", tmp_path / "cam" / "a.mp4")  # after the verification
        with pytest.raises(NotTheScannedFile):
            localfs.remove(held)
    assert (tmp_path / "cam" / "a.mp4").read_bytes() == b"unsent"


def test_remove_refuses_a_file_written_to_since_it_was_verified(tmp_path: Path) -> None:
    f = clip(tmp_path)
    with open_held(f, delete=True) as held:
        with open(tmp_path / "cam" / "a.mp4", "ab") as fh:
            fh.write(b" and more")
        with pytest.raises(NotTheScannedFile):
            localfs.remove(held)
    assert (tmp_path / "cam" / "a.mp4").exists()


# ---- move --------------------------------------------------------------------------------------
def test_move_on_the_same_volume_renames_and_never_replaces(tmp_path: Path) -> None:
    watch, archive = tmp_path / "w", tmp_path / "archive"
    a, b = clip(watch, "cam/a.mp4"), clip(watch, "cam/b.mp4", b"bbb")
    (archive / "cam").mkdir(parents=True)
    (archive / "cam" / "b.mp4").write_bytes(b"already here")

    with open_held(a, delete=True) as held:
        localfs.move(held, str(archive / "cam" / "a.mp4"), same_as(b"recorded bytes"))
    with open_held(b, delete=True) as held, pytest.raises(FileExistsError):
        localfs.move(held, str(archive / "cam" / "b.mp4"), same_as(b"bbb"))

    assert (archive / "cam" / "a.mp4").read_bytes() == b"recorded bytes"
    assert os.stat(archive / "cam" / "a.mp4").st_ino == a.ino  # renamed, not copied
    assert not (watch / "cam" / "a.mp4").exists()
    assert (archive / "cam" / "b.mp4").read_bytes() == b"already here" and (watch / "cam" / "b.mp4").exists()


@pytest.fixture
def other_volume(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rename of the held file fails as across volumes (EXDEV), so move copies."""
    real_link = os.link

    def link(src, dst, *, src_dir_fd=None, dst_dir_fd=None, follow_symlinks=True):
        if src_dir_fd is not None:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_link(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd,
                         follow_symlinks=follow_symlinks)

    monkeypatch.setattr(os, "link", link)


def test_move_to_another_volume_copies_verifies_then_removes(tmp_path: Path, other_volume: None) -> None:
    f = clip(tmp_path / "w")
    target = tmp_path / "archive" / "cam" / "a.mp4"
    checked: list[bytes] = []

    def same(fh: IO[bytes]) -> bool:
        checked.append(fh.read())
        return True

    with open_held(f, delete=True) as held:
        localfs.move(held, str(target), same)

    assert checked == [b"recorded bytes"]  # the copy itself was checked
    assert target.read_bytes() == b"recorded bytes"
    assert os.stat(target).st_ino != f.ino and os.stat(target).st_mtime_ns == f.mtime_ns
    assert not (tmp_path / "w" / "cam" / "a.mp4").exists()
    assert os.listdir(target.parent) == ["a.mp4"]  # no temporary file left


@pytest.mark.parametrize("failure", ["mismatch", "disk full"])
def test_a_failed_copy_leaves_no_temporary_file_and_the_clip_in_place(
        tmp_path: Path, other_volume: None, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    f = clip(tmp_path / "w")
    target = tmp_path / "archive" / "cam" / "a.mp4"
    if failure == "disk full":
        def full(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(localcopy.os, "fsync", full)

    with open_held(f, delete=True) as held, pytest.raises(OSError) as info:
        localfs.move(held, str(target), same_as(b"other bytes"))

    assert info.value.errno == (errno.ENOSPC if failure == "disk full" else errno.EIO)
    assert os.listdir(target.parent) == []
    assert (tmp_path / "w" / "cam" / "a.mp4").read_bytes() == b"recorded bytes"


def test_a_partial_copy_left_by_a_killed_run_is_removed_by_the_next_move(
        tmp_path: Path, other_volume: None) -> None:
    f = clip(tmp_path / "w")
    folder = tmp_path / "archive" / "cam"
    folder.mkdir(parents=True)
    (folder / (PARTIAL + "0123abcd")).write_bytes(b"half a clip")

    with open_held(f, delete=True) as held:
        localfs.move(held, str(folder / "a.mp4"), same_as(b"recorded bytes"))

    assert os.listdir(folder) == ["a.mp4"]


def test_move_refuses_a_file_swapped_after_verification(tmp_path: Path) -> None:
    f = clip(tmp_path / "w")
    target = tmp_path / "archive" / "a.mp4"
    with open_held(f, delete=True) as held:
        (tmp_path / "new.mp4").write_bytes(b"unsent bytes!!")
        os.replace(tmp_path / "new.mp4", tmp_path / "w" / "cam" / "a.mp4")
        with pytest.raises(NotTheScannedFile):
            localfs.move(held, str(target), same_as(b"recorded bytes"))
    assert not target.exists()
    assert (tmp_path / "w" / "cam" / "a.mp4").read_bytes() == b"unsent bytes!!"


# ---- path forms ---------------------------------------------------------------------------------
DEEP_REL = "/".join(["camera-folder-name"] * 14) + "/clip.mp4"


def test_path_of_on_windows_is_always_the_prefixed_form_the_scan_walks_with() -> None:
    short = LocalFile(r"C:\BlueIris\New", "Cam1/a.mp4", 1, 0)
    assert path_of(short, windows=True) == "\\\\?\\C:\\BlueIris\\New\\Cam1\\a.mp4"
    # Without the prefix Windows would strip the dot and space, or open the AUX device.
    for name in ("aux.mp4", "clip. .mp4.", "trailing .mp4 "):
        assert path_of(LocalFile(r"C:\cams", f"Cam1/{name}", 1, 0), windows=True) == \
            f"\\\\?\\C:\\cams\\Cam1\\{name}"
    deep = LocalFile(r"C:\BlueIris\New", DEEP_REL, 1, 0)
    assert path_of(deep, windows=True) == "\\\\?\\C:\\BlueIris\\New\\" + DEEP_REL.replace("/", "\\")
    unc = LocalFile(r"\\nas\cams", DEEP_REL, 1, 0)
    assert path_of(unc, windows=True) == "\\\\?\\UNC\\nas\\cams\\" + DEEP_REL.replace("/", "\\")


def test_path_of_off_windows_never_prefixes(tmp_path: Path) -> None:
    deep = LocalFile(str(tmp_path), DEEP_REL, 1, 0)
    assert path_of(deep, windows=False) == os.path.join(str(tmp_path), *DEEP_REL.split("/"))
    assert path_of(deep) == path_of(deep, windows=os.name == "nt")


def test_restat_lstats_the_prefixed_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = os.stat(clip(tmp_path).root + "/cam/a.mp4")
    asked = []

    def fake_lstat(path, *args, **kwargs):
        asked.append(path)
        return real

    monkeypatch.setattr(os, "lstat", fake_lstat)
    fresh = restat(LocalFile(r"C:\BlueIris\New", DEEP_REL, 0, 0), windows=True)
    assert asked == ["\\\\?\\C:\\BlueIris\\New\\" + DEEP_REL.replace("/", "\\")]
    assert fresh is not None and fresh.root == r"C:\BlueIris\New" and fresh.rel == DEEP_REL


def test_restat_sees_fresh_values_and_none_when_gone_or_not_a_file(tmp_path: Path) -> None:
    f = clip(tmp_path, "a.mp4", b"12345")
    with open(tmp_path / "a.mp4", "ab") as fh:
        fh.write(b"678")
    fresh = restat(f)
    assert fresh is not None and fresh.size == 8
    os.remove(tmp_path / "a.mp4")
    assert restat(f) is None
    (tmp_path / "a.mp4").mkdir()
    assert restat(f) is None


def test_restat_when_a_parent_became_a_file_is_none(tmp_path: Path) -> None:
    f = clip(tmp_path, "Cam1/a.mp4")
    (tmp_path / "Cam1" / "a.mp4").unlink()
    (tmp_path / "Cam1").rmdir()
    (tmp_path / "Cam1").write_bytes(b"now a file")
    assert restat(f) is None


def test_long_path() -> None:
    short = r"C:\BlueIris\New\Front.20261124_050000.mp4"
    assert long_path(short, windows=True) == short
    deep = "C:\\BlueIris\\New\\" + "\\".join(["camera-folder-name"] * 14) + "\\clip.mp4"
    assert len(deep) >= 260
    assert long_path(deep, windows=True) == "\\\\?\\" + deep
    assert long_path(long_path(deep, windows=True), windows=True) == "\\\\?\\" + deep  # prefixed: unchanged
    unc = "\\\\nas\\share\\" + "x" * 250 + "\\clip.mp4"
    assert long_path(unc, windows=True) == "\\\\?\\UNC\\nas\\share\\" + "x" * 250 + "\\clip.mp4"
    mixed = "C:/BlueIris/New/" + "y" * 250 + "/clip.mp4"  # \\?\ turns off / normalization
    assert long_path(mixed, windows=True) == "\\\\?\\C:\\BlueIris\\New\\" + "y" * 250 + "\\clip.mp4"


def test_long_path_is_a_no_op_off_windows() -> None:
    """On Linux/macOS a \\\\?\\ prefix would make a long path name another file."""
    deep = "/srv/cams/" + "/".join(["camera-folder-name"] * 14) + "/clip.mp4"
    assert long_path(deep, windows=False) == deep
    assert long_path(deep, windows=False, always=True) == deep
    windows_style = "C:\\BlueIris\\New\\" + "d" * 260
    assert long_path(windows_style, windows=False) == windows_style
    assert long_path(deep) == deep  # the default is the running OS


def test_long_path_always_prefixes_short_paths_on_windows() -> None:
    assert long_path(r"C:\BlueIris\New", windows=True, always=True) == "\\\\?\\C:\\BlueIris\\New"
    assert long_path(r"\\nas\cams", windows=True, always=True) == "\\\\?\\UNC\\nas\\cams"
    assert long_path(r"C:\BlueIris\New", windows=False, always=True) == r"C:\BlueIris\New"


@pytest.mark.parametrize("path", [r"C:\BlueIris\New", r"\\nas\cams\Front",
                                  "C:\\BlueIris\\" + "z" * 300])
def test_short_path_undoes_long_path(path: str) -> None:
    assert short_path(long_path(path, windows=True, always=True)) == path
    assert short_path(path) == path


def test_file_locked_is_an_os_error() -> None:
    assert issubclass(FileLocked, OSError)
