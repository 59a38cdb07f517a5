"""The records that flow between the stages of a pass. Stdlib only, all immutable."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional, Protocol


class Readiness(str, Enum):
    """What the stability rules say about one local file right now."""

    READY = "ready"
    SETTLING = "waiting to stabilize"  # not yet seen `checks` times unchanged
    GROWING = "growing"  # size or mtime moved since the last observation
    TOO_YOUNG = "too young"  # mtime newer than min_age_seconds
    OPEN = "open by another process"
    LOCKED = "locked"  # cannot be opened for reading (Windows sharing violation)
    EMPTY = "empty"


class Reason(str, Enum):
    """Why the planner chose an action. Logged with every decision that matters."""

    NEW = "new file"
    CHANGED = "changed since upload"
    REMOTE_MISSING = "uploaded before, but missing from the bucket listing (deleted or expired)"
    RETRY = "retrying after failure"
    CONFLICT_KEEP_BOTH = "remote key holds other content; keeping both"
    CONFLICT_OVERWRITE = "remote key holds other content; overwriting"
    ADOPT_REMOTE = "already in the bucket (same size)"
    ADOPT_MOVED = "same file already uploaded from another watch dir"
    UPLOADED = "already uploaded"
    SETTLING = "waiting to stabilize"
    GROWING = "growing"
    OPEN = "open by another process"
    TOO_YOUNG = "too young"
    EMPTY = "empty"
    LOCKED = "locked"
    EXCLUDED = "excluded"
    BAD_NAME = "name not allowed as an S3 key"
    RESERVED = "its key would be under the prefix's _camup/ folder, which camup-sync keeps for itself"
    BACKOFF = "backing off after failures"
    CONFLICT_SKIP = "remote key holds other content; on_conflict is skip"
    GONE = "no longer in the folder"
    PRUNED = "uploaded, and gone from the folder since"
    DISK_GUARD = "free space below after_upload.keep_free; oldest verified upload first"
    LIVE = "live segment"  # still being written: the bytes appended since the last segment
    LIVE_RESTART = "live segment, restarting (the file shrank or was rewritten)"
    LIVE_DONE = "uploaded whole; its live segments are no longer needed"
    UNVERIFIED = "uploaded (unverified): kept locally, the bucket could not be read to confirm it"
    BUDGET = "budget"  # transfer.daily_budget spent for today: waits for the next local day


class ActionKind(str, Enum):
    UPLOAD = "upload"
    ADOPT = "adopt"  # record as uploaded without sending a byte
    SKIP = "skip"
    FORGET = "forget"  # drop a manifest row whose file is gone and was never uploaded
    DELETE = "delete"  # after_upload: remove the local file once the remote copy is verified
    MOVE = "move"  # after_upload: move the local file to move_to once verified
    SEGMENT = "segment"  # live: upload the byte range `span` of a file still being written
    CLEANUP = "cleanup"  # live: delete the segments `drop` of a file now uploaded whole


class EntryState(str, Enum):
    UPLOADED = "uploaded"
    PENDING = "pending"  # seen, not yet uploaded (observations live here)
    FAILED = "failed"  # last attempt failed; next_attempt_at says when to try again


@dataclass(frozen=True)
class WatchDir:
    path: str  # absolute
    prefix: str


@dataclass(frozen=True)
class LocalFile:
    """One file in a watch dir, as a fresh stat saw it."""

    root: str  # the watch dir's absolute path
    rel: str  # path relative to root, '/' separators
    size: int
    mtime_ns: int
    dev: int = 0
    ino: int = 0

    @property
    def id(self) -> tuple[str, str]:
        """(watch dir, relative path): how the manifest and the plan know this file."""
        return (self.root, self.rel)

    @property
    def identity(self) -> tuple[int, int, int, int]:
        """Volume, file id, size, mtime: the same file wherever it has moved."""
        return (self.dev, self.ino, self.size, self.mtime_ns)


class SizeAndMtime(Protocol):
    size: int
    mtime_ns: int


def unchanged(a: SizeAndMtime, b: SizeAndMtime) -> bool:
    """The one test of "the same content as before": same size and mtime (restic's
    fileChanged, turned round). Records of every kind carry both fields."""
    return a.size == b.size and a.mtime_ns == b.mtime_ns


def stat_unchanged(st: Any, b: SizeAndMtime) -> bool:
    """The same test for a fresh os.stat / os.fstat result."""
    return bool(st.st_size == b.size and st.st_mtime_ns == b.mtime_ns)


@dataclass(frozen=True)
class Observation:
    """The stability history of a not-yet-uploaded file."""

    size: int
    mtime_ns: int
    count: int  # consecutive observations with this size and mtime
    first_seen: float  # when this size+mtime was first observed
    since: Optional[float] = None  # when first seen unfinished (growing or held open): live clock


@dataclass(frozen=True)
class ManifestEntry:
    root: str
    rel: str
    key: str
    state: EntryState
    size: int = 0  # of the uploaded version (state UPLOADED)
    mtime_ns: int = 0
    dev: int = 0
    ino: int = 0
    checksum: Optional[str] = None
    observation: Optional[Observation] = None
    attempts: int = 0  # failed passes in a row
    next_attempt_at: Optional[float] = None
    last_error: Optional[str] = None
    uploaded_at: Optional[float] = None
    unverified: bool = False  # uploaded, but the store refused us the read that would confirm it


CREATING = "creating:"  # + key: a multipart row recorded before CreateMultipartUpload answers


@dataclass(frozen=True)
class PendingMultipart:
    """A multipart upload we started and have not completed: resume it or abort it."""

    upload_id: str
    key: str
    started_at: float
    root: Optional[str] = None  # the file it was for (None: recorded by an older version)
    rel: Optional[str] = None
    size: int = 0
    mtime_ns: int = 0
    part_size: int = 0

    def resumes(self, file: LocalFile, key: str, part_size: int) -> bool:
        """Can this upload continue `file` to `key` with parts of `part_size`?"""
        return ((self.root, self.rel, self.size, self.mtime_ns, self.key, self.part_size)
                == (file.root, file.rel, file.size, file.mtime_ns, key, part_size))


@dataclass(frozen=True)
class RemoteObject:
    key: str
    size: int
    etag: str = ""


@dataclass(frozen=True)
class DiskSpace:
    """Free space on a watch dir's volume, observed before planning (the disk guard's input)."""

    free: int
    total: int
    volume: int = 0  # st_dev of the watch dir: two watch dirs on one volume share its space


@dataclass(frozen=True)
class AlertState:
    """An open alert as the manifest keeps it: a --once run every 5 minutes must not resend."""

    name: str  # failing_files | bucket | backlog | watch_dir | disk | manifest
    opened_at: float
    sent_at: Optional[float]  # None: opened, but no message went out yet
    detail: str = ""


@dataclass(frozen=True)
class LiveState:
    """The live segments of one file still being written (manifest table `live`)."""

    root: str
    rel: str
    base: str  # segment keys are base + f"{seq:06d}"
    segments: int  # sent: seq 0 .. segments-1
    sent: int  # bytes off-site: the segments' total, a prefix of the file
    last_at: Optional[float] = None  # when the last segment was sent
    head_sha: str = ""  # hex SHA-256 of the first head_len bytes (from segment 0)
    head_len: int = 0
    head_intact: bool = True  # observed this pass: the file still starts with those bytes

    def keys(self) -> list[str]:
        return [f"{self.base}{seq:06d}" for seq in range(self.segments)]


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    reason: Reason
    file: Optional[LocalFile]
    key: str
    observation: Optional[Observation] = None  # to persist (None: nothing new)
    detail: str = ""  # e.g. the process holding a file open
    overwrite: bool = False  # may replace an object at key (we wrote it, or on_conflict says so)
    span: tuple[int, int] = (0, 0)  # SEGMENT: the byte range [start, end) to send
    drop: Optional[LiveState] = None  # live segments to delete (after a whole upload; on restart)
    resume_id: Optional[str] = None  # UPLOAD: continue this interrupted multipart upload

    @property
    def row(self) -> tuple[str, str]:
        """For FORGET, which carries no file: the (watch dir, relative path) of its row."""
        root, _, rel = self.detail.partition("|")
        return (root, rel)


class MultipartStep(str, Enum):
    """What becomes of a multipart upload an earlier run left behind."""

    RESUME = "resume"  # its file is uploaded again, unchanged: the upload continues it
    KEEP = "keep"  # its unchanged file only waits this pass: kept for a later one
    ABORT = "abort"  # its file is gone, changed, done, or waited too long
    FIND_UNKNOWN = "find unknown"  # killed around CreateMultipartUpload: abort what we never recorded


@dataclass(frozen=True)
class MultipartDecision:
    step: MultipartStep
    upload: PendingMultipart


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    multiparts: tuple[MultipartDecision, ...] = ()
    disk_short: tuple[str, ...] = ()  # watch dirs below keep_free even after freeing all it may

    @property
    def uploads(self) -> list[Action]:
        return [a for a in self.actions if a.kind is ActionKind.UPLOAD]

    @property
    def adoptions(self) -> list[Action]:
        return [a for a in self.actions if a.kind is ActionKind.ADOPT]

    @property
    def skips(self) -> list[Action]:
        return [a for a in self.actions if a.kind is ActionKind.SKIP]

    @property
    def sends(self) -> list[Action]:
        """What the executor handles: uploads, and listed twins it verifies (and may upload)."""
        return self.uploads + [a for a in self.adoptions if a.reason is Reason.ADOPT_REMOTE]

    @property
    def segments(self) -> list[Action]:
        return [a for a in self.actions if a.kind is ActionKind.SEGMENT]

    @property
    def local_cleanups(self) -> list[Action]:
        return [a for a in self.actions if a.kind in (ActionKind.DELETE, ActionKind.MOVE)]


@dataclass(frozen=True)
class DirRecord:
    """What one folder of a watch dir looked like when a pass last listed it; an idle
    pass reads this one row instead of the folder's files (see dirstate.py)."""

    rel_dir: str  # "" for the watch dir itself, else "cam1/2026-01-01/" (POSIX separators)
    mtime_ns: int  # the folder's own mtime, taken before it was listed
    newest_mtime_ns: int  # newest wanted file directly in it (0: none)
    all_uploaded: bool  # every wanted file in it was uploaded and unchanged after that pass
    checked_at_ns: int  # when the pass that listed it started
    files: int = 0  # wanted files directly in it
