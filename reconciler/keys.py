"""The one function from a relative path to an S3 key, and the keep_both alternative.

A key is a pure function of the path (plus the mtime when a template asks for it), so
the same file always maps to the same key on every OS and every run.

Escaping (reversible and injective, see `escape_name` / `unescape_key`): in the part of a
key that comes from a file name, each control character (U+0000-U+001F, U+007F-U+009F) and
each backslash becomes %XX (upper-case hex of the code point), and a '%' that is followed
by two hex digits becomes %25. Every other name, including one with a lone '%', keeps its
key unchanged. Decoding every %XX gives the name back.

What S3 cannot store at all is refused (UnsafeKey, counted as a failed file): a name that is
not valid Unicode (bytes that are not UTF-8) and a key over 1,024 bytes of UTF-8. A prefix or
key_template that could give a bad key for some file is refused at load (`check_layout`).
Keys under `{prefix}_camup/` are the tool's own (live segments, ledger, check probe).
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Optional

MAX_KEY_BYTES = 1024
RESERVED = "_camup/"  # after a watch dir's prefix: keys the tool writes for itself
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TO_ESCAPE = re.compile(r"[\x00-\x1f\x7f-\x9f\\]|%(?=[0-9A-Fa-f]{2})")
_ESCAPED = re.compile(r"%([0-9A-Fa-f]{2})")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.{0,2}(?:/|$)")  # also "//": stores fold empty segments


class UnsafeKey(ValueError):
    """The path cannot become a safe S3 key; the message says why."""


def escape_name(rel: str) -> str:
    """The key form of a relative path: control characters, backslashes and a '%' that
    could be read as an escape written as %XX; nothing else changes."""
    return _TO_ESCAPE.sub(lambda m: f"%{ord(m.group(0)):02X}", rel)


def unescape_key(text: str) -> str:
    """The inverse of `escape_name`."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


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


# Files a layout must map to good keys: top of the watch dir, one and two folders down.
_SAMPLES = ("Cam1.20240101_120000.mp4", "cam1/a.mp4", "cam1/2024/a.jpg")


def _structure_problem(key: str) -> Optional[str]:
    """Why `key` is not a well-formed key (whatever the file name), or None."""
    if key.startswith("/") or _DOT_SEGMENT.search(key):
        return "would start with '/' or hold an empty, '.' or '..' segment"
    if _CONTROL.search(key) or "\\" in key:
        return "would hold a control character or a backslash (S3 keys use '/')"
    return None


def check_layout(prefix: str, template: Optional[str], where: str = "prefix") -> None:
    """Raise UnsafeKey when `prefix` (or `template` with it) could give a bad key for some
    file: checked on files at the top of the watch dir and in subfolders."""
    if template is not None:
        check_template(template)
    what = f"key_template {template!r} with {where} {prefix!r}" if template else f"{where} {prefix!r}"
    for rel in _SAMPLES:
        key = template.format(**_fields(prefix, rel, 0)) if template else prefix + rel
        problem = _structure_problem(key)
        if problem is None and key.startswith(prefix + RESERVED):
            problem = f"would be under {prefix + RESERVED}, which camup-sync keeps for itself"
        if problem is None and len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES // 2:
            problem = f"would leave too little of S3's {MAX_KEY_BYTES} bytes for file names"
        if problem:
            fix = "cams/" if not template else "{prefix}{camera}/{mtime:%Y/%m/%d}/{name}"
            raise UnsafeKey(f"{what} gives keys such as {key!r} for a file {rel!r}, which "
                            f"{problem}; write it like {fix}.")


def key_for(prefix: str, rel: str, mtime_ns: int = 0, template: Optional[str] = None) -> str:
    """prefix + the escaped rel (or the template), NFC; UnsafeKey when S3 cannot store it."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeKey("the name is not valid Unicode (bytes that are not UTF-8), which an "
                        "S3 key cannot hold; rename the file") from None
    rel = escape_name(_nfc(rel))
    key = _nfc(template.format(**_fields(prefix, rel, mtime_ns)) if template else prefix + rel)
    problem = _structure_problem(key)
    if problem:
        raise UnsafeKey(f"key {key!r} {problem}")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise UnsafeKey(f"the key would be longer than S3's {MAX_KEY_BYTES} bytes; shorten the "
                        "file or folder names")
    return key


def reserved(prefix: str, key: str) -> bool:
    """Is `key` in the tool's own space under this watch dir's prefix?"""
    return key.startswith(prefix + RESERVED)


def keep_both_key(key: str, size: int, mtime_ns: int) -> str:
    """A distinct, deterministic key for our copy when another object holds `key`."""
    folder, name = posixpath.split(key)
    stem, ext = posixpath.splitext(name)
    stamp = _utc(mtime_ns).strftime("%Y%m%dT%H%M%SZ")
    alt = f"{stem}.camup-{stamp}-{size}{ext}"
    return f"{folder}/{alt}" if folder else alt


def live_base(prefix: str, key: str) -> str:
    """Where the live segments of `key` go: {prefix}_camup/live/{key}/ (+ f"{seq:06d}")."""
    return f"{prefix}{RESERVED}live/{key}/"


def is_reserved(key: str, prefixes: Iterable[str]) -> bool:
    """Is `key` one of camup-sync's own objects under some watch dir's {prefix}_camup/?"""
    return any(reserved(p, key) for p in prefixes)
