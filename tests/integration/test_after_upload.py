"""after_upload: local files are deleted or moved only after the remote copy is verified."""

from __future__ import annotations

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
