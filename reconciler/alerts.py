"""Which alerts are open, and what (if anything) to tell people about them this pass.

Pure: the pass's facts, the alert state the manifest kept and `now` in; the alerts open
now, at most one message and the state to keep out. The rules:

    an alert is open now, and was not (or its opening message never went out) -> opened
    open, last sent at least repeat_hours ago                                 -> repeated
    was open, is not now                                                       -> recovered
    all of those go out together, in ONE message; none of them: no message
    the message could not be sent: nothing is marked sent, so the next pass tries again
    "manifest moved aside" is an event: it is told once and then dropped, never "recovered"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit, urlunsplit

from .models import AlertState

FAILING_FILES, BUCKET, BACKLOG, WATCH_DIR, DISK, MANIFEST = (
    "failing_files", "bucket", "backlog", "watch_dir", "disk", "manifest")
EVENTS = {MANIFEST}  # told when it happens; nothing to recover from
_LISTED = 10  # file names in one message, at most


@dataclass(frozen=True)
class Facts:
    """What the pass and the manifest know, gathered by the shell (notify.py)."""

    failing_files: Sequence[str] = ()  # files failing failing_passes passes in a row
    bucket_failed_passes: int = 0  # passes in a row (this one included) that exited 4
    bucket_error: str = ""
    oldest_ready_since: Optional[float] = None  # first seen ready, of the longest waiting file
    watch_dir_errors: Sequence[str] = ()
    disk_short: Sequence[str] = ()  # watch dirs below keep_free with nothing verified to free
    manifest_moved_aside: Optional[str] = None


@dataclass(frozen=True)
class Rules:
    failing_passes: int = 3
    backlog_seconds: float = 3600.0
    repeat_seconds: float = 12 * 3600.0


@dataclass(frozen=True)
class Decision:
    open_now: Mapping[str, str]  # name -> one-line detail
    opened: Sequence[str]
    repeated: Sequence[str]
    recovered: Sequence[str]
    if_sent: Mapping[str, AlertState]  # the state to keep once the message went out
    if_failed: Mapping[str, AlertState]  # ... or when it could not be sent

    @property
    def message(self) -> Optional[tuple[str, str]]:
        """(title, body), or None when there is nothing to tell this pass."""
        if not (self.opened or self.repeated or self.recovered):
            return None
        lines = [f"ALERT: {self.open_now[n]}" for n in self.opened]
        lines += [f"STILL: {self.open_now[n]}" for n in self.repeated]
        lines += [f"RECOVERED: {_TITLES[n]} recovered" for n in self.recovered]
        if self.opened or self.repeated:
            title = f"camup-sync: {len(self.open_now)} alert(s) open"
        else:
            title = "camup-sync: recovered"
        return title, "\n".join(lines)


_TITLES = {FAILING_FILES: "failing uploads", BUCKET: "the bucket", BACKLOG: "the upload backlog",
           WATCH_DIR: "the watch dir", DISK: "the disk guard", MANIFEST: "the manifest"}


def _names(files: Sequence[str]) -> str:
    shown = ", ".join(files[:_LISTED])
    return shown + (f" and {len(files) - _LISTED} more" if len(files) > _LISTED else "")


def open_alerts(facts: Facts, rules: Rules, now: float) -> dict[str, str]:
    """name -> a one-line description of every alert open after this pass."""
    out: dict[str, str] = {}
    if facts.failing_files:
        out[FAILING_FILES] = (f"{len(facts.failing_files)} file(s) failed {rules.failing_passes} or "
                              f"more passes in a row: {_names(facts.failing_files)}")
    if facts.bucket_failed_passes >= rules.failing_passes:
        out[BUCKET] = (f"the bucket has been unusable for {facts.bucket_failed_passes} passes: "
                       f"{facts.bucket_error}")
    if facts.oldest_ready_since is not None and now - facts.oldest_ready_since >= rules.backlog_seconds:
        minutes = (now - facts.oldest_ready_since) / 60
        out[BACKLOG] = f"a file has been ready but not uploaded for {minutes:.0f} minutes"
    if facts.watch_dir_errors:
        out[WATCH_DIR] = "watch dir missing or unreadable: " + "; ".join(facts.watch_dir_errors)
    if facts.disk_short:
        out[DISK] = ("free space is below after_upload.keep_free and no verified upload is left "
                     "to free, on the volume of " + ", ".join(facts.disk_short))
    if facts.manifest_moved_aside:
        out[MANIFEST] = (f"the manifest was moved aside ({facts.manifest_moved_aside}) and is "
                         "rebuilt from the bucket listing")
    return out


def decide(open_now: Mapping[str, str], previous: Mapping[str, AlertState], now: float,
           rules: Rules) -> Decision:
    """What to tell, and the state to keep either way."""
    opened = [n for n in sorted(open_now) if n not in previous or previous[n].sent_at is None]
    repeated = [n for n in sorted(open_now) if n not in opened and n not in EVENTS
                and now - (previous[n].sent_at or 0.0) >= rules.repeat_seconds]
    recovered = [n for n in sorted(previous) if n not in open_now and n not in EVENTS
                 and previous[n].sent_at is not None]
    told = set(opened) | set(repeated)
    if_sent = {}
    if_failed = {}
    for n, detail in open_now.items():
        before = previous.get(n)
        opened_at = before.opened_at if before else now
        if_sent[n] = AlertState(n, opened_at, now if n in told else before.sent_at if before else now,
                                detail)
        if_failed[n] = AlertState(n, opened_at, before.sent_at if before else None, detail)
    for n in recovered:  # unsent recoveries are told again next pass
        if_failed[n] = previous[n]
    return Decision(dict(open_now), opened, repeated, recovered, if_sent, if_failed)


def fail_url(heartbeat_url: str, heartbeat_fail_url: Optional[str] = None) -> str:
    """Where a failed pass reports: the configured URL, else "/fail" added to the heartbeat
    URL's path, before any query string (the healthchecks.io convention)."""
    if heartbeat_fail_url:
        return heartbeat_fail_url
    parts = urlsplit(heartbeat_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/fail", parts.query,
                       parts.fragment))
