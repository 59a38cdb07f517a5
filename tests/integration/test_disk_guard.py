"""The disk guard (after_upload.keep_free) on a real small file system: an 8 MiB tmpfs
mounted as the watch dir (this runs as root; a mount that fails fails the test)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.receiver import Receiver

from .faultproxy import FaultProxy
from .harness import Camp, assert_clean_stderr

SIZE = 1536 * 1024  # whole tmpfs pages: the free space moves by exactly this per file


@pytest.fixture
def tmpfs_camp(pcamp: Camp) -> Iterator[Camp]:
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(pcamp.watch)],
                             capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs for the test: {mounted.stderr}"
    try:
        yield pcamp
    finally:
        subprocess.run(["umount", str(pcamp.watch)], check=True)


def test_the_guard_frees_only_verified_uploads_oldest_first(
        tmpfs_camp: Camp, proxy: FaultProxy, receiver: Receiver) -> None:
    camp = tmpfs_camp
    notify = f"notify:\n  urls: ['json://127.0.0.1:{receiver.port}/alerts']\n"
    camp.write_config(notify + "retry:\n  max_attempts: 1\n")
    oldest = camp.file("cam/a-oldest.mp4", SIZE, age=4000)
    middle = camp.file("cam/b-middle.mp4", SIZE, age=3000)
    newest = camp.file("cam/c-newest.mp4", SIZE, age=2000)
    assert camp.run("--once").returncode == 0
    proxy.error_for("d-waiting", 500, "InternalError")  # this one never makes it to the bucket
    waiting = camp.file("cam/d-waiting.mp4", SIZE, age=5000)  # the oldest recording of all
    free = shutil.disk_usage(camp.watch).free
    # Two files must go to get above it: the two oldest VERIFIED uploads, never d-waiting.
    keep_free = free + SIZE + SIZE // 2
    camp.write_config(notify + f"retry:\n  max_attempts: 1\nafter_upload:\n  keep_free: {keep_free}\n")

    preview = camp.run("--dry-run")
    assert preview.returncode == 0, preview.stderr
    freed = [line.split()[1] for line in preview.stdout.splitlines() if line.startswith("delete")]
    assert freed == ["cam/a-oldest.mp4", "cam/b-middle.mp4"]
    assert "disk guard" in preview.stdout
    assert all(p.exists() for p in (oldest, middle, newest, waiting))  # a preview changes nothing

    result = camp.run("--once")

    assert result.returncode == 1, result.stderr  # d-waiting failed to upload
    assert (oldest.exists(), middle.exists(), newest.exists(), waiting.exists()) == (
        False, False, True, True)
    assert shutil.disk_usage(camp.watch).free >= keep_free
    assert receiver.alerts() == []  # the guard reached its target
    status = camp.run("status")
    assert f"keep_free {keep_free}" in status.stdout and ": ok" in status.stdout
    assert_clean_stderr(result)

    # Asking for more than every verified upload can give: the last one goes, d-waiting
    # stays, and one alert says so.
    camp.write_config(notify + "retry:\n  max_attempts: 1\nafter_upload:\n  keep_free: 7MiB\n")
    short = camp.run("--once")
    assert not newest.exists() and waiting.exists()
    (alert,) = receiver.alerts()
    assert "free space is below after_upload.keep_free and no verified upload is left" in alert
    assert "BELOW the guard" in camp.run("status").stdout
    assert os.path.getsize(waiting) == SIZE
    assert_clean_stderr(short)
