"""Observe the folder: walk each watch dir into LocalFile records."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import stat as stat_mod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Optional

from loguru import logger

from .dirstate import SkipRule, children
from .localfs import WINDOWS, local_file, long_path, short_path
from .models import DirRecord, LocalFile, WatchDir


class WatchDirError(Exception):
    """A watch dir is missing or unreadable: an error for the pass, never 'all files gone'."""


@dataclass
class ScanResult:
    root: str = ""
    files: list[LocalFile] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (root, rel)
    warnings: list[str] = field(default_factory=list)  # folders that could not be read
    vanished: list[str] = field(default_factory=list)  # folders moved or deleted while we walked
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (root, "cam1/") not read
    listed: dict[str, int] = field(default_factory=dict)  # folder -> its mtime, when skipping
    skipped: list[str] = field(default_factory=list)  # folders not listed (unchanged, quiet)
    skipped_files: int = 0  # the files those folders held


@dataclass(frozen=True)
class Filters:
    extensions: tuple[str, ...]
    exclude: tuple[str, ...]
    recursive: bool = True

    def wants(self, name: str) -> bool:
        return name.lower().endswith(self.extensions)  # extensions are lower-case, with the dot

    def excludes(self, rel: str) -> bool:
        """A pattern matches the relative path or the file name, ignoring case."""
        low = rel.lower()
        return bool(self._excluded(low) or self._excluded(low.rsplit("/", 1)[-1]))

    @property
    def _excluded(self) -> Callable[[str], Optional[re.Match[str]]]:
        # One compiled regex for all patterns: scanning 100k files calls this per file.
        return _compile_globs(self.exclude)


@functools.lru_cache(maxsize=16)
def _compile_globs(patterns: tuple[str, ...]) -> Callable[[str], Optional[re.Match[str]]]:
    if not patterns:
        return lambda _: None
    return re.compile("|".join(f"(?:{fnmatch.translate(p.lower())})" for p in patterns)).match


def scan_root(path: str, windows: bool = WINDOWS) -> str:
    """Where the walk starts: on Windows always through \\\\?\\, so every folder and file
    path the walk builds below it is safe from the 260-character limit."""
    return long_path(path, windows=windows, always=True)


def check_watch_dir(watch: WatchDir) -> None:
    try:
        with os.scandir(long_path(watch.path)) as it:
            next(it, None)
    except FileNotFoundError:
        raise WatchDirError(f"watch dir {watch.path} does not exist: check the path, or that "
                            "the drive or share is connected.") from None
    except NotADirectoryError:
        raise WatchDirError(f"watch dir {watch.path} is not a folder: point watch_dir at the "
                            "folder your recorder writes to.") from None
    except PermissionError:
        raise WatchDirError(f"watch dir {watch.path} is not readable by this user: grant read "
                            "access, or run camup-sync as a user who has it.") from None
    except OSError as exc:
        raise WatchDirError(f"watch dir {watch.path} cannot be read ({exc.strerror}): check "
                            "the drive or share.") from None


def _dir_mtime(path: str) -> int:
    """The folder's own mtime from a fresh lstat (taken before it is listed)."""
    st = os.lstat(path)
    if not stat_mod.S_ISDIR(st.st_mode):
        raise NotADirectoryError(path)
    return st.st_mtime_ns


def _list_dir(top: str, rel_dir: str, out: ScanResult) -> Optional[list[os.DirEntry]]:
    """A folder's entries; None (said, recorded) when it cannot be entered."""
    try:
        with os.scandir(top) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        if not rel_dir:  # the watch dir itself: an error for the pass, never "every file is gone"
            raise WatchDirError(f"watch dir {short_path(top)} disappeared during the scan: check "
                                "that the drive or share is connected.") from None
        # Moved or deleted while we walked (the recorder tidies up): not a problem.
        out.vanished.append(short_path(top))
        logger.info("Folder {} disappeared during the scan (moved or deleted); the next pass "
                    "sees what is there then", short_path(top))
    except OSError as exc:
        if not rel_dir:
            raise WatchDirError(f"watch dir {short_path(top)} cannot be read "
                                f"({exc.strerror or exc}): check the drive or share.") from None
        out.warnings.append(f"cannot read folder {short_path(top)} ({exc.strerror or exc}): its "
                            "files are skipped this pass; grant this user read access to it.")
        out.unreadable.append((out.root, rel_dir))
    return None


Dirs = tuple[Optional[SkipRule], Mapping[str, DirRecord]]


def _walk(top: str, filters: Filters, out: ScanResult,
          dirs: Optional[Dirs] = None) -> Iterator[tuple[str, os.DirEntry]]:
    """Every file entry under `top`, with an explicit stack (any depth, no recursion).

    With `dirs` (a rule, or None for a full sweep, and the folder records) each listed
    folder's mtime is noted in out.listed, and a folder the rule lets go is not listed:
    its recorded subfolders are visited instead (an unchanged mtime means the same entries).
    """
    rule, known = dirs if dirs else (None, {})
    subdirs_of = children(known) if rule else {}
    stack: list[tuple[str, str]] = [("", top)]  # (relative folder, path)
    while stack:
        rel_dir, path = stack.pop()
        mtime = 0
        if dirs is not None:
            try:
                mtime = _dir_mtime(path)
            except OSError:
                mtime = -1  # listed below, which says what is wrong with it
            if rule is not None and rule.may_skip(known.get(rel_dir), mtime):
                out.skipped.append(rel_dir)
                out.skipped_files += known[rel_dir].files
                stack.extend((d, os.path.join(top, d[:-1].replace("/", os.sep)))
                             for d in subdirs_of.get(rel_dir, ()))
                continue
        entries = _list_dir(path, rel_dir, out)
        if entries is None:
            continue
        if mtime > 0:
            out.listed[rel_dir] = mtime
        for entry in entries:
            rel = f"{rel_dir}{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    if filters.recursive:
                        stack.append((rel + "/", entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield rel, entry
            except OSError:
                continue


def scan(watch: WatchDir, filters: Filters, dirs: Optional[Dirs] = None) -> ScanResult:
    """Every wanted file under the watch dir, sorted by relative path; with `dirs`, the
    folders the rule lets go are not listed (ScanResult.skipped names them)."""
    check_watch_dir(watch)
    out = ScanResult(root=watch.path)
    for rel, entry in _walk(scan_root(watch.path), filters, out, dirs):
        if not filters.wants(entry.name):
            continue
        if filters.excludes(rel):
            out.excluded.append((watch.path, rel))
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # vanished between listing and stat
        out.files.append(local_file(watch.path, rel, st))
    out.files.sort(key=lambda f: f.rel)
    return out
