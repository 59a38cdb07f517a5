"""The records that flow between the stages of a pass. Stdlib only, all immutable."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterator, Optional, Protocol  # noqa: UP035 - test_layering allows typing, not collections


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


class ActionKind(str, Enum):
    UPLOAD = "upload"
    ADOPT = "adopt"  # record as uploaded without sending a byte
    SKIP = "skip"
    FORGET = "forget"  # drop a manifest row whose file is gone and was never uploaded
    DELETE = "delete"  # after_upload: remove the local file once the remote copy is verified
    MOVE = "move"  # after_upload: move the local file to move_to once verified


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


@dataclass(frozen=True)
class Observation:
    """The stability history of a not-yet-uploaded file."""

    size: int
    mtime_ns: int
    count: int  # consecutive observations with this size and mtime
    first_seen: float  # when this size+mtime was first observed


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
class StoredObject:
    """What a HEAD of one key says about its object: enough to tell whether local bytes
    are its content (Bucket.same_content), whichever store and part size wrote it.

    checksum is the configured algorithm's value as the store keeps it, a multipart
    object's composite always in S3's documented "<b64>-N" form (moto leaves "-N" off);
    None when the store keeps no checksum of that algorithm. parts_count is None for a
    single PUT (or when the store does not say).
    """

    size: int
    checksum: Optional[str]
    etag: str
    parts_count: Optional[int] = None
    key: str = ""

    def __iter__(self) -> Iterator[Any]:
        """`size, checksum, etag = found`, as callers unpacked the tuple head() once returned."""
        return iter((self.size, self.checksum, self.etag))


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    reason: Reason
    file: Optional[LocalFile]
    key: str
    observation: Optional[Observation] = None  # to persist (None: nothing new)
    detail: str = ""  # e.g. the process holding a file open
    overwrite: bool = False  # may replace an object at key (we wrote it, or on_conflict says so)
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
    def local_cleanups(self) -> list[Action]:
        return [a for a in self.actions if a.kind in (ActionKind.DELETE, ActionKind.MOVE)]


@dataclass(frozen=True)
class UploadResult:
    """What happened to one planned upload."""

    action: Action
    ok: bool = False
    key: str = ""  # where the bytes went (keep_both may change it)
    checksum: Optional[str] = None
    attempts: int = 0
    error: Optional[str] = None
    gone: bool = False  # vanished before or during upload: forget, not a failure
    changed: bool = False  # changed during upload: try again when stable
    adopted: bool = False  # the store already had identical content
    skipped_conflict: bool = False
    locked: bool = False  # another process excludes our read (Windows): try next pass


@dataclass
class PassReport:
    """Counts for one pass; filled in as the pass goes."""

    started_at: float
    finished_at: float = 0.0
    found: int = 0
    uploaded: int = 0
    uploaded_bytes: int = 0
    adopted: int = 0
    failed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # pass-level (a watch dir missing)
    fatal: Optional[str] = None  # bucket unusable: exit 4
    listed: bool = False
    watch_dir_missing: bool = False
    unstorable: list[str] = field(default_factory=list)  # "name: why" of files S3 cannot store

    @property
    def exit_code(self) -> int:
        if self.fatal:
            return 4
        if self.watch_dir_missing:
            return 2
        return 1 if self.failed or self.errors else 0
