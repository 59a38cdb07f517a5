"""after_upload: delete or move local files, only once the remote copy is verified.

Verified means the object at the recorded key has the recorded size and, where the store
keeps a checksum, the checksum of the local bytes. Anything less and the file stays.
"""

from __future__ import annotations

import os
import shutil
from typing import IO, Callable, Optional, Protocol

from loguru import logger

from .models import Action, ActionKind, LocalFile, ManifestEntry
from .probe import open_for_upload
from .s3errors import RemoteError, is_denied
from .scan import path_of, restat


class Verifier(Protocol):
    def head(self, key: str) -> Optional[tuple[int, Optional[str], str]]: ...

    def local_checksum(self, fh: IO[bytes], size: int) -> Optional[str]: ...

    def etag_matches(self, fh: IO[bytes], size: int, etag: str) -> bool: ...


def verified(store: Verifier, action: Action, entry: Optional[ManifestEntry]) -> Optional[str]:
    """None when the remote copy holds exactly the local bytes; else why it does not."""
    file = action.file
    assert file is not None
    found = store.head(action.key)
    if found is None:
        return "the object is missing from the bucket"
    size, stored, etag = found
    if size != file.size:
        return f"the object has {size} bytes, the file {file.size}"
    if stored is not None and entry is not None and entry.checksum == stored:
        return None  # the store kept the checksum of the very bytes we read and sent
    with open_for_upload(path_of(file)) as fh:
        same = (store.local_checksum(fh, file.size) == stored if stored is not None
                else store.etag_matches(fh, file.size, etag))
    return None if same else "its checksum or ETag differs from the local file's"


def clean_up(store: Verifier, actions: list[Action], entries: dict[tuple[str, str], ManifestEntry],
             move_to: Optional[str], writers: Callable[[list[LocalFile]], set[tuple[str, str]]]) -> int:
    """Carry out delete/move actions; returns how many files were removed from the folder.

    `writers` names the files another process holds open right now: a recorder that paused
    must never have its file unlinked under it. One file's trouble never stops the others.
    """
    still_open = writers([a.file for a in actions if a.file is not None]) if actions else set()
    done = 0
    for action in actions:
        file = action.file
        assert file is not None
        if file.id in still_open:
            logger.warning("Keeping {}: another process has it open", file.rel)
            continue
        try:
            done += _finish_one(store, action, file, entries.get(file.id), move_to)
        except RemoteError as exc:
            if is_denied(exc):  # write-only credentials: nothing can be verified, so nothing goes
                logger.warning("Keeping {}: it cannot be verified in the bucket (reading it is "
                               "denied: write-only credentials); after_upload never deletes or "
                               "moves what it cannot verify", file.rel)
                continue
            logger.warning("Could not {} {}: {}; trying again next pass", action.kind.value,
                           file.rel, exc)
        except OSError as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            logger.warning("Could not {} {}: {}; trying again next pass", action.kind.value,
                           file.rel, reason)
    return done


def _finish_one(store: Verifier, action: Action, file: LocalFile, entry: Optional[ManifestEntry],
                move_to: Optional[str]) -> int:
    now = restat(file)
    if now is None or (now.size, now.mtime_ns) != (file.size, file.mtime_ns):
        return 0  # gone or changed since the plan: leave it to the next pass
    problem = verified(store, action, entry)
    if problem:
        logger.warning("Keeping {}: not verified in the bucket ({})", file.rel, problem)
        return 0
    if action.kind is ActionKind.DELETE:
        os.remove(path_of(file))
        logger.info("Deleted local {} (verified at s3://.../{})", file.rel, action.key)
        return 1
    assert move_to is not None
    target = os.path.join(move_to, *file.rel.split("/"))
    if os.path.exists(target):
        logger.warning("Keeping {}: {} already exists", file.rel, target)
        return 0
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.move(path_of(file), target)
    logger.info("Moved local {} to {} (verified in the bucket)", file.rel, target)
    return 1
