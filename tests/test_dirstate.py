"""dirstate: when a folder may be skipped, what is recorded about it, which file systems
keep folder mtimes. Pure rules with records in; the OS probe on this machine's /tmp."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from reconciler.dirstate import (
    RACY_NS,
    SkipRule,
    changed_records,
    children,
    gone_dirs,
    parent_dir,
    records_after_pass,
    trusts_directory_mtime,
    untrusted_fs,
)
from reconciler.models import DirRecord, LocalFile

S = 1_000_000_000
NOW = 1_700_000_000 * S
HOUR = 3600 * S
RULE = SkipRule(now_ns=NOW, quiet_ns=2 * HOUR)


def rec(mtime: int = NOW - 10 * HOUR, newest: int = NOW - 10 * HOUR, all_uploaded: bool = True,
        checked: int = NOW - HOUR, files: int = 3) -> DirRecord:
    return DirRecord("cam1/day/", mtime, newest, all_uploaded, checked, files)


@pytest.mark.parametrize("record, mtime_now, skip, why", [
    (rec(), NOW - 10 * HOUR, True, "unchanged, quiet, all uploaded"),
    (None, NOW - 10 * HOUR, False, "never listed"),
    (rec(), NOW - 10 * HOUR + 1, False, "an entry was added, removed or renamed"),
    (rec(all_uploaded=False), NOW - 10 * HOUR, False, "a file is growing, waiting or failed"),
    (rec(newest=NOW - HOUR), NOW - 10 * HOUR, False, "newest file younger than quiet_hours"),
    (rec(mtime=NOW - 2 * HOUR, checked=NOW - 2 * HOUR + RACY_NS - 1), NOW - 2 * HOUR, False,
     "racy: changed within the timestamp granularity of the listing"),
    (rec(mtime=NOW - 2 * HOUR, checked=NOW - 2 * HOUR + RACY_NS), NOW - 2 * HOUR, True,
     "just outside the racy window"),
    (rec(files=0, all_uploaded=True, newest=0), NOW - 10 * HOUR, True, "a folder of folders"),
])
def test_skip_rule(record: DirRecord, mtime_now: int, skip: bool, why: str) -> None:
    assert RULE.may_skip(record, mtime_now) is skip, why


def test_with_after_upload_delete_or_move_only_folders_without_files_are_skipped() -> None:
    rule = SkipRule(now_ns=NOW, quiet_ns=2 * HOUR, files_may_stay=False)
    assert not rule.may_skip(rec(), NOW - 10 * HOUR)
    assert rule.may_skip(rec(files=0, newest=0), NOW - 10 * HOUR)


def test_parent_dir_and_children() -> None:
    assert (parent_dir("a.mp4"), parent_dir("cam/d/a.mp4"), parent_dir("cam/d/")) == ("", "cam/d/", "cam/")
    assert children(["", "cam/", "cam/d1/", "cam/d2/", "x/"]) == {
        "": ["cam/", "x/"], "cam/": ["cam/d1/", "cam/d2/"]}


def f(rel: str, mtime: int) -> LocalFile:
    return LocalFile("/w", rel, 10, mtime)


def test_records_after_pass_say_which_folders_ended_all_uploaded() -> None:
    files = [f("a/1.mp4", 5), f("a/2.mp4", 9), f("b/1.mp4", 7), f("c/1.mp4", 1)]
    done = {("/w", "a/1.mp4"), ("/w", "a/2.mp4"), ("/w", "c/1.mp4")}
    out = {r.rel_dir: r for r in records_after_pass({"": 100, "a/": 11, "b/": 12}, files, done, 500)}
    assert out[""] == DirRecord("", 100, 0, True, 500, 0)
    assert out["a/"] == DirRecord("a/", 11, 9, True, 500, 2)
    assert out["b/"] == DirRecord("b/", 12, 7, False, 500, 1)  # b/1.mp4 did not end uploaded
    assert "c/" not in out  # skipped, not listed: its record stays as it was


def test_only_changed_or_racy_records_are_written() -> None:
    old = rec()
    same = DirRecord(old.rel_dir, old.mtime_ns, old.newest_mtime_ns, True, NOW, old.files)
    assert changed_records([same], {old.rel_dir: old}) == []
    racy_old = rec(mtime=NOW - HOUR, checked=NOW - HOUR + 1)
    again = DirRecord(old.rel_dir, racy_old.mtime_ns, racy_old.newest_mtime_ns, True, NOW, racy_old.files)
    assert changed_records([again], {old.rel_dir: racy_old}) == [again]
    moved = DirRecord(old.rel_dir, old.mtime_ns + 1, old.newest_mtime_ns, True, NOW, old.files)
    assert changed_records([moved], {old.rel_dir: old}) == [moved]


def test_gone_folders_are_those_neither_listed_nor_skipped_outside_unreadable_ones() -> None:
    known = ["", "a/", "a/x/", "b/", "shut/", "shut/in/"]
    assert gone_dirs(known, {"", "a/"}, ["shut/"]) == ["a/x/", "b/"]


@pytest.mark.parametrize("fstype, untrusted", [
    ("ext4", False), ("xfs", False), ("btrfs", False), ("tmpfs", False), ("overlay", False),
    ("NTFS", False), ("ReFS", False), ("apfs", False),
    ("vfat", True), ("exfat", True), ("FAT32", True), ("exFAT", True), ("fuseblk", True),
    ("nfs4", True), ("cifs", True), ("smb3", True), ("fuse.sshfs", True), ("9p", True),
])
def test_untrusted_file_systems(fstype: str, untrusted: bool) -> None:
    assert untrusted_fs(fstype) is untrusted


def test_the_setting_overrides_detection(tmp_path: Path) -> None:
    assert trusts_directory_mtime(str(tmp_path), True) is True
    assert trusts_directory_mtime(str(tmp_path), False) is False


def test_auto_detects_this_machines_file_system(tmp_path: Path) -> None:
    from reconciler.dirstate import _fs_type

    fstype = _fs_type(str(tmp_path.resolve()))
    if sys.platform.startswith("linux") or sys.platform == "win32":
        assert fstype  # some mount (volume) holds every path
    assert trusts_directory_mtime(str(tmp_path), None) is (bool(fstype) and not untrusted_fs(fstype))


def test_a_pass_skips_folders_with_files_only_when_uploaded_files_stay_where_they_are(tmp_path: Path) -> None:
    import time

    from reconciler import skipping
    from reconciler.config import from_mapping
    from reconciler.dirstate import FINGERPRINT, FULL_SWEEP

    def rule_for(after_upload: dict) -> SkipRule:
        cfg = from_mapping({"watch_dir": str(tmp_path), "bucket": "b-b-b", "after_upload": after_upload},
                           tmp_path, env={})

        class Swept:  # a manifest whose last full sweep was just now, with these settings
            fresh = False

            def meta(self, name: str) -> str | None:
                known = {FINGERPRINT: skipping.settings_fingerprint(cfg), FULL_SWEEP: repr(time.time())}
                return known.get(name)

        fp = skipping.start(cfg, Swept(), time.time(), full=False, listing=False)  # type: ignore[arg-type]
        assert fp.rule is not None and not fp.full
        return fp.rule

    assert rule_for({}).files_may_stay
    assert not rule_for({"keep_free": "10%"}).files_may_stay  # the disk guard may need old clips
    assert not rule_for({"action": "delete"}).files_may_stay
