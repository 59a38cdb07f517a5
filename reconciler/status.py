"""`camup-sync status`: what the manifest knows, as a table or as JSON."""

from __future__ import annotations

import json
import shutil
from typing import IO, Any, Optional

from .config import Config
from .logs import one_line
from .manifest import Manifest
from .plan import CROSS_PASS_BACKOFF_CAP, due_at
from .render import human_age, human_bytes
from .text import printable


def gather(cfg: Config, manifest: Optional[Manifest], now: float) -> dict[str, Any]:
    counts = manifest.state_counts() if manifest else {}
    passes = manifest.passes() if manifest else []
    failing = manifest.failing() if manifest else []

    def count(state: str, what: str = "files") -> float:
        return counts.get(state, {}).get(what, 0) or 0

    oldest = [c["oldest_first_seen"] for s, c in counts.items()
              if s != "uploaded" and c["oldest_first_seen"]]
    last = passes[0] if passes else None
    last_ok = next((p for p in passes if p["exit_code"] == 0), None)
    disks = []
    for w in cfg.watch_dirs:
        try:
            usage = shutil.disk_usage(w.path)
            disks.append({"path": w.path, "free_bytes": usage.free, "total_bytes": usage.total})
        except OSError as exc:
            disks.append({"path": w.path, "error": exc.strerror or str(exc)})
    return {
        "manifest": cfg.manifest_path.as_posix() if manifest else None,
        "files": {"uploaded": count("uploaded"), "pending": count("pending"),
                  "failing": count("failed")},
        "uploaded_bytes": count("uploaded", "bytes"),
        "backlog": {"files": count("pending") + count("failed"),
                    "bytes": count("pending", "bytes") + count("failed", "bytes"),
                    # a first_seen in the future (a clock that ran fast) counts as now
                    "oldest_age_seconds": max(0.0, now - min(oldest)) if oldest else None},
        "last_pass": last,
        "last_successful_pass": last_ok,
        "disks": disks,
        "failing": [{"path": e.rel, "watch_dir": e.root, "key": e.key, "attempts": e.attempts,
                     "last_error": e.last_error,
                     # as the planner reads it: beyond the longest back-off means due now
                     "next_retry_at": due_at(e.next_attempt_at, now, CROSS_PASS_BACKOFF_CAP)}
                    for e in failing],
        "cannot_upload": (last or {}).get("report", {}).get("unstorable", []),
    }


def _when(p: Optional[dict[str, Any]], now: float) -> str:
    if not p:
        return "never"
    r = p.get("report") or {}
    took = (p["finished_at"] or p["started_at"]) - p["started_at"]
    return (f"{human_age(now - p['started_at'])} ago, took {took:.1f} s, exit {p['exit_code']}: "
            f"found {r.get('found', 0)}, uploaded {r.get('uploaded', 0)}, failed {r.get('failed', 0)}")


def render(info: dict[str, Any], now: float, out: IO[str], as_json: bool) -> None:
    if as_json:
        json.dump(info, out, indent=2, default=str)
        out.write("\n")
        return
    f, b = info["files"], info["backlog"]
    oldest = b["oldest_age_seconds"]
    lines = [
        f"manifest          {printable(info['manifest'] or 'none yet (no pass has run)')}",
        f"uploaded          {f['uploaded']} files, {human_bytes(info['uploaded_bytes'])}",
        f"waiting           {f['pending']} files (to stabilize or to upload)",
        f"failing           {f['failing']} files",
        f"backlog           {b['files']} files, {human_bytes(b['bytes'])}"
        + (f", oldest waiting {human_age(oldest)}" if oldest is not None else ""),
        f"last pass         {_when(info['last_pass'], now)}",
        f"last good pass    {_when(info['last_successful_pass'], now)}",
    ]
    for d in info["disks"]:
        free = (f"{human_bytes(d['free_bytes'])} free of {human_bytes(d['total_bytes'])}"
                if "free_bytes" in d else f"unreadable: {d['error']}")
        lines.append(f"disk              {printable(d['path'])}: {free}")
    for e in info["failing"]:
        retry = "now" if not e["next_retry_at"] else f"in {human_age(e['next_retry_at'] - now)}"
        lines.append(f"FAILING           {printable(e['path'])}: {e['attempts']} failed pass(es), "
                     f"next retry {retry}; last error: {printable(e['last_error'] or '')}")
    for problem in info["cannot_upload"]:  # names already printable: the pass wrote them so
        lines.append(f"CANNOT UPLOAD     {one_line(problem)}")
    out.write("\n".join(lines) + "\n")
