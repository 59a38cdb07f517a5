"""Folder records: which folders an ordinary pass may skip without listing them.

A folder's mtime changes when an entry is added, removed or renamed in it, but not when
a file in it is rewritten in place. So a folder is skipped only when all hold:

- its mtime equals the one recorded when a pass last listed it;
- that record is not "racy" (git's rule): the recorded mtime was at least RACY_NS older
  than the moment of the listing, so an entry added in the same timestamp tick as the
  listing would still have moved the mtime;
- every wanted file in it was uploaded and unchanged after that pass (none growing,
  waiting, failed or refused), and with after_upload delete/move or keep_free it holds
  no file (those may still have to go);
- its newest file is older than `scan.quiet_hours` (recorders rewrite in place only near a
  recording's creation, so a young folder is always stat-ed);
- the pass is not a full sweep (`--full`, a listing pass, every `relist_hours`, or the
  first pass after the filters changed), and the watch dir's file system keeps folder
  mtimes (not FAT/exFAT or a network share, unless `scan.trust_directory_mtime` says).

Everything here but `trusts_directory_mtime` (the one OS probe) is pure.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Optional

from .models import DirRecord, LocalFile

RACY_NS = 2_000_000_000  # FAT's 2 s is the coarsest folder timestamp in common use
FULL_SWEEP = "last_full_sweep_at"  # meta: when every file was last stat-ed
FINGERPRINT = "scan_fingerprint"  # meta: the settings that decide what a folder holds


@dataclass(frozen=True)
class SkipRule:
    now_ns: int
    quiet_ns: int
    files_may_stay: bool = True  # after_upload keep, no keep_free: uploaded files stay where they are

    def may_skip(self, rec: Optional[DirRecord], mtime_ns: int) -> bool:
        if rec is None or rec.mtime_ns != mtime_ns:
            return False
        if rec.mtime_ns + RACY_NS > rec.checked_at_ns:
            return False  # changed too close to the listing to tell a later change apart
        if rec.files and not (rec.all_uploaded and self.files_may_stay):
            return False
        return rec.newest_mtime_ns <= self.now_ns - self.quiet_ns


def parent_dir(rel: str) -> str:
    """"cam1/day/a.mp4" -> "cam1/day/"; "cam1/day/" -> "cam1/"; "a.mp4" -> ""."""
    cut = rel.rstrip("/").rfind("/")
    return rel[:cut + 1] if cut >= 0 else ""


def children(known: Iterable[str]) -> dict[str, list[str]]:
    """Folder -> its recorded subfolders, so a skipped folder's subfolders are still visited."""
    out: dict[str, list[str]] = {}
    for rel_dir in known:
        if rel_dir:
            out.setdefault(parent_dir(rel_dir), []).append(rel_dir)
    return out


def records_after_pass(listed: Mapping[str, int], files: Iterable[LocalFile], done: set[tuple[str, str]],
                       checked_at_ns: int) -> list[DirRecord]:
    """One record per listed folder (mtime as stat-ed before its listing), from what the
    pass found in it and which of those files ended the pass uploaded and unchanged."""
    newest: dict[str, int] = {}
    count: dict[str, int] = {}
    pending: set[str] = set()
    for f in files:
        d = parent_dir(f.rel)
        if d not in listed:
            continue
        newest[d] = max(newest.get(d, 0), f.mtime_ns)
        count[d] = count.get(d, 0) + 1
        if f.id not in done:
            pending.add(d)
    return [DirRecord(d, mtime, newest.get(d, 0), d not in pending, checked_at_ns, count.get(d, 0))
            for d, mtime in listed.items()]


def changed_records(new: Iterable[DirRecord], known: Mapping[str, DirRecord]) -> list[DirRecord]:
    """Only the records worth writing: new or different, or replacing a racy one."""
    out = []
    for rec in new:
        old = known.get(rec.rel_dir)
        if (old is None or (old.mtime_ns, old.newest_mtime_ns, old.all_uploaded, old.files)
                != (rec.mtime_ns, rec.newest_mtime_ns, rec.all_uploaded, rec.files)
                or old.mtime_ns + RACY_NS > old.checked_at_ns):
            out.append(rec)
    return out


def gone_dirs(known: Iterable[str], seen: set[str], unread: Iterable[str]) -> list[str]:
    """Recorded folders this pass neither listed nor skipped, outside folders it could not read."""
    blind = tuple(unread)
    return [d for d in known if d not in seen and not any(d.startswith(u) for u in blind)]


def fingerprint(parts: Iterable[object]) -> str:
    """What a folder's wanted files and their keys depend on (extensions, exclude, prefixes,
    template, recursion): when it changes, the next pass is a full sweep."""
    return hashlib.sha256(repr(tuple(parts)).encode()).hexdigest()[:16]


# ---- the one OS probe: does this file system keep folder mtimes? ----------------------------
_UNTRUSTED = ("vfat", "msdos", "fat", "exfat", "fuseblk", "nfs", "cifs", "smb", "9p", "afs",
              "ncp", "fuse.", "sshfs", "davfs", "ceph", "glusterfs", "fat32", "fat16", "fat12")


def untrusted_fs(fstype: str) -> bool:
    """FAT/exFAT (2 s or coarser, often not updated on some drivers), network shares
    (attribute caches serve stale folder mtimes) and FUSE file systems (unknown)."""
    low = fstype.lower()
    return any(low == t or low.startswith(t) for t in _UNTRUSTED)


def trusts_directory_mtime(path: str, setting: Optional[bool]) -> bool:
    """The configured answer, or for auto whether the file system holding `path` is one
    whose folder mtimes can be trusted. Unknown means untrusted."""
    if setting is not None:
        return setting
    try:
        fstype = _fs_type(path)
    except OSError:
        return False
    return bool(fstype) and not untrusted_fs(fstype)


def _fs_type(path: str) -> str:
    if sys.platform == "win32":
        return _windows_fs_type(path)
    if sys.platform.startswith("linux"):
        return _linux_fs_type(os.path.realpath(path))
    return ""  # macOS/BSD: unknown, so auto does not skip; set true for APFS/HFS+


def _linux_fs_type(path: str) -> str:
    """The file system of the longest mount point holding `path` (/proc/self/mountinfo)."""
    best, fstype = "", ""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            mount = left.split()[4].replace("\\040", " ")
            if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                best, fstype = mount, right.split()[0]
    return fstype


def _windows_fs_type(path: str) -> str:
    from .win32 import file_system_name  # the one module that talks to Win32

    return file_system_name(os.path.abspath(path))
