"""The planner's inputs: what a pass observed (Snapshot) and what the config asks (Policy).

Records only; the rules that read them live in plan.py and the rule modules beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

from .models import (
    DiskSpace,
    LiveState,
    LocalFile,
    ManifestEntry,
    Observation,
    PendingMultipart,
    RemoteObject,
)
from .stability import StabilityPolicy

FileId = tuple[str, str]  # (watch dir, relative path)

CROSS_PASS_BACKOFF_START = 60.0
CROSS_PASS_BACKOFF_CAP = 6 * 3600.0


def cross_pass_backoff(failures: int) -> float:
    """The back-off rule across passes, once a pass's attempts are spent: the file waits
    1 min, 2, 4 ... capped at 6 h, and does not hold up the others."""
    return min(CROSS_PASS_BACKOFF_CAP, CROSS_PASS_BACKOFF_START * 2 ** min(max(0, failures - 1), 30))


@dataclass(frozen=True)
class Policy:
    stability: StabilityPolicy
    prefixes: Mapping[str, str]  # watch dir -> its key prefix
    key_template: Optional[str] = None
    on_conflict: str = "keep_both"
    order: str = "newest_first"
    settle_seconds: float = 2.0
    after_upload: str = "keep"  # keep | delete | move
    after_upload_min_age: float = 0.0  # seconds since upload
    keep_free: Optional[tuple[str, float]] = None  # ("bytes", n) | ("percent", p): the disk guard
    part_size: int = 0  # transfer.multipart_chunksize in bytes: an upload resumes only with it
    priority: tuple[str, ...] = ()  # globs on the relative path, case-insensitive
    daily_budget: Optional[int] = None  # bytes per local day for non-priority uploads
    backoff_cap: float = CROSS_PASS_BACKOFF_CAP  # no recorded next attempt lies further ahead
    prune_after: float = 24 * 3600.0  # an uploaded row of a gone file is kept this long after upload
    live: Optional[LivePolicy] = None  # None: live upload off (segments left are still cleaned up)
    resume: bool = True  # False with write-only keys: resuming lists the parts sent (a read)


@dataclass(frozen=True)
class LivePolicy:
    after_seconds: float = 60.0
    interval_seconds: float = 60.0
    min_segment_bytes: int = 1024 * 1024



@dataclass(frozen=True)
class Snapshot:
    local: Sequence[LocalFile]
    entries: Mapping[FileId, ManifestEntry]  # rows of the watch dirs that were scanned
    uploaded_by_identity: Mapping[tuple[int, int, int, int], str] = field(default_factory=dict)  # -> key
    remote: Optional[Mapping[str, RemoteObject]] = None  # None: not listed this pass
    excluded: Sequence[FileId] = ()
    first_look: Mapping[FileId, Observation] = field(default_factory=dict)  # the settle wait's first stat
    unreadable_folders: Sequence[FileId] = ()  # (watch dir, "sub/folder/") the scan could not read
    skipped: Sequence[FileId] = ()  # (watch dir, "sub/folder/") not listed: unchanged and quiet
    disk: Mapping[str, DiskSpace] = field(default_factory=dict)  # watch dir -> its volume's space
    open_by: Mapping[FileId, str] = field(default_factory=dict)  # held open for writing -> "name (pid N)"
    multiparts: Sequence[PendingMultipart] = ()  # uploads an earlier run started and did not finish
    live: Mapping[FileId, LiveState] = field(default_factory=dict)  # segments sent so far
    sent_today: int = 0  # bytes uploaded so far this local calendar day (for daily_budget)
