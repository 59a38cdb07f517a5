"""Every setting, with its default, its doc line and its range (as s3transfer's
TransferConfig): the frozen sections of config.yaml. Loading them is config.py's job."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from . import units
from .models import WatchDir

DEFAULT_EXTENSIONS = (".dat", ".bvr", ".avi", ".mov", ".jpg", ".mp4")
DEFAULT_EXCLUDE = ("*.part", "*.filepart", "*.tmp", "~*")
MIB = 1024 * 1024
# A file under this is read once and sent in one request from memory (native.py); being
# round trips more than bytes, such files have slots of their own (parallel_small_files).
SMALL_FILE_BYTES = MIB


class ConfigError(Exception):
    """A problem with the configuration; the message is the whole user-facing sentence."""


def _opt(default: Any, types: tuple[type, ...], doc: str, choices: tuple[str, ...] = ()) -> Any:
    """A field whose default may be None, so its accepted types are stated explicitly."""
    return field(default=default, metadata={"types": types, "doc": doc, "choices": choices})


def _doc(default: Any, doc: str, choices: tuple[str, ...] = (),
         bounds: Optional[tuple[float, float]] = None) -> Any:
    """A field with its one-line doc; a number's `bounds` (inclusive) is checked at load."""
    return field(default=default, metadata={"doc": doc, "choices": choices, "bounds": bounds})


HOUR, DAY, YEAR_HOURS = 3600.0, 86400.0, 8760.0


@dataclass(frozen=True)
class Stability:
    checks: int = _doc(2, "observations with unchanged size+mtime before a file is ready",
                       bounds=(1, 100))
    settle_seconds: float = _doc(2.0, "wait before the one in-pass re-check of new candidates",
                                 bounds=(0, HOUR))
    min_age_seconds: float = _doc(60.0, "mtime must be at least this old", bounds=(0, 7 * DAY))
    check_open_files: bool = _doc(True, "skip files another process has open for writing")
    skip_empty: bool = _doc(True, "zero-byte files are not uploaded")


LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
MAX_LOCK_DAYS = 36500


@dataclass(frozen=True)
class ObjectLock:
    """remote.object_lock: the retention every object is written with."""

    mode: str  # GOVERNANCE | COMPLIANCE
    days: int


@dataclass(frozen=True)
class Remote:
    endpoint_url: Optional[str] = _opt(None, (str,), "S3-compatible endpoint, e.g. http://nas:9000")
    region: Optional[str] = _opt(None, (str,), "bucket region; null = boto3's default chain")
    profile: Optional[str] = _opt(None, (str,), "AWS profile from ~/.aws/config")
    storage_class: Optional[str] = _opt(None, (str,), "e.g. STANDARD_IA, GLACIER_IR")
    sse: Optional[str] = _opt(None, (str,), "server-side encryption", ("AES256", "aws:kms"))
    sse_kms_key_id: Optional[str] = _opt(None, (str,), "KMS key for sse: aws:kms")
    checksum: str = _doc("auto", "end-to-end checksum", ("auto", "sha256", "crc32c", "off"))
    listing: str = _doc("auto", "when to list the bucket", ("auto", "always", "never"))
    relist_hours: float = _doc(24.0, "with listing: auto, list again after this many hours",
                               bounds=(0, YEAR_HOURS))
    on_conflict: str = _doc(
        "keep_both", "a key holds content we did not write", ("keep_both", "overwrite", "skip")
    )
    addressing_style: str = _doc(
        "auto", "auto: path style with endpoint_url, else virtual", ("auto", "path", "virtual")
    )
    object_lock: Optional[ObjectLock] = _opt(  # noqa: RUF009 - a field spec, as above
        None, (dict,), "e.g. {mode: GOVERNANCE, days: 30}: every object written with a retention")


@dataclass(frozen=True)
class Transfer:
    """Every tuning knob of the upload, in one place (as s3transfer's TransferConfig)."""

    multipart_threshold_mb: float = _doc(16.0, "files at least this big go multipart",
                                         bounds=(5, 5120))  # S3: a single PUT is at most 5 GiB
    multipart_chunksize_mb: float = _doc(16.0, "part size (S3 minimum: 5)",
                                         bounds=(5, 5120))  # S3: parts of 5 MiB to 5 GiB
    max_concurrency: int = _doc(8, "parts in flight for one file", bounds=(1, 64))
    parallel_files: int = _doc(4, "files of 1 MiB or more in flight at once (smaller ones too "
                               "when parallel_small_files is 0)", bounds=(1, 64))
    parallel_small_files: int = _doc(8, "files under 1 MiB in flight at once, besides parallel_files "
                                     "(0: they share parallel_files)", bounds=(0, 64))
    max_bandwidth: Optional[str] = _opt(None, (str, int, float), 'e.g. "2MB/s"; null = unlimited')
    bandwidth_schedule: tuple[str, ...] = _doc(
        (), 'e.g. ["Mon-Fri 07:00-23:00 1MB/s", "* 01:00-05:00 off"]; first match, else max_bandwidth')
    daily_budget: Optional[str] = _opt(None, (str, int), 'e.g. "5GB" per local day; then only priority files')
    max_memory_mb: float = _doc(64.0, "bytes buffered across all files and parts in flight",
                                bounds=(1, 1024 * 1024))
    native_client: str = _doc("auto", "auto: bodies under 1 MiB go through awscrt's native S3 "
                              "client; off: botocore sends everything", choices=("auto", "off"))

    @property
    def threshold_bytes(self) -> int:
        return int(self.multipart_threshold_mb * MIB)

    @property
    def chunk_bytes(self) -> int:
        return int(self.multipart_chunksize_mb * MIB)

    @property
    def bandwidth_bytes(self) -> Optional[int]:
        return None if self.max_bandwidth is None else parse_rate(self.max_bandwidth)

    @property
    def budget_bytes(self) -> Optional[int]:
        if self.daily_budget is None:
            return None
        try:
            return units.parse_size(self.daily_budget)
        except ValueError as exc:
            raise ConfigError(f"transfer.daily_budget: {exc}.") from None


@dataclass(frozen=True)
class Retry:
    max_attempts: int = _doc(5, "attempts per file within one pass", bounds=(1, 100))
    base_delay_seconds: float = _doc(1.0, "first backoff; doubles each attempt, with jitter",
                                     bounds=(0, HOUR))
    max_delay_seconds: float = _doc(60.0, "backoff cap within a pass", bounds=(0, HOUR))


@dataclass(frozen=True)
class AfterUpload:
    action: str = _doc("keep", "what to do with a local file once verified", ("keep", "delete", "move"))
    move_to: Optional[str] = _opt(None, (str,), "folder for action: move")
    min_age_hours: float = _doc(0.0, "only act on files uploaded at least this long ago",
                                bounds=(0, 10 * YEAR_HOURS))
    keep_free: Optional[str] = _opt(None, (str, int, float),
                                    'e.g. "50GB" or "10%": free space kept on each watch dir\'s volume')

    @property
    def keep_free_parsed(self) -> Optional[tuple[str, float]]:
        """("bytes", n) or ("percent", p); None when the disk guard is off."""
        if self.keep_free is None:
            return None
        try:
            return units.parse_size_or_percent(self.keep_free)
        except ValueError as exc:
            raise ConfigError(f"after_upload.keep_free: {exc}.") from None


@dataclass(frozen=True)
class Notify:
    """Alerts through Apprise and a heartbeat (a dead man's switch)."""

    urls: tuple[str, ...] = _doc((), "Apprise URLs: ntfy://, tgram://, mailtos://, json:// ...")
    heartbeat_url: Optional[str] = _opt(None, (str,), "POST the pass summary here after every pass")
    heartbeat_fail_url: Optional[str] = _opt(None, (str,), 'default: heartbeat_url + "/fail"')
    backlog_alert_minutes: float = _doc(60.0, "a file ready but not uploaded this long: alert",
                                        bounds=(0.01, YEAR_HOURS * 60))
    failing_passes: int = _doc(3, "a file, or the bucket, failing this many passes in a row: alert",
                               bounds=(1, 1000))
    repeat_hours: float = _doc(12.0, "the same open alert again at most this often",
                               bounds=(0.01, YEAR_HOURS))


@dataclass(frozen=True)
class Live:
    enabled: bool = _doc(False, "upload recordings still being written, in segments")
    after_seconds: float = _doc(60.0, "growing or held open this long -> live", bounds=(0, DAY))
    interval_seconds: float = _doc(60.0, "at most one segment per file per interval",
                                   bounds=(0.1, DAY))
    min_segment_mb: float = _doc(1.0, "smaller growth waits for the next interval (MiB; fractions "
                                 "allowed)", bounds=(0.01, 5120))

    @property
    def min_segment_bytes(self) -> int:
        return max(1, int(self.min_segment_mb * MIB))


@dataclass(frozen=True)
class Ledger:
    enabled: bool = _doc(False, "record each upload in hash-chained ledger objects in the bucket")


@dataclass(frozen=True)
class Logging:
    level: str = _doc(
        "INFO", "log level", ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
    )
    file: Optional[str] = _opt(None, (str,), "a rotated log file, relative to the config")
    rotation: str = _doc("10 MB", "when to rotate the log file")
    retention: str = _doc("14 days", "how long rotated files are kept")
    json: bool = _doc(False, "one JSON object per line")


@dataclass(frozen=True)
class Scan:
    trust_directory_mtime: Union[str, bool] = _opt(
        "auto", (str, bool), "skip unchanged quiet folders on idle passes: auto (not on FAT/exFAT "
        "or network shares) | true | false")
    quiet_hours: float = _doc(2.0, "a folder whose newest file is older than this may be skipped",
                              bounds=(0, YEAR_HOURS))

    @property
    def trust(self) -> Optional[bool]:
        """True / False as configured; None for auto (decided per watch dir's file system)."""
        value = str(self.trust_directory_mtime).lower()
        return None if value == "auto" else value == "true"


@dataclass(frozen=True)
class Config:
    watch_dirs: tuple[WatchDir, ...]
    bucket: str
    prefix: str = _doc("", "key = prefix + path relative to the watch dir")
    key_template: Optional[str] = _opt(None, (str,), "e.g. {prefix}{camera}/{mtime:%Y/%m/%d}/{name}")
    extensions: tuple[str, ...] = _doc(DEFAULT_EXTENSIONS, "file endings to upload")
    exclude: tuple[str, ...] = _doc(DEFAULT_EXCLUDE, "glob patterns on the relative path")
    recursive: bool = _doc(True, "descend into subfolders")
    interval_seconds: float = _doc(60.0, "between passes when running continuously",
                                    bounds=(1, DAY))
    order: str = _doc("newest_first", "which ready files go first", ("newest_first", "oldest_first"))
    priority: tuple[str, ...] = _doc(("*.jpg",), "globs on the relative path (alert images by "
                                     "default): sent first, and still sent when the daily budget "
                                     "is spent; [] for none")
    stability: Stability = field(default_factory=Stability)
    remote: Remote = field(default_factory=Remote)
    transfer: Transfer = field(default_factory=Transfer)
    retry: Retry = field(default_factory=Retry)
    after_upload: AfterUpload = field(default_factory=AfterUpload)
    notify: Notify = field(default_factory=Notify)
    state_dir: str = _doc(".camup", "manifest (SQLite) and lock; relative to the config file")
    logging: Logging = field(default_factory=Logging)
    live: Live = field(default_factory=Live)
    ledger: Ledger = field(default_factory=Ledger)
    scan: Scan = field(default_factory=Scan)
    source: str = ""  # the config file this came from, for messages

    @property
    def manifest_path(self) -> Path:
        return Path(self.state_dir) / "manifest.sqlite3"


def parse_rate(value: Any) -> int:
    """'2MB/s' -> 2_000_000 bytes/s (units.parse_rate), as a ConfigError naming the key."""
    try:
        return units.parse_rate(value)
    except ValueError as exc:
        raise ConfigError(f"transfer.max_bandwidth: {exc}.") from None
