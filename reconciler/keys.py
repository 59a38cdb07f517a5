"""The one function from a relative path to an S3 key, and the keep_both alternative.

A key is a pure function of the path (plus the mtime when a template asks for it), so
the same file always maps to the same key on every OS and every run.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Optional

MAX_KEY_BYTES = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.{0,2}(?:/|$)")  # also "//": stores fold empty segments


class UnsafeKey(ValueError):
    """The path cannot become a safe S3 key; the message says why."""


def _nfc(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _utc(mtime_ns: int) -> datetime:
    """Exact (truncated to microseconds): a float of ns since 1970 would round 23:59:59.9999999 up."""
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=mtime_ns // 1000)


FIELDS = ("prefix", "rel", "dir", "name", "stem", "ext", "camera", "mtime")  # what a key_template may use


def _fields(prefix: str, rel: str, mtime_ns: int) -> dict[str, object]:
    folder, name = posixpath.split(rel)
    stem, ext = posixpath.splitext(name)
    # Blue Iris names clips "Cam1.20240101_120000.mp4"; a camera subfolder wins if present.
    camera = rel.split("/", 1)[0] if "/" in rel else name.split(".", 1)[0]
    return {"prefix": prefix, "rel": rel, "dir": folder, "name": name, "stem": stem,
            "ext": ext, "camera": camera,
            "mtime": _utc(mtime_ns)}


def check_template(template: str) -> None:
    """Raise UnsafeKey when a key_template would fail for every file; the message names the
    bad field (or the syntax error) and lists the valid fields."""
    valid = f"valid fields are: {', '.join(FIELDS)}"
    try:
        template.format(**_fields("p/", "cam/a.mp4", 0))
    except KeyError as exc:
        raise UnsafeKey(f"key_template {template!r} uses an unknown field {{{exc.args[0]}}}; "
                        f"{valid}.") from None
    except IndexError:
        raise UnsafeKey(f"key_template {template!r} has an empty or numbered field such as {{}} "
                        f"or {{0}}; name a field instead; {valid}.") from None
    except (ValueError, AttributeError, TypeError) as exc:
        raise UnsafeKey(f"key_template {template!r} is not a valid template ({exc}); write e.g. "
                        f"{{prefix}}{{camera}}/{{mtime:%Y/%m/%d}}/{{name}}; {valid}.") from None


def key_for(prefix: str, rel: str, mtime_ns: int = 0, template: Optional[str] = None) -> str:
    """prefix + rel with '/' separators and NFC, or the template; never an unsafe key."""
    rel = _nfc(rel)
    if "\\" in rel:
        raise UnsafeKey(f"{rel!r} contains a backslash")
    key = _nfc(template.format(**_fields(prefix, rel, mtime_ns)) if template else prefix + rel)
    if key.startswith("/") or _DOT_SEGMENT.search(key):
        raise UnsafeKey(f"key {key!r} would start with '/' or hold a '.' or '..' segment")
    if _CONTROL.search(key):
        raise UnsafeKey(f"key {key!r} holds a control character")
    if len(key.encode("utf-8", "surrogateescape")) > MAX_KEY_BYTES:
        raise UnsafeKey(f"key is longer than S3's {MAX_KEY_BYTES} bytes")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeKey(f"{rel!r} is not valid Unicode") from None
    return key


def keep_both_key(key: str, size: int, mtime_ns: int) -> str:
    """A distinct, deterministic key for our copy when another object holds `key`."""
    folder, name = posixpath.split(key)
    stem, ext = posixpath.splitext(name)
    stamp = _utc(mtime_ns).strftime("%Y%m%dT%H%M%SZ")
    alt = f"{stem}.camup-{stamp}-{size}{ext}"
    return f"{folder}/{alt}" if folder else alt


RESERVED = "_camup/"  # {prefix}_camup/ holds camup-sync's own objects (live segments, ledger)


def live_base(prefix: str, key: str) -> str:
    """Where the live segments of `key` go: {prefix}_camup/live/{key}/ (+ f"{seq:06d}")."""
    return f"{prefix}{RESERVED}live/{key}/"


def is_reserved(key: str, prefixes: Iterable[str]) -> bool:
    """Is `key` one of camup-sync's own objects under some watch dir's {prefix}_camup/?"""
    return any(key.startswith(p + RESERVED) for p in prefixes)
