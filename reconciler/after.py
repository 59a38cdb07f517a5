"""after_upload: delete or move local files, only once their CURRENT bytes are verified.

For each file: HEAD the object at its key; open the file through localfs (no link
followed, the very file the scan saw; on Windows with DELETE access and share mode
READ|DELETE, so a writer still holding it keeps it); hash the bytes of that handle and
compare them with the object's stored checksum, or its ETag where the store keeps none;
then delete or move through the same handle. The manifest's own record of the checksum is
never enough: a file swapped for other bytes of the same size and mtime must not go.
A file whose bytes differ is marked changed (`on_changed`): the planner uploads it again.
"""

from __future__ import annotations

import os
from typing import IO, Callable, Optional, Protocol

from loguru import logger

from . import localfs
from .models import Action, ActionKind, LocalFile
from .results import StoredObject
from .s3errors import RemoteError, is_denied
from .text import printable

Found = StoredObject  # what head() says: size, stored checksum, ETag, part count


class Verifier(Protocol):
    def head(self, key: str) -> Optional[Found]: ...

    def same_content(self, fh: IO[bytes], size: int, found: Found) -> bool: ...


def clean_up(store: Verifier, actions: list[Action], move_to: Optional[str],
             writers: Callable[[list[LocalFile]], set[tuple[str, str]]],
             on_changed: Callable[[LocalFile, str], None]) -> int:
    """Carry out delete/move actions; returns how many files were removed from the folder.

    `writers` names the files another process holds open right now (POSIX: a recorder that
    paused must never have its file unlinked under it; Windows: the share-mode open says
    it). `on_changed(file, key)` records a file whose bytes are not the stored ones, so it
    is uploaded again. One file's trouble never stops the others.
    """
    still_open = writers([a.file for a in actions if a.file is not None]) if actions else set()
    done = 0
    for action in actions:
        file = action.file
        assert file is not None
        if file.id in still_open:
            logger.warning("Keeping {}: another process has it open", printable(file.rel))
            continue
        try:
            done += _finish_one(store, action, file, move_to, on_changed)
        except localfs.FileLocked:
            logger.warning("Keeping {}: another process has it open", printable(file.rel))
        except FileNotFoundError:
            logger.info("{} is gone already; nothing to {}", printable(file.rel), action.kind.value)
        except (localfs.LinkRefused, localfs.NotTheScannedFile) as exc:
            logger.warning("Keeping {}: {}; the next pass looks at it again", printable(file.rel),
                           exc.strerror)
        except RemoteError as exc:
            if not is_denied(exc):
                logger.warning("Could not {} {}: {}; it stays where it is, and the next pass "
                               "tries again", action.kind.value, printable(file.rel), exc)
                continue
            # Write-only credentials: nothing can be verified, so nothing is deleted or moved.
            logger.warning("Keeping {}: it cannot be verified in the bucket (reading it is denied: "
                           "write-only credentials); after_upload never deletes or moves what it "
                           "cannot verify", printable(file.rel))
        except OSError as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            logger.warning("Could not {} {}: {}; it stays where it is, and the next pass tries "
                           "again", action.kind.value, printable(file.rel), reason)
    return done


def _finish_one(store: Verifier, action: Action, file: LocalFile, move_to: Optional[str],
                on_changed: Callable[[LocalFile, str], None]) -> int:
    found = store.head(action.key)
    if found is None:
        logger.warning("Keeping {}: not verified in the bucket (the object is missing from the "
                       "bucket)", printable(file.rel))
        return 0
    with localfs.open_held(file, delete=True) as held:
        if not held.unchanged():
            return 0  # changed since the plan: the next pass sees it as changed
        if found.size != file.size or not store.same_content(held.fh, file.size, found):
            logger.warning("Keeping {}: not verified in the bucket (its current bytes differ "
                           "from the object at {}); it is uploaded again", printable(file.rel),
                           printable(action.key))
            on_changed(file, action.key)
            return 0
        if action.kind is ActionKind.DELETE:
            localfs.remove(held)
            logger.info("Deleted local {} (its bytes verified against {})", printable(file.rel),
                        printable(action.key))
            return 1
        assert move_to is not None
        target = os.path.join(move_to, *file.rel.split("/"))
        if os.path.lexists(target):
            logger.warning("Keeping {}: {} already exists", printable(file.rel), printable(target))
            return 0
        localfs.move(held, target, lambda copy: store.same_content(copy, file.size, found))
        logger.info("Moved local {} to {} (its bytes verified against {})", printable(file.rel),
                    printable(target), printable(action.key))
        return 1
