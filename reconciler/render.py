"""Text for people: the dry-run plan, the pass summary line, sizes and ages."""

from __future__ import annotations

from collections import Counter
from typing import IO

from .config import Config
from .models import ActionKind, Plan, Reason
from .results import PassReport
from .text import printable as _p


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def print_plan(p: Plan, cfg: Config, out: IO[str]) -> None:
    """The --dry-run output: uploads, adoptions, skips with reasons, then a summary.

    Every name goes through text.printable: a file name cannot add a line of its own."""
    bucket = f"s3://{cfg.bucket}/"
    for a in p.uploads:
        assert a.file is not None
        note = f"; keeping both, {_p(a.detail)} holds other content" if a.detail else ""
        out.write(f"upload  {_p(a.file.rel)}  ->  {bucket}{_p(a.key)}  "
                  f"({human_bytes(a.file.size)}, {a.reason.value}{note})\n")
    _print_live(p, cfg, out)
    for a in p.adoptions:
        assert a.file is not None
        out.write(f"adopt   {_p(a.file.rel)}  =  {bucket}{_p(a.key)}  ({a.reason.value})\n")
    unstorable = [a for a in p.skips if a.reason is Reason.BAD_NAME]
    for a in unstorable:  # a failure of the pass, not a wait: said first and louder
        assert a.file is not None
        out.write(f"FAIL    {_p(a.file.rel)}  (cannot be stored in S3: {_p(a.detail)})\n")
    for a in p.skips:
        assert a.file is not None
        if a.reason is not Reason.BAD_NAME:
            detail = f": {_p(a.detail)}" if a.detail and a.reason is not Reason.BUDGET else ""
            out.write(f"skip    {_p(a.file.rel)}  ({a.reason.value}{detail})\n")
    for a in p.local_cleanups:
        assert a.file is not None
        where = f" to {_p(cfg.after_upload.move_to or '')}" if a.kind is ActionKind.MOVE else ""
        why = (f"disk guard: frees {human_bytes(a.file.size)}, keep_free {cfg.after_upload.keep_free}"
               if a.reason is Reason.DISK_GUARD else "after_upload")
        out.write(f"{a.kind.value:<7} {_p(a.file.rel)}{where}  ({why}; only once "
                  f"{bucket}{_p(a.key)} is verified)\n")
    for root in p.disk_short:
        out.write(f"disk    {_p(root)}: below after_upload.keep_free even after freeing every "
                  "verified upload\n")
    for a in p.actions:
        if a.kind is ActionKind.FORGET:
            out.write(f"forget  {_p(a.row[1])}  ({a.reason.value})\n")
    reasons = Counter(a.reason.value for a in p.skips if a.reason is not Reason.BAD_NAME)
    skipped = ", ".join(f"{r}: {n}" for r, n in sorted(reasons.items()))
    total = sum(a.file.size for a in p.uploads if a.file)
    live = f"{len(p.segments)} live segment(s), " if p.segments else ""
    failing = f", {len(unstorable)} cannot be stored (a failed pass)" if unstorable else ""
    out.write(f"dry run: {len(p.uploads)} to upload ({human_bytes(total)}), {live}"
              f"{len(p.adoptions)} already in the bucket, {len(p.skips) - len(unstorable)} skipped"
              f"{' (' + skipped + ')' if skipped else ''}{failing}; nothing was changed.\n")
    out.flush()


def _print_live(p: Plan, cfg: Config, out: IO[str]) -> None:
    """Segments of recordings still being written, and segments to drop."""
    for a in p.segments:
        assert a.file is not None
        start, end = a.span
        restart = "; restarting from 0, its old segments deleted first" if a.drop else ""
        out.write(f"live segment  {_p(a.file.rel)}  ->  s3://{cfg.bucket}/{_p(a.key)}  "
                  f"(bytes {start}-{end}, {human_bytes(end - start)}; still {a.detail}{restart})\n")
    for a in p.actions:
        if a.kind is ActionKind.CLEANUP and a.file is not None and a.drop is not None:
            out.write(f"drop segments  {_p(a.file.rel)}  ({a.drop.segments} live segment(s); "
                      f"{a.reason.value})\n")


def summary_line(report: PassReport) -> str:
    skipped = ", ".join(f"{r} {n}" for r, n in sorted(report.skipped.items())) or "none"
    duration = max(0.0, report.finished_at - report.started_at)
    live = (f", {report.segments} live segment(s) ({human_bytes(report.segment_bytes)})"
            if report.segments else "")
    return (f"Pass done in {duration:.1f} s: found {report.found}, uploaded {report.uploaded} "
            f"({human_bytes(report.uploaded_bytes)}){live}, adopted {report.adopted}, failed "
            f"{report.failed}, skipped: {skipped}")
