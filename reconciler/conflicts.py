"""What to do when a key holds other content: at planning time from the listing, and after a
conditional write was refused, from what HEAD says.

A conditional write (If-None-Match) that finds its key taken asks `when_taken()` what the
HEAD of that key means; its table:

    HEAD finds nothing                                 -> AGAIN (conditional write again)
    HEAD: same size and checksum (or ETag)             -> ADOPT (our bytes are there)
    HEAD denied (write-only credentials)               -> UNVERIFIED: recorded "uploaded
                                                          (unverified)", kept locally, not resent
    other content, on_conflict skip                    -> SKIP
    other content, on_conflict overwrite               -> OVERWRITE
    other content, keep_both, plain key                -> KEEP_BOTH (the alternative key)
    other content, keep_both, alternative key too      -> FAIL
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from .keys import keep_both_key
from .models import Action, ActionKind, LocalFile, Observation, Reason, RemoteObject


def on_listed_conflict(file: LocalFile, key: str, seen: Observation, remote: Mapping[str, RemoteObject],
                       on_conflict: str) -> Action:
    """The listing shows another object at the file's key: on_conflict decides (keep_both
    adopts our copy at the alternative key if the listing already has it there)."""
    if on_conflict == "overwrite":
        return Action(ActionKind.UPLOAD, Reason.CONFLICT_OVERWRITE, file, key, seen, overwrite=True)
    if on_conflict == "skip":
        return Action(ActionKind.SKIP, Reason.CONFLICT_SKIP, file, key, seen)
    alt = keep_both_key(key, file.size, file.mtime_ns)
    theirs = remote.get(alt)
    if theirs is not None and theirs.size == file.size:
        return Action(ActionKind.ADOPT, Reason.ADOPT_REMOTE, file, alt, seen)
    return Action(ActionKind.UPLOAD, Reason.CONFLICT_KEEP_BOTH, file, alt, seen, detail=key)




class Found(str, Enum):
    """What a HEAD says about a key that a conditional write found taken."""

    NOTHING = "nothing there"  # vacant after all (deleted meanwhile)
    SAME = "our bytes"  # same size, and checksum (or MD5 ETag)
    OTHER = "other content"
    DENIED = "read denied"  # write-only credentials: the store would not say


class Taken(str, Enum):
    AGAIN = "write again, conditionally"
    ADOPT = "already there"
    UNVERIFIED = "uploaded (unverified)"
    SKIP = "skip"
    OVERWRITE = "overwrite"
    KEEP_BOTH = "keep both"
    FAIL = "fail"


def when_taken(found: Found, on_conflict: str, alternative: bool) -> Taken:
    """The rule for a conditional write refused as existing (see the module's second table).

    `alternative`: the key refused was already keep_both's alternative key. A denied HEAD
    is most often our own PUT whose answer was lost and whose retry was refused: the bytes
    are very likely there, yet unconfirmed, so the file is neither resent nor deleted.
    """
    if found is Found.NOTHING:
        return Taken.AGAIN
    if found is Found.SAME:
        return Taken.ADOPT
    if found is Found.DENIED:
        return Taken.UNVERIFIED
    if on_conflict == "skip":
        return Taken.SKIP
    if on_conflict == "overwrite":
        return Taken.OVERWRITE
    return Taken.FAIL if alternative else Taken.KEEP_BOTH
