"""Folder skipping for one pass: full sweep or not, which rows to load, what to record.

The scan decides what to walk (scan.py, with the rule from dirstate.py); this module
decides whether this pass may skip at all, loads the manifest rows of the folders that
were listed (one row per skipped folder is all an idle pass reads), and writes the folder
records once the pass knows which files ended uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from loguru import logger

from .config import Config
from .dirstate import (
    FINGERPRINT,
    FULL_SWEEP,
    SkipRule,
    changed_records,
    fingerprint,
    gone_dirs,
    parent_dir,
    records_after_pass,
    trusts_directory_mtime,
)
from .manifest import Manifest
from .models import DirRecord, ManifestEntry, WatchDir
from .scan import Dirs, ScanResult

FileId = tuple[str, str]


@dataclass
class FolderPass:
    """This pass's stance on folders: full sweep or skipping, and what it saw per watch dir."""

    full: bool
    why: str  # why a full sweep (for the log), "" when skipping is allowed
    rule: Optional[SkipRule]
    started_ns: int
    known: dict[str, dict[str, DirRecord]] = field(default_factory=dict)  # root -> records
    scans: dict[str, ScanResult] = field(default_factory=dict)  # root -> what the scan saw
    trusted: dict[str, bool] = field(default_factory=dict)


def settings_fingerprint(cfg: Config) -> str:
    return fingerprint((cfg.extensions, cfg.exclude, cfg.recursive, cfg.key_template,
                        tuple((w.path, w.prefix) for w in cfg.watch_dirs)))


def start(cfg: Config, manifest: Optional[Manifest], now: float, full: bool, listing: bool) -> FolderPass:
    """Whether this pass sweeps every file, and the rule it skips folders by otherwise."""
    started_ns = int(now * 1e9)
    why = ""
    if full:
        why = "asked for (--full or --dry-run)"
    elif manifest is None or manifest.fresh:
        why = "new manifest"
    elif listing:
        why = "listing pass"
    elif manifest.meta(FINGERPRINT) != settings_fingerprint(cfg):
        why = "folders, filters or keys changed"
    else:
        last = manifest.meta(FULL_SWEEP)
        if last is None or now - float(last) >= cfg.remote.relist_hours * 3600:
            why = f"every {cfg.remote.relist_hours:g} h"
    rule = None if why else SkipRule(started_ns, int(cfg.scan.quiet_hours * 3600e9),
                                     files_may_stay=(cfg.after_upload.action == "keep"
                                                     and cfg.after_upload.keep_free is None))
    return FolderPass(full=bool(why), why=why, rule=rule, started_ns=started_ns)


def dirs_for_scan(fp: FolderPass, manifest: Optional[Manifest], cfg: Config,
                  watch: WatchDir) -> Optional[Dirs]:
    """What scan() gets for one watch dir: None when folder records are not kept there."""
    if manifest is None:
        return None
    trusted = trusts_directory_mtime(watch.path, cfg.scan.trust)
    fp.trusted[watch.path] = trusted
    if not trusted:
        return None
    known = manifest.dirs_for(watch.path)
    fp.known[watch.path] = known
    return (fp.rule if known else None), known


def entries_of(manifest: Manifest, watch: WatchDir, result: ScanResult,
               known: dict[str, DirRecord]) -> dict[FileId, ManifestEntry]:
    """The manifest rows the planner needs: all of the watch dir's after a full walk; else
    those of the folders listed and of recorded folders that are gone (their rows may be
    forgotten), never those of skipped folders."""
    if not result.skipped:
        return manifest.entries_for(watch.path)
    with_files = {parent_dir(f.rel) for f in result.files}
    skipped = set(result.skipped)
    dirs = with_files | {d for d, rec in known.items()
                         if rec.files and d not in skipped}
    return manifest.entries_in_dirs(watch.path, sorted(dirs))


def record(fp: FolderPass, manifest: Manifest, cfg: Config, done: set[FileId], now: float) -> None:
    """Write the records of the folders this pass listed, drop those found gone, and note
    a completed full sweep. The files' outcomes are known: `done` ended uploaded."""
    for root, result in fp.scans.items():
        if not fp.trusted.get(root):
            continue
        known = fp.known.get(root, {})
        new = records_after_pass(result.listed, result.files, done, fp.started_ns)
        seen = set(result.listed) | set(result.skipped)
        gone = gone_dirs(known, seen, (rel for _root, rel in result.unreadable))
        manifest.save_dirs(root, changed_records(new, known), gone)
    if fp.full:
        manifest.set_meta(FULL_SWEEP, repr(now))
        manifest.set_meta(FINGERPRINT, settings_fingerprint(cfg))


def log_skipped(fp: FolderPass, files_found: int) -> None:
    skipped = sum(len(r.skipped) for r in fp.scans.values())
    if fp.full:
        logger.debug("Full sweep ({}): every file stat-ed", fp.why)
    elif skipped:
        held = sum(r.skipped_files for r in fp.scans.values())
        logger.debug("Skipped {} unchanged quiet folders ({} files, all uploaded); stat-ed {} files",
                     skipped, held, files_found)
