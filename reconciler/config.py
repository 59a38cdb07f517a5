"""The frozen Config: defaults in code, YAML and CAMUP_* variables only override.

Every mistake is found at load time and reported as one ConfigError sentence that names
the key (and the nearest valid one for a typo), so a bad file never half-runs.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any, Optional

import yaml

from .models import WatchDir
from .settings import (
    DEFAULT_EXCLUDE,
    DEFAULT_EXTENSIONS,
    LOCK_MODES,
    MAX_LOCK_DAYS,
    MIB,
    AfterUpload,
    Config,
    ConfigError,
    Ledger,
    Live,
    Logging,
    Notify,
    ObjectLock,
    Remote,
    Retry,
    Scan,
    Stability,
    Transfer,
    parse_rate,
)
from .validation import no_overlap, path_inside, validate

# The sections and their records are importable from here, as before the split.
__all__ = ["DEFAULT_EXCLUDE", "DEFAULT_EXTENSIONS", "MIB", "AfterUpload", "Config", "ConfigError",
           "Ledger", "Live", "Logging", "Notify", "ObjectLock", "Remote", "Retry", "Scan",
           "Stability", "Transfer", "check_bounds", "field_bounds", "from_mapping", "load",
           "object_lock_of", "parse_rate", "path_inside"]

_SECTIONS = {"stability": Stability, "remote": Remote, "transfer": Transfer, "retry": Retry,
             "after_upload": AfterUpload, "logging": Logging, "live": Live, "ledger": Ledger,
             "notify": Notify, "scan": Scan}
_TOP_KEYS = ("watch_dir", "watch_dirs", "bucket", "prefix", "key_template", "extensions",
             "exclude", "recursive", "interval_seconds", "order", "state_dir", "priority", *_SECTIONS)


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
    no_overlap(dirs)
    return tuple(dirs)


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
    validate(cfg)
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
