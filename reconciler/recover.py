"""`camup-sync recover KEY OUT`: what the bucket holds of one recording, written to OUT.

The object at KEY if there is one; else, for a recording still in progress, its live
segments ({prefix}_camup/live/{KEY}/000000, 000001, ...) concatenated in key order: a
byte-exact prefix of the recording. Needs only read access and the config's bucket and
prefixes: no manifest, no lock, so it runs on any machine and beside a running instance.
OUT is written through a temporary file in its folder and renamed into place, so a failure
leaves no half file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Optional, Protocol

from .keys import live_base
from .models import RemoteObject


class ReadStore(Protocol):
    def download(self, key: str, out: IO[bytes]) -> Optional[int]: ...

    def list(self, prefix: str) -> dict[str, RemoteObject]: ...


@dataclass(frozen=True)
class Recovered:
    size: int
    segments: int  # 0: the whole object


def segment_keys(listed: Iterable[str], base: str) -> list[str]:
    """base+000000, 000001, ... in order, up to the first gap (a prefix has no holes)."""
    present = set(listed)
    keys = []
    while f"{base}{len(keys):06d}" in present:
        keys.append(f"{base}{len(keys):06d}")
    return keys


def bases_for(key: str, prefixes: Iterable[str]) -> list[str]:
    """Where KEY's segments may be: under each watch dir prefix that KEY starts with
    (the longest first), then under any other prefix of the config."""
    ordered = sorted(set(prefixes), key=lambda p: (not key.startswith(p), -len(p)))
    return [live_base(p, key) for p in ordered]


def recover(store: ReadStore, key: str, prefixes: Iterable[str], out_path: str) -> Optional[Recovered]:
    """Write what the bucket holds of `key` to out_path; None when it holds nothing."""
    folder = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(prefix=".camup-recover-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            found = _write(store, key, prefixes, out)
            if found is not None:
                out.flush()
                os.fsync(out.fileno())
        if found is None:
            return None
        os.replace(tmp, out_path)
        tmp = ""
        return found
    finally:
        if tmp:
            os.unlink(tmp)


def _write(store: ReadStore, key: str, prefixes: Iterable[str], out: IO[bytes]) -> Optional[Recovered]:
    size = store.download(key, out)
    if size is not None:
        return Recovered(size, 0)
    for base in bases_for(key, prefixes):
        keys = segment_keys(store.list(base), base)
        if not keys:
            continue
        total = 0
        for segment in keys:
            got = store.download(segment, out)
            if got is None:  # deleted meanwhile: the file was just uploaded whole
                out.seek(0)
                out.truncate()
                return _write_object_only(store, key, out)
            total += got
        return Recovered(total, len(keys))
    return None


def _write_object_only(store: ReadStore, key: str, out: IO[bytes]) -> Optional[Recovered]:
    size = store.download(key, out)
    return Recovered(size, 0) if size is not None else None
