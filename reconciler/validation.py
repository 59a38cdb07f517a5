"""The checks that span more than one key: watch dirs that overlap, move_to leading back
into a watch dir, the endpoint URL, the bandwidth timetable and the notification URLs.
Each failure is one ConfigError sentence naming the key."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from . import logs
from .keys import UnsafeKey, check_layout
from .models import WatchDir
from .settings import Config, ConfigError, Logging, Notify
from .text import printable
from .timetable import ScheduleError, parse_entry

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")


def no_overlap(dirs: list[WatchDir]) -> None:
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


def validate(cfg: Config) -> None:
    if not _BUCKET.match(cfg.bucket):
        raise ConfigError(f'bucket "{cfg.bucket}" is not a valid S3 bucket name (3-63 '
                          "lowercase letters, digits, dots and hyphens).")
    if str(cfg.scan.trust_directory_mtime).lower() not in ("auto", "true", "false"):
        raise ConfigError("scan.trust_directory_mtime must be one of auto, true, false; got "
                          f"{cfg.scan.trust_directory_mtime!r}.")
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
    # Asking loguru costs two file sinks (tens of ms each): not for the defaults, which it takes.
    defaults = Logging()
    if (cfg.logging.rotation, cfg.logging.retention) != (defaults.rotation, defaults.retention):
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
