"""Folder skipping against a real SeaweedFS: every DESIGN section 2 rule still holds on a
pass that skips unchanged quiet folders, and a full sweep catches a rewrite in place."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from .harness import Camp, assert_clean_stderr

SKIPPING = "scan:\n  trust_directory_mtime: true\n"
HOURS = 3600


def _age_tree(root: Path, age: float = 10 * HOURS) -> None:
    """Files and folders old, as in an NVR's store of past days."""
    stamp = time.time() - age
    for p in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        os.utime(p, (stamp, stamp), follow_symlinks=False)
    os.utime(root, (stamp, stamp))


def _pass(camp: Camp, *args: str) -> str:
    result = camp.run("--once", "--log-level", "DEBUG", *args)
    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    return result.stderr


def _skipped(log: str) -> int:
    for line in log.splitlines():
        if "unchanged quiet folders" in line:
            return int(line.split("Skipped ", 1)[1].split()[0])
    return 0


def _rows(camp: Camp) -> dict[str, str]:
    db = sqlite3.connect(camp.state_dir / "manifest.sqlite3")
    try:
        return dict(db.execute("SELECT rel, state FROM files"))
    finally:
        db.close()


def _setup(camp: Camp, extra: str = "") -> None:
    camp.write_config(camp.extra_config + SKIPPING + extra)
    for cam in ("cam1", "cam2"):
        for hour in ("10", "11"):
            camp.file(f"{cam}/2026-11-20/{hour}/clip.mp4", 2000, age=10 * HOURS)
    _age_tree(camp.watch)
    log = _pass(camp)  # first pass: a full sweep that uploads and records every folder
    assert "Full sweep" in log and len(camp.objects()) == 4


def test_idle_pass_skips_every_quiet_folder_and_a_new_file_in_an_old_folder_is_uploaded(camp: Camp) -> None:
    _setup(camp)
    idle = _pass(camp)
    assert _skipped(idle) == 9  # watch dir, 2 cameras, 2 days, 4 hours: nothing listed
    assert "Successfully uploaded" not in idle

    camp.file("cam2/2026-11-20/11/late.mp4", 3000, age=10 * HOURS)  # touches only that folder
    log = _pass(camp)
    assert "Successfully uploaded cam2/2026-11-20/11/late.mp4" in log
    assert _skipped(log) == 8
    assert camp.objects() == camp.expected()
    assert len(_rows(camp)) == 5  # rows of the skipped folders were neither loaded nor forgotten


def test_a_file_renamed_within_an_old_folder_is_uploaded_under_its_new_name(camp: Camp) -> None:
    _setup(camp)
    old = camp.watch / "cam1/2026-11-20/10/clip.mp4"
    old.rename(old.with_name("renamed.mp4"))  # same mtime, same size: only the folder shows it
    log = _pass(camp)
    assert "Successfully uploaded cam1/2026-11-20/10/renamed.mp4" in log
    assert "cams/cam1/2026-11-20/10/renamed.mp4" in camp.objects()


def test_a_deleted_file_is_seen_and_other_folders_rows_stay(camp: Camp) -> None:
    _setup(camp)
    (camp.watch / "cam1/2026-11-20/10/clip.mp4").unlink()
    log = _pass(camp)
    assert _skipped(log) == 8  # the folder that lost a file was listed
    assert set(_rows(camp)) >= {"cam1/2026-11-20/11/clip.mp4", "cam2/2026-11-20/10/clip.mp4",
                                "cam2/2026-11-20/11/clip.mp4"}
    assert "Pruned" not in log  # an uploaded row is pruned on listing passes only (DESIGN "Gone")


def test_a_file_growing_in_a_folder_otherwise_uploaded_is_uploaded_once_finished(camp: Camp) -> None:
    # quiet_hours 0: only the "every file uploaded" rule keeps this folder listed.
    _setup(camp, "  quiet_hours: 0\n")
    camp.write_config(SKIPPING + "  quiet_hours: 0\nstability:\n  checks: 3\n  settle_seconds: 0.2\n"
                      "  min_age_seconds: 0\n")
    growing = camp.file("cam1/2026-11-20/10/live.mp4", 1000, age=10 * HOURS)
    _age_tree(camp.watch)  # the folder looks untouched; the file is not yet stable (3 checks)
    first = _pass(camp)
    assert "Waiting for file to stabilize: cam1/2026-11-20/10/live.mp4" in first
    with open(growing, "ab") as f:  # the recorder appends: the folder's mtime does not move
        f.write(os.urandom(500))
    stamp = time.time() - 10 * HOURS
    os.utime(growing, (stamp + 1, stamp + 1))
    _age_tree(camp.watch / "cam1/2026-11-20/10", 10 * HOURS)
    for _ in range(3):
        log = _pass(camp)
        if "Successfully uploaded cam1/2026-11-20/10/live.mp4" in log:
            break
    assert camp.objects()["cams/cam1/2026-11-20/10/live.mp4"] == growing.read_bytes()


def test_a_rewrite_in_place_is_caught_by_the_full_sweep_not_by_a_skipping_pass(camp: Camp) -> None:
    _setup(camp)
    clip = camp.watch / "cam1/2026-11-20/10/clip.mp4"
    before = camp.objects()["cams/cam1/2026-11-20/10/clip.mp4"]
    with open(clip, "r+b") as f:  # same size, new bytes, new mtime; the folder is untouched
        f.write(os.urandom(2000))
    stamp = time.time() - 9 * HOURS
    os.utime(clip, (stamp, stamp))

    idle = _pass(camp)
    assert _skipped(idle) == 9  # DESIGN "Changed": such a rewrite waits for the full sweep
    assert camp.objects()["cams/cam1/2026-11-20/10/clip.mp4"] == before

    full = _pass(camp, "--full")
    assert "Full sweep" in full and "Successfully uploaded cam1/2026-11-20/10/clip.mp4" in full
    assert camp.objects()["cams/cam1/2026-11-20/10/clip.mp4"] == clip.read_bytes()


def test_relist_hours_makes_a_pass_a_full_sweep(camp: Camp) -> None:
    _setup(camp, "")
    camp.write_config(SKIPPING + "remote:\n  listing: never\n  relist_hours: 0.0003\n")
    clip = camp.watch / "cam2/2026-11-20/11/clip.mp4"
    with open(clip, "r+b") as f:
        f.write(os.urandom(2000))
    time.sleep(1.2)  # past relist_hours (about 1 s)
    log = _pass(camp)
    assert "Full sweep" in log
    assert camp.objects()["cams/cam2/2026-11-20/11/clip.mp4"] == clip.read_bytes()


def test_untrusted_folder_mtimes_mean_every_pass_stats_every_file(camp: Camp) -> None:
    camp.write_config("scan:\n  trust_directory_mtime: false\n")
    camp.file("cam1/2026-11-20/10/clip.mp4", 2000, age=10 * HOURS)
    _age_tree(camp.watch)
    _pass(camp)
    log = _pass(camp)
    assert _skipped(log) == 0
