"""What acting on a plan produces: the outcome of each upload, what the store says it
stored (and what a HEAD says it holds), and the pass's report. Stdlib only."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from .models import Action


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


class Outcome(str, Enum):
    """What became of one planned upload. The recorder keys its table on it (outcomes.py)."""

    UPLOADED = "uploaded"
    ADOPTED = "already in the bucket"  # the store already had these very bytes
    UNVERIFIED = "uploaded (unverified)"  # refused as existing, and the HEAD that would confirm it denied
    GONE = "gone"  # vanished before or during upload: forget, not a failure
    CHANGED = "changed"  # changed during upload: try again when stable
    LOCKED = "locked"  # another process excludes our read (Windows): try next pass
    CONFLICT_SKIPPED = "conflict skipped"  # other content at the key, on_conflict: skip
    STOPPED = "stopped"  # a stop was requested: nothing recorded, the next run continues
    FAILED = "failed"  # retries spent or an error retrying cannot fix: back off across passes


_IN_THE_BUCKET = (Outcome.UPLOADED, Outcome.ADOPTED, Outcome.UNVERIFIED)


@dataclass(frozen=True)
class UploadResult:
    """What happened to one planned upload."""

    action: Action
    outcome: Outcome = Outcome.FAILED
    key: str = ""  # where the bytes went (keep_both may change it)
    checksum: Optional[str] = None
    attempts: int = 0
    error: Optional[str] = None  # FAILED: why (a sentence)
    denied: bool = False  # FAILED because the store denied the request (IAM), not by chance
    version_id: Optional[str] = None  # where the store versions objects
    sha256: Optional[str] = None  # hex of the whole file's bytes, when the ledger asks for it

    @property
    def ok(self) -> bool:
        """The bucket holds the file now (sent, found there, or sent but unconfirmed)."""
        return self.outcome in _IN_THE_BUCKET


@dataclass(frozen=True)
class Stored:
    """What a store's upload hands back: the stored checksum, and for the ledger the version
    id and the SHA-256 (hex) of the bytes sent (None where not known or not asked for)."""

    checksum: Optional[str] = None
    version_id: Optional[str] = None
    sha256: Optional[str] = None


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
    segments: int = 0  # live segments sent
    segment_bytes: int = 0
    unstorable: list[str] = field(default_factory=list)  # "name: why" of files S3 cannot store
    unverified: int = 0  # recorded "uploaded (unverified)" this pass (write-only credentials)
    disk_short: list[str] = field(default_factory=list)  # below keep_free, nothing verified left
    manifest_moved_aside: Optional[str] = None  # where a corrupt or foreign manifest went

    @property
    def exit_code(self) -> int:
        if self.fatal:
            return 4
        if self.watch_dir_missing:
            return 2
        return 1 if self.failed or self.errors else 0
