"""The planner's rows for multipart uploads an earlier run started and did not finish
(the table is settle_multiparts' docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .models import (
    CREATING,
    Action,
    ActionKind,
    MultipartDecision,
    MultipartStep,
    PendingMultipart,
    Reason,
    unchanged,
)
from .snapshot import Policy

# A leftover upload whose unchanged file waits this pass for one of these is kept, for a while.
_WAITING = {Reason.BACKOFF, Reason.SETTLING, Reason.OPEN, Reason.TOO_YOUNG, Reason.LOCKED,
            Reason.BUDGET}
KEEP_WAITING_SECONDS = 7 * 24 * 3600  # older leftovers are aborted even if their file waits


def settle_multiparts(actions: list[Action], pending: Sequence[PendingMultipart], now: float,
                      policy: Policy) -> tuple[list[Action], list[MultipartDecision]]:
    """The rows for multipart uploads an earlier run left (none lingers in the bucket):

        recorded before CreateMultipartUpload answered    -> FIND_UNKNOWN
        its file is uploaded this pass, unchanged, same key and part size -> RESUME (once;
                                                          never with write-only keys: ABORT)
        its unchanged file only waits this pass, younger than 7 days      -> KEEP
        otherwise (gone, changed, uploaded, waited too long)             -> ABORT
    """
    planned = {a.file.id: i for i, a in enumerate(actions) if a.kind is ActionKind.UPLOAD and a.file}
    waiting = {a.file.id: a.file for a in actions
               if a.kind is ActionKind.SKIP and a.file is not None and a.reason in _WAITING}
    out = list(actions)
    steps = []
    for mp in pending:
        step = MultipartStep.ABORT
        fid = (mp.root or "", mp.rel or "")
        i = planned.get(fid)
        if mp.upload_id.startswith(CREATING):
            step = MultipartStep.FIND_UNKNOWN
        elif policy.resume and i is not None and out[i].resume_id is None and out[i].file is not None \
                and mp.resumes(out[i].file, out[i].key, policy.part_size):  # type: ignore[arg-type]
            out[i] = replace(out[i], resume_id=mp.upload_id)
            step = MultipartStep.RESUME
        elif i is None and fid in waiting and unchanged(waiting[fid], mp) \
                and now - mp.started_at < KEEP_WAITING_SECONDS:
            step = MultipartStep.KEEP
        steps.append(MultipartDecision(step, mp))
    return out, steps
