"""after_upload: local files are deleted or moved only after the remote copy is verified."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.writers import hold_open

from .harness import Camp, assert_clean_stderr


def test_delete_happens_on_a_later_pass_only_after_verification(camp: Camp) -> None:
    camp.write_config("after_upload:\n  action: delete\n")
    kept = camp.file("cam/a.mp4", 5000)
    data = kept.read_bytes()

    first = camp.run("--once")

    assert first.returncode == 0, first.stderr
    assert kept.exists()  # never in the pass that uploaded it: the record must exist first
    preview = camp.run("--dry-run")
    assert "delete  cam/a.mp4" in preview.stdout
    assert kept.exists()
    second = camp.run("--once")
    assert second.returncode == 0, second.stderr
    assert not kept.exists()
    assert camp.objects() == {"cams/cam/a.mp4": data}
    assert_clean_stderr(second)


def test_a_file_whose_remote_copy_differs_is_never_deleted(camp: Camp) -> None:
    camp.write_config("after_upload:\n  action: delete\n")
    path = camp.file("cam/a.mp4", 5000)
    assert camp.run("--once").returncode == 0
    camp.s3.put_object(Bucket=camp.bucket, Key="cams/cam/a.mp4", Body=b"tampered")

    result = camp.run("--once")

    assert path.exists()
    assert "not verified" in result.stderr


def test_missing_remote_object_keeps_the_file(camp: Camp) -> None:
    camp.write_config("after_upload:\n  action: delete\n")
    path = camp.file("cam/a.mp4", 5000)
    assert camp.run("--once").returncode == 0
    camp.s3.delete_object(Bucket=camp.bucket, Key="cams/cam/a.mp4")

    camp.run("--once")

    assert path.exists()


def test_move_keeps_subfolders_and_waits_for_min_age(camp: Camp) -> None:
    camp.write_config("after_upload:\n  action: move\n  move_to: archive\n  min_age_hours: 1\n")
    path = camp.file("cam/a.jpg", 700)
    assert camp.run("--once").returncode == 0
    assert camp.run("--once").returncode == 0
    assert path.exists()  # uploaded less than an hour ago

    camp.write_config("after_upload:\n  action: move\n  move_to: archive\n")
    assert camp.run("--once").returncode == 0

    assert not path.exists()
    assert (camp.root / "archive" / "cam" / "a.jpg").read_bytes() == camp.objects()["cams/cam/a.jpg"]


def test_move_into_the_watch_dir_is_a_config_error(camp: Camp) -> None:
    camp.write_config("after_upload:\n  action: move\n  move_to: watch/done\n")

    result = camp.run("--once")

    assert result.returncode == 2
    assert "inside watch dir" in result.stderr


def test_a_file_a_writer_still_holds_open_is_never_deleted(camp: Camp) -> None:
    camp.write_config("after_upload:\n  action: delete\n")
    held = camp.file("cam/paused.mp4", 5000)
    other = camp.file("cam/done.mp4", 5000)
    assert camp.run("--once").returncode == 0  # both uploaded (neither was open then)
    holder = hold_open(held, "ab")  # the recorder reopens it, paused, for appending
    try:
        result = camp.run("--once")
    finally:
        holder.kill()
        holder.wait()

    assert result.returncode == 0, result.stderr
    assert held.exists()
    assert "Keeping cam/paused.mp4: another process has it open" in result.stderr
    assert not other.exists()


# ---- the CURRENT bytes decide (issue 8, item 1) ----------------------------------------------------
AFTER = {"delete": "after_upload:\n  action: delete\n",
         "move": "after_upload:\n  action: move\n  move_to: archive\n"}


def _swap_keeping_size_and_mtime(camp: Camp, path: Path) -> bytes:
    """Replace the file with other bytes of the same size and put the old mtime back."""
    st = path.stat()
    other = os.urandom(st.st_size)
    staged = camp.root / "staged.bin"  # outside the watch dir
    staged.write_bytes(other)
    os.replace(staged, path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return other


@pytest.mark.parametrize("action", ["delete", "move"])
def test_a_clip_swapped_for_other_bytes_is_uploaded_again_never_removed(camp: Camp, action: str) -> None:
    camp.write_config(AFTER[action])
    path = camp.file("cam1/clip.mp4", 5000)
    assert camp.run("--once").returncode == 0
    other = _swap_keeping_size_and_mtime(camp, path)

    kept = camp.run("--once")

    assert kept.returncode == 0, kept.stderr
    assert path.read_bytes() == other
    assert not (camp.root / "archive" / "cam1" / "clip.mp4").exists()
    assert "Keeping cam1/clip.mp4: not verified in the bucket (its current bytes differ from the " \
           "object at cams/cam1/clip.mp4); it is uploaded again" in kept.stderr
    assert "Deleted local" not in kept.stderr and "Moved local" not in kept.stderr

    again = camp.run("--once")

    assert again.returncode == 0, again.stderr
    assert camp.objects() == {"cams/cam1/clip.mp4": other}  # the new bytes, at the key we own
    assert path.exists()  # never in the pass that uploaded it

    done = camp.run("--once")

    assert done.returncode == 0, done.stderr
    assert not path.exists()
    if action == "move":
        assert (camp.root / "archive" / "cam1" / "clip.mp4").read_bytes() == other
    assert_clean_stderr(done)


# ---- no link followed (item 2) ---------------------------------------------------------------------
def test_a_symlink_swapped_in_during_the_settle_wait_is_not_followed(camp: Camp) -> None:
    camp.write_config("stability:\n  settle_seconds: 4\n  min_age_seconds: 1\n")
    path = camp.file("cam1/clip.mp4", 4000)
    st = path.stat()
    secret = camp.root / "secret.bin"  # a root-only file elsewhere, same size and mtime
    secret.write_bytes(os.urandom(4000))
    secret.chmod(0o600)
    os.utime(secret, ns=(st.st_atime_ns, st.st_mtime_ns))

    proc = camp.start("--once", "--log-level", "DEBUG")
    lines = []
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        if "Re-checking" in line:  # the settle wait has begun
            path.unlink()
            path.symlink_to(secret)
            break
    log = "".join(lines) + proc.communicate(timeout=120)[1]

    assert proc.returncode == 0, log
    assert any("Re-checking" in line for line in lines), log
    assert camp.objects() == {}  # neither the secret's bytes nor anything else
    assert "Gone before upload: cam1/clip.mp4" in log


# ---- a move to a full disk (item 3) ----------------------------------------------------------------
@pytest.fixture
def small_archive(camp: Camp) -> Iterator[Path]:
    """A real 2 MiB tmpfs as move_to: another file system, and one that fills up."""
    mount = camp.root / "archive"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a 2 MiB tmpfs at {mount} for this test (it needs root): "
                    f"{done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_move_to_a_full_disk_leaves_the_clip_and_no_partial_file(camp: Camp, small_archive: Path) -> None:
    camp.write_config(AFTER["move"])
    path = camp.file("cam1/clip.mp4", 1024 * 1024)
    data = path.read_bytes()
    filler = small_archive / "filler.bin"
    filler.write_bytes(b"\0" * (1536 * 1024))  # leaves about 0.5 MiB free: less than the clip
    assert camp.run("--once").returncode == 0  # uploaded

    full = camp.run("--once")

    assert full.returncode == 0, full.stderr
    assert path.read_bytes() == data  # stays where it was
    assert sorted(p.name for p in small_archive.rglob("*")) == ["cam1", "filler.bin"]  # no partial
    warnings = [line for line in full.stderr.splitlines() if "cam1/clip.mp4" in line and "WARNING" in line]
    assert len(warnings) == 1, full.stderr
    assert "Could not move cam1/clip.mp4: No space left on device; it stays where it is" in warnings[0]

    filler.unlink()  # space freed
    later = camp.run("--once")

    assert later.returncode == 0, later.stderr
    assert not path.exists()
    assert (small_archive / "cam1" / "clip.mp4").read_bytes() == data
    assert sorted(p.name for p in small_archive.rglob("*")) == ["cam1", "clip.mp4"]


def test_a_partial_copy_left_by_a_killed_move_is_cleaned_up(camp: Camp, small_archive: Path) -> None:
    camp.write_config(AFTER["move"])
    path = camp.file("cam1/clip.mp4", 3000)
    assert camp.run("--once").returncode == 0
    (small_archive / "cam1").mkdir()
    (small_archive / "cam1" / ".camup-partial-0123456789ab").write_bytes(b"half a clip")  # kill -9

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert not path.exists()
    assert sorted(p.name for p in (small_archive / "cam1").iterdir()) == ["clip.mp4"]
