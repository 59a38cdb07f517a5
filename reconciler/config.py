"""The frozen Config: defaults in code, YAML and CAMUP_* variables only override.

Every mistake is found at load time and reported as one ConfigError sentence that names
the key (and the nearest valid one for a typo), so a bad file never half-runs.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import yaml

from . import logs, units
from .keys import UnsafeKey, check_layout
from .models import WatchDir
from .text import printable
from .timetable import ScheduleError, parse_entry

DEFAULT_EXTENSIONS = (".dat", ".bvr", ".avi", ".mov", ".jpg", ".mp4")
DEFAULT_EXCLUDE = ("*.part", "*.filepart", "*.tmp", "~*")
MIB = 1024 * 1024


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
    parallel_files: int = _doc(4, "files in flight at once", bounds=(1, 64))
    max_bandwidth: Optional[str] = _opt(None, (str, int, float), 'e.g. "2MB/s"; null = unlimited')
    bandwidth_schedule: tuple[str, ...] = _doc(
        (), 'e.g. ["Mon-Fri 07:00-23:00 1MB/s", "* 01:00-05:00 off"]; first match, else max_bandwidth')
    daily_budget: Optional[str] = _opt(None, (str, int), 'e.g. "5GB" per local day; then only priority files')
    max_memory_mb: float = _doc(64.0, "bytes buffered across all files and parts in flight",
                                bounds=(1, 1024 * 1024))

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
    priority: tuple[str, ...] = _doc((), 'globs on the relative path, e.g. ["*.jpg"]: sent first, '
                                     "and still sent when the daily budget is spent")
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
    source: str = ""  # the config file this came from, for messages

    @property
    def manifest_path(self) -> Path:
        return Path(self.state_dir) / "manifest.sqlite3"


_SECTIONS = {"stability": Stability, "remote": Remote, "transfer": Transfer, "retry": Retry,
             "after_upload": AfterUpload, "logging": Logging, "live": Live, "ledger": Ledger,
             "notify": Notify}
_TOP_KEYS = ("watch_dir", "watch_dirs", "bucket", "prefix", "key_template", "extensions",
             "exclude", "recursive", "interval_seconds", "order", "state_dir", "priority", *_SECTIONS)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")


def parse_rate(value: Any) -> int:
    """'2MB/s' -> 2_000_000 bytes/s (units.parse_rate), as a ConfigError naming the key."""
    try:
        return units.parse_rate(value)
    except ValueError as exc:
        raise ConfigError(f"transfer.max_bandwidth: {exc}.") from None


def object_lock_of(raw: dict[str, Any]) -> ObjectLock:
    """remote.object_lock as read from YAML -> ObjectLock, or a ConfigError naming the key."""
    for key in raw:
        if key not in ("mode", "days"):
            raise _unknown(str(key), "remote.object_lock.", ("mode", "days"))
    mode, days = raw.get("mode"), raw.get("days")
    if not isinstance(mode, str) or mode.upper() not in LOCK_MODES:
        raise ConfigError(f"remote.object_lock.mode must be GOVERNANCE or COMPLIANCE, got {mode!r}.")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_LOCK_DAYS:
        raise ConfigError(f"remote.object_lock.days must be a whole number of days from 1 to "
                          f"{MAX_LOCK_DAYS}, got {days!r}.")
    return ObjectLock(mode.upper(), days)


def _unknown(key: str, where: str, valid: Any) -> ConfigError:
    near = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    hint = f'; did you mean "{near[0]}"?' if near else f"; valid keys are: {', '.join(valid)}."
    return ConfigError(f'unknown key "{where}{key}" in the config{hint}')


def _type_name(types: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text",
             list: "a list", dict: "a mapping such as {mode: GOVERNANCE, days: 30}"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _check_value(name: str, value: Any, default: Any, meta: Any) -> Any:
    types = meta.get("types") or (type(default),)
    if value is None and "types" in meta:
        return None
    if value is False and "off" in (meta.get("choices") or ()):
        value = "off"  # YAML 1.1 reads a bare `checksum: off` as false
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            value = math.inf  # a whole number too big for a float: rejected just below
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}: write a plain number "
                          "such as 60 or 0.5.")
    if tuple in types:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of text values, got {value!r}.")
        value = tuple(value)
    elif not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ConfigError(f"{name} must be {_type_name(types)}, got {value!r}.")
    choices = meta.get("choices") or ()
    if choices and value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    check_bounds(name, value, meta.get("bounds"))
    return value


def field_bounds(cls: type, name: str) -> Optional[tuple[float, float]]:
    return next(f.metadata.get("bounds") for f in fields(cls) if f.name == name)


def check_bounds(name: str, value: Any, bounds: Optional[tuple[float, float]]) -> None:
    """The one range check of every number (from its field's `bounds`)."""
    if bounds is None or not isinstance(value, (int, float)):
        return
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {value!r}.")


def _build_section(cls: type, data: Any, where: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"{where.rstrip('.')} must be a mapping of keys, got {data!r}.")
    valid = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in data.items():
        if key not in valid:
            raise _unknown(str(key), where, valid)
        f = valid[key]
        values[key] = _check_value(where + key, value, f.default, f.metadata)
    return cls(**values)


def _watch_dirs(raw: dict[str, Any], base: Path, prefix: str) -> tuple[WatchDir, ...]:
    if "watch_dir" in raw and "watch_dirs" in raw:
        raise ConfigError("give either watch_dir or watch_dirs in the config, not both.")
    items = raw.get("watch_dirs", raw.get("watch_dir"))
    if items is None or items == []:
        raise ConfigError("no watch_dir in the config: set watch_dir to the folder your "
                          "recorder writes to (or CAMUP_WATCH_DIR).")
    if not isinstance(items, list):
        items = [items]
    dirs = []
    for i, item in enumerate(items):
        where = f"watch_dirs[{i}]"
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise ConfigError(f"{where} must be a folder path or {{path: ..., prefix: ...}}.")
        for key in item:
            if key not in ("path", "prefix"):
                raise _unknown(str(key), where + ".", ("path", "prefix"))
        item_prefix = item.get("prefix", prefix)
        if not isinstance(item_prefix, str):
            raise ConfigError(f"{where}.prefix must be text, got {item_prefix!r}.")
        if not item["path"].strip():  # '' would silently mean the config's own folder
            raise ConfigError(f"{where} is empty: set it to the folder your recorder writes to.")
        path = os.path.abspath(base / os.path.expanduser(item["path"]))
        dirs.append(WatchDir(path=path, prefix=item_prefix))
    _no_overlap(dirs)
    return tuple(dirs)


def _no_overlap(dirs: list[WatchDir]) -> None:
    """Two watch dirs that are one folder, or one inside the other (by real path: links and
    other spellings resolved), would plan files twice; refuse them."""
    real = [os.path.normcase(os.path.realpath(w.path)) for w in dirs]
    for i, j in ((i, j) for i in range(len(dirs)) for j in range(len(dirs)) if i < j):
        if real[i] == real[j]:
            raise ConfigError(f"watch_dirs[{i}] and watch_dirs[{j}] are the same folder "
                              f"({dirs[j].path}); list each folder once.")
        for inner, outer in ((i, j), (j, i)):
            if path_inside(real[inner], real[outer]):
                raise ConfigError(f"watch_dirs[{inner}] ({dirs[inner].path}) is inside "
                                  f"watch_dirs[{outer}] ({dirs[outer].path}): its files would be "
                                  "uploaded twice; list only the outer folder.")


def path_inside(path: str, folder: str, pathmod: Any = os.path) -> bool:
    """`path` is `folder` or below it (both absolute), by `pathmod`'s rules (ntpath: case-
    insensitive, either slash). Different drives (C:\\ vs D:\\) or roots are never inside."""
    path, folder = pathmod.normcase(pathmod.normpath(path)), pathmod.normcase(pathmod.normpath(folder))
    try:
        return pathmod.commonpath([folder, path]) == folder
    except ValueError:  # commonpath's answer to "different drives" (or absolute vs relative)
        return False


def _real(path: str) -> str:
    """Where a path really leads (symlinks, junctions resolved as far as they exist)."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def _check_move_to(move_to: str, watch_dirs: tuple[WatchDir, ...]) -> None:
    """move_to and the watch dirs must not overlap, compared by where they really lead: a
    link or another spelling into a watch dir would have moved files found and uploaded
    again; a watch dir inside move_to could receive moved files whose relative path
    starts with its own name."""
    for w in watch_dirs:
        target, watch = _real(move_to), _real(w.path)
        if path_inside(move_to, w.path) or path_inside(target, watch):
            via = "" if path_inside(move_to, w.path) else f" (it leads to {target})"
            raise ConfigError(f"after_upload.move_to {move_to} is inside watch dir {w.path}{via}: "
                              "moved files would be found again; pick a folder outside it.")
        if path_inside(watch, target):
            raise ConfigError(f"watch dir {w.path} is inside after_upload.move_to {move_to}: moved "
                              "files could land back in it; pick a move_to folder beside it.")


def _validate(cfg: Config) -> None:
    if not _BUCKET.match(cfg.bucket):
        raise ConfigError(f'bucket "{cfg.bucket}" is not a valid S3 bucket name (3-63 '
                          "lowercase letters, digits, dots and hyphens).")
    cfg.transfer.bandwidth_bytes  # noqa: B018 - parses, raising ConfigError on a bad rate
    _validate_bandwidth(cfg)
    if cfg.remote.endpoint_url is not None:
        _check_endpoint(cfg.remote.endpoint_url)
    if cfg.after_upload.action == "move" and not cfg.after_upload.move_to:
        raise ConfigError("after_upload.action is move but after_upload.move_to is not set.")
    if cfg.after_upload.move_to:
        _check_move_to(cfg.after_upload.move_to, cfg.watch_dirs)
    if cfg.remote.checksum == "crc32c":
        try:
            import crc32c  # noqa: F401
        except ImportError:
            raise ConfigError("remote.checksum: crc32c needs the crc32c package "
                              "(pip install crc32c), or use sha256.") from None
    for pattern in cfg.exclude:
        if not pattern:
            raise ConfigError("exclude holds an empty pattern; remove it.")
    for i, w in enumerate(cfg.watch_dirs):  # every prefix, with the template if there is one
        try:
            check_layout(w.prefix, cfg.key_template,
                         "prefix" if w.prefix == cfg.prefix else f"watch_dirs[{i}].prefix")
        except UnsafeKey as exc:
            raise ConfigError(str(exc)) from None
    _validate_notify(cfg.notify)
    cfg.after_upload.keep_free_parsed  # noqa: B018 - parses, raising ConfigError on a bad size
    problem = logs.file_options_problem(cfg.logging.rotation, cfg.logging.retention)
    if problem:
        raise ConfigError(problem)


def _validate_bandwidth(cfg: Config) -> None:
    """bandwidth_schedule, daily_budget and priority: one sentence each."""
    for entry in cfg.transfer.bandwidth_schedule:
        try:
            parse_entry(entry)
        except ScheduleError as exc:
            raise ConfigError(f"transfer.bandwidth_schedule entry {exc}.") from None
    cfg.transfer.budget_bytes  # noqa: B018 - parses, raising ConfigError on a bad size
    for pattern in cfg.priority:
        if not pattern:
            raise ConfigError("priority holds an empty pattern; remove it.")


def _validate_notify(n: Notify) -> None:
    """URLs that at least look like URLs (never echoed: they hold tokens)."""
    for i, url in enumerate(n.urls):
        if "://" not in url:
            raise ConfigError(f"notify.urls[{i}] is not an Apprise URL (scheme://...), e.g. "
                              '"ntfy://my-topic" or "json://host/path".')
    for name, url in (("notify.heartbeat_url", n.heartbeat_url),
                      ("notify.heartbeat_fail_url", n.heartbeat_fail_url)):
        if url is not None and not url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"{name} must be an http:// or https:// URL.")


def _check_endpoint(url: str) -> None:
    """http(s)://host[:port][/path], or one sentence (without any password in the URL)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number 0-65535
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        shown = printable(logs.strip_userinfo(url))
        raise ConfigError(f"remote.endpoint_url {shown!r} is not an http or https URL with a "
                          "host: write it like http://nas:9000 or https://s3.example.com.")


def default_state_dir(source: str) -> str:
    """.camup beside config.yaml; .camup-<name> beside any other config file, so two configs
    in one folder (two buckets) never share, and never thrash, one manifest."""
    stem = Path(source).stem if source else "config"
    return ".camup" if stem.lower() == "config" else f".camup-{stem}"


def from_mapping(raw: Any, base: Path, source: str = "", env: Optional[dict[str, str]] = None) -> Config:
    """Build a Config from parsed YAML; relative paths resolve against `base`."""
    env = dict(os.environ if env is None else env)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source or 'the config'} must be a mapping of keys, got {type(raw).__name__}.")
    raw = dict(raw)
    for key in raw:
        if key not in _TOP_KEYS:
            raise _unknown(str(key), "", _TOP_KEYS)
    overrides = {"CAMUP_BUCKET": "bucket", "CAMUP_PREFIX": "prefix", "CAMUP_WATCH_DIR": "watch_dir"}
    for var, key in overrides.items():
        if env.get(var):
            raw.pop("watch_dirs", None) if key == "watch_dir" else None
            raw[key] = env[var]
    sections = {name: _build_section(cls, raw.get(name), name + ".") for name, cls in _SECTIONS.items()}
    lock = sections["remote"].object_lock
    if lock is not None:
        sections["remote"] = replace(sections["remote"], object_lock=object_lock_of(lock))
    if env.get("CAMUP_ENDPOINT_URL"):
        sections["remote"] = replace(sections["remote"], endpoint_url=env["CAMUP_ENDPOINT_URL"])
    bucket = raw.get("bucket")
    if not bucket:
        raise ConfigError("no bucket in the config: set bucket to your S3 bucket's name (or CAMUP_BUCKET).")
    top = {f.name: f for f in fields(Config)}
    values: dict[str, Any] = {}
    for key in ("bucket", "prefix", "key_template", "extensions", "exclude", "recursive",
                "interval_seconds", "order", "state_dir", "priority"):
        if key in raw:
            f = top[key]
            default = f.default if f.default is not MISSING else ""
            values[key] = _check_value(key, raw[key], default, f.metadata)
    prefix = values.get("prefix", "")
    values["extensions"] = tuple(
        e.lower() if e.startswith(".") else "." + e.lower()
        for e in values.get("extensions", DEFAULT_EXTENSIONS)
    )
    values["state_dir"] = os.path.abspath(base / values.get("state_dir", default_state_dir(source)))
    log = sections["logging"]
    if log.file:
        sections["logging"] = replace(log, file=os.path.abspath(base / log.file))
    after = sections["after_upload"]
    if after.move_to:
        sections["after_upload"] = replace(after, move_to=os.path.abspath(base / after.move_to))
    cfg = Config(watch_dirs=_watch_dirs(raw, base, prefix), source=source, **values, **sections)
    _validate(cfg)
    return cfg


def default_path(env: Optional[dict[str, str]] = None) -> Path:
    env = dict(os.environ if env is None else env)
    return Path(env.get("CAMUP_CONFIG") or "config.yaml")


def load(path: Optional[Path] = None, env: Optional[dict[str, str]] = None) -> Config:
    """Read, validate and resolve the config file (relative paths: its own folder)."""
    path = Path(path) if path else default_path(env)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found: copy the sample config.yaml there, "
                          "or pass --config PATH (or set CAMUP_CONFIG).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}.") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path} is not valid YAML{where} ({problem}); fix that line. "
                          "Hint: quote Windows paths with single quotes.") from None
    return from_mapping(raw, path.resolve().parent, str(path), env)
