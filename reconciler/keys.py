"""The one function from a relative path to an S3 key, and the keep_both alternative.

A key is a pure function of the path (plus the mtime when a template asks for it), so
the same file always maps to the same key on every OS and every run.
"""

from __future__ import annotations

import posixpath
import unicodedata
from datetime import datetime, timezone
from typing import Optional

MAX_KEY_BYTES = 1024


class UnsafeKey(ValueError):
    """The path cannot become a safe S3 key; the message says why."""


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _fields(prefix: str, rel: str, mtime_ns: int) -> dict[str, object]:
    folder, name = posixpath.split(rel)
    stem, ext = posixpath.splitext(name)
    # Blue Iris names clips "Cam1.20240101_120000.mp4"; a camera subfolder wins if present.
    camera = rel.split("/", 1)[0] if "/" in rel else name.split(".", 1)[0]
    return {"prefix": prefix, "rel": rel, "dir": folder, "name": name, "stem": stem,
            "ext": ext, "camera": camera,
            "mtime": datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc)}


def check_template(template: str) -> None:
    """Raise UnsafeKey when a key_template would fail for every file."""
    try:
        template.format(**_fields("p/", "cam/a.mp4", 0))
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise UnsafeKey(f"key_template {template!r} is not valid: {exc!r}") from None


def key_for(prefix: str, rel: str, mtime_ns: int = 0, template: Optional[str] = None) -> str:
    """prefix + rel with '/' separators and NFC, or the template; never an unsafe key."""
    rel = _nfc(rel)
    if "\\" in rel:
        raise UnsafeKey(f"{rel!r} contains a backslash")
    key = _nfc(template.format(**_fields(prefix, rel, mtime_ns)) if template else prefix + rel)
    parts = key.split("/")
    if key.startswith("/") or any(p in ("..", ".") for p in parts):
        raise UnsafeKey(f"key {key!r} would start with '/' or hold a '.' or '..' segment")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
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
    stamp = datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    alt = f"{stem}.camup-{stamp}-{size}{ext}"
    return f"{folder}/{alt}" if folder else alt
