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
from .tables import local_day
from .text import printable, url_scheme_host


def _guard(cfg: Config, free: int, total: int) -> dict[str, Any]:
    """The disk guard's figures for one volume: what must stay free, and whether it does."""
    parsed = cfg.after_upload.keep_free_parsed
    if parsed is None:
        return {}
    unit, amount = parsed
    need = amount if unit == "bytes" else total * amount / 100
    return {"keep_free": cfg.after_upload.keep_free, "keep_free_bytes": int(need),
            "below_guard": free < need}


def gather(cfg: Config, manifest: Optional[Manifest], now: float) -> dict[str, Any]:
    counts = manifest.state_counts() if manifest else {}
    passes = manifest.passes() if manifest else []
    failing = manifest.failing() if manifest else []
    unverified = manifest.unverified() if manifest else []
    live = sorted(manifest.live_states().values(), key=lambda s: s.rel) if manifest else []

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
            disks.append({"path": w.path, "free_bytes": usage.free, "total_bytes": usage.total,
                          **_guard(cfg, usage.free, usage.total)})
        except OSError as exc:
            disks.append({"path": w.path, "error": exc.strerror or str(exc)})
    return {
        "manifest": cfg.manifest_path.as_posix() if manifest else None,
        "files": {"uploaded": count("uploaded"), "pending": count("pending"),
                  "failing": count("failed"), "unverified": len(unverified)},
        "uploaded_bytes": count("uploaded", "bytes"),
        "backlog": {"files": count("pending") + count("failed"),
                    "bytes": count("pending", "bytes") + count("failed", "bytes"),
                    # a first_seen in the future (a clock that ran fast) counts as now
                    "oldest_age_seconds": max(0.0, now - min(oldest)) if oldest else None},
        "last_pass": last,
        "last_successful_pass": last_ok,
        "disks": disks,
        "today": {"day": local_day(now), "sent_bytes": manifest.bytes_sent_on(local_day(now))
                  if manifest else 0, "daily_budget_bytes": cfg.transfer.budget_bytes},
        "alerts": [{"name": a.name, "opened_at": a.opened_at, "sent_at": a.sent_at, "detail": a.detail}
                   for a in (manifest.alerts().values() if manifest else [])],
        "notify": {"urls": [url_scheme_host(u) for u in cfg.notify.urls],  # never the tokens
                   "heartbeat": url_scheme_host(cfg.notify.heartbeat_url)
                   if cfg.notify.heartbeat_url else None},
        "failing": [{"path": e.rel, "watch_dir": e.root, "key": e.key, "attempts": e.attempts,
                     "last_error": e.last_error,
                     # as the planner reads it: beyond the longest back-off means due now
                     "next_retry_at": due_at(e.next_attempt_at, now, CROSS_PASS_BACKOFF_CAP)}
                    for e in failing],
        "unverified": [{"path": e.rel, "watch_dir": e.root, "key": e.key} for e in unverified],
        "live": [{"path": s.rel, "watch_dir": s.root, "segments": s.segments, "bytes_off_site": s.sent,
                  "last_segment_age_seconds": (now - s.last_at) if s.last_at else None}
                 for s in live],
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
    today = info.get("today") or {"sent_bytes": 0, "daily_budget_bytes": None}
    budget = today["daily_budget_bytes"]
    lines.append(f"sent today        {human_bytes(today['sent_bytes'])}" + (
        f" of a daily budget of {human_bytes(budget)}"
        + (" (spent: only priority files go until midnight)" if today["sent_bytes"] >= budget else "")
        if budget else " (no daily budget)"))
    for d in info["disks"]:
        free = (f"{human_bytes(d['free_bytes'])} free of {human_bytes(d['total_bytes'])}"
                if "free_bytes" in d else f"unreadable: {d['error']}")
        if "keep_free" in d:
            state = "BELOW the guard" if d["below_guard"] else "ok"
            free += f"; keep_free {d['keep_free']} ({human_bytes(d['keep_free_bytes'])}): {state}"
        lines.append(f"disk              {printable(d['path'])}: {free}")
    for a in info.get("alerts", ()):
        lines.append(f"ALERT             {a['detail']} (open {human_age(now - a['opened_at'])})")
    notify = info.get("notify") or {"urls": [], "heartbeat": None}
    targets = notify["urls"] + ([f"heartbeat {notify['heartbeat']}"] if notify["heartbeat"] else [])
    if targets:
        lines.append(f"notify            {', '.join(targets)}")
    for e in info["failing"]:
        retry = "now" if not e["next_retry_at"] else f"in {human_age(e['next_retry_at'] - now)}"
        lines.append(f"FAILING           {printable(e['path'])}: {e['attempts']} failed pass(es), "
                     f"next retry {retry}; last error: {printable(e['last_error'] or '')}")
    if f.get("unverified"):
        lines.append(f"unverified        {f['unverified']} files uploaded (unverified): the bucket "
                     "could not be read to confirm them; kept locally, not sent again")
    for e in info.get("unverified", ()):
        lines.append(f"UNVERIFIED        {printable(e['path'])} -> {printable(e['key'])}")
    for v in info.get("live", ()):
        age = v["last_segment_age_seconds"]
        lines.append(f"LIVE              {printable(v['path'])}: {v['segments']} segment(s), "
                     f"{human_bytes(v['bytes_off_site'])} off-site, last segment "
                     f"{human_age(age) + ' ago' if age is not None else 'never'}")
    for problem in info["cannot_upload"]:  # names already printable: the pass wrote them so
        lines.append(f"CANNOT UPLOAD     {one_line(problem)}")
    out.write("\n".join(lines) + "\n")
