"""Alerts through Apprise and the heartbeat: the sending half (alerts.py decides).

Nothing here may fail a pass or hold it up: every send runs in a worker thread joined
with a deadline, and a failure is one WARNING naming the target by scheme and host only
(Apprise URLs carry bot tokens and passwords in every other part).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Sequence
from typing import Any, Callable, Optional

from loguru import logger

from . import alerts
from .config import Config
from .manifest import Manifest, ManifestError
from .results import PassReport
from .text import printable, url_scheme_host

SEND_SECONDS = 10.0  # the whole of one send, whatever the service does
HEARTBEAT_SECONDS = 5.0

# Apprise logs through the standard logging module; with no handler Python prints its
# warnings raw on stderr. Our own WARNING says which target failed, without its secrets.
logging.getLogger("apprise").addHandler(logging.NullHandler())
logging.getLogger("apprise").propagate = False


class _Said(Exception):
    """A failure whose message is safe to print (no URL in it)."""


def _bounded(work: Callable[[], Any], seconds: float) -> tuple[bool, str]:
    """Run `work` on a daemon thread for at most `seconds`: (it returned truthy, why not)."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["ok"] = bool(work())
        except _Said as exc:
            result["error"] = str(exc)
        except Exception as exc:  # a notifier's bug must not become ours
            result["error"] = f"{type(exc).__name__}"

    t = threading.Thread(target=run, name="notify", daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        return False, f"no answer within {seconds:.0f} s"
    if "error" in result:
        return False, result["error"]
    return result.get("ok", False), "" if result.get("ok") else "the service refused or did not answer"


def send_one(url: str, title: str, body: str) -> tuple[bool, str]:
    """One Apprise message to one URL, bounded in time."""
    import apprise

    def work() -> bool:
        a = apprise.Apprise()
        if not a.add(url):
            raise ValueError("not a URL Apprise knows")
        return bool(a.notify(body=body, title=title))

    ok, why = _bounded(work, SEND_SECONDS)
    if why == "ValueError":
        why = "not a URL Apprise knows (check its scheme)"
    return ok, why


def send_all(urls: Sequence[str], title: str, body: str) -> bool:
    """The message to every URL; True only if every one took it. Each failure: a WARNING."""
    all_ok = True
    for url in urls:
        ok, why = send_one(url, title, body)
        if not ok:
            all_ok = False
            logger.warning("Could not send the notification to {}: {}", url_scheme_host(url), why)
    return all_ok


def post_heartbeat(url: str, summary: dict[str, Any]) -> tuple[bool, str]:
    """POST the summary as JSON; a 2xx answer within HEARTBEAT_SECONDS is success."""
    import urllib.error  # here: http.client and ssl load only when a heartbeat is configured
    import urllib.request

    data = json.dumps(summary, default=str).encode()

    def work() -> bool:
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "camup-sync"})
        try:
            with urllib.request.urlopen(req, timeout=HEARTBEAT_SECONDS) as answer:
                return 200 <= answer.status < 300
        except urllib.error.HTTPError as exc:  # its text would hold the URL: say the code only
            raise _Said(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise _Said(str(getattr(reason, "strerror", None) or type(reason).__name__)) from None

    return _bounded(work, HEARTBEAT_SECONDS + 1)


def summary_of(report: PassReport, open_now: Sequence[str]) -> dict[str, Any]:
    return {"host": socket.gethostname(), "exit_code": report.exit_code,
            "started_at": report.started_at, "finished_at": report.finished_at,
            "found": report.found, "uploaded": report.uploaded,
            "uploaded_bytes": report.uploaded_bytes, "adopted": report.adopted,
            "failed": report.failed, "skipped": report.skipped, "errors": report.errors,
            "fatal": report.fatal, "alerts": list(open_now)}


def rules_of(cfg: Config) -> alerts.Rules:
    n = cfg.notify
    return alerts.Rules(n.failing_passes, n.backlog_alert_minutes * 60, n.repeat_hours * 3600)


def facts_of(cfg: Config, manifest: Manifest, report: PassReport) -> alerts.Facts:
    limit = cfg.notify.failing_passes
    failing = [printable(e.rel) for e in manifest.failing() if e.attempts >= limit]
    run = 0
    for code in manifest.exit_codes(1000):  # the passes table keeps about this many
        if code != 4:
            break
        run += 1
    return alerts.Facts(failing, run, report.fatal or "", manifest.oldest_ready_since(),
                        report.errors if report.watch_dir_missing else (),
                        [printable(root) for root in report.disk_short], report.manifest_moved_aside)


def after_pass(cfg: Config, manifest: Manifest, report: PassReport, now: float,
               ready: Optional[Sequence[tuple[str, str]]] = None) -> None:
    """Alerts (one message at most) and the heartbeat, after a pass that ran. Never raises."""
    try:
        if ready is not None:
            manifest.note_ready(ready, now)
        rules = rules_of(cfg)
        open_now = alerts.open_alerts(facts_of(cfg, manifest, report), rules, now)
        decision = alerts.decide(open_now, manifest.alerts(), now, rules)
        message = decision.message
        sent = True
        if message is not None:
            for line in message[1].splitlines():
                logger.log("INFO" if line.startswith("RECOVERED") else "WARNING", "{}", line)
            if cfg.notify.urls:
                title, body = message
                sent = send_all(cfg.notify.urls, f"{title} on {socket.gethostname()}", body)
        manifest.save_alerts(dict(decision.if_sent if sent else decision.if_failed))
    except Exception as exc:  # the manifest or a notifier: a warning, never a failed pass
        said = str(exc) if isinstance(exc, ManifestError) else type(exc).__name__  # no URL in it
        logger.warning("Notifications skipped this pass: {}", said)
        open_now = {}
    heartbeat(cfg, report, sorted(open_now))


def heartbeat(cfg: Config, report: PassReport, open_now: Sequence[str]) -> None:
    """The dead man's switch: none after exit 2 or 3; the fail URL after exit 4 or an alert."""
    url = cfg.notify.heartbeat_url
    if url is None or report.exit_code in (2, 3):
        return
    if report.exit_code == 4 or open_now:
        url = alerts.fail_url(url, cfg.notify.heartbeat_fail_url)
    ok, why = post_heartbeat(url, summary_of(report, open_now))
    if not ok:
        logger.warning("Could not send the heartbeat to {}: {}", url_scheme_host(url), why)


def test_all(cfg: Config, out: Any) -> int:
    """`camup-sync notify --test`: one message per URL and the heartbeat; 0 all went, 4 not."""
    failed = 0
    for url in cfg.notify.urls:
        ok, why = send_one(url, "camup-sync test", f"A test message from camup-sync on "
                           f"{socket.gethostname()}: notifications work.")
        failed += not ok
        out.write(f"{'PASS' if ok else 'FAIL'}  notify {url_scheme_host(url)}"
                  f"{'' if ok else ': ' + why}\n")
    if cfg.notify.heartbeat_url:
        url = cfg.notify.heartbeat_url
        ok, why = post_heartbeat(url, {"host": socket.gethostname(), "test": True})
        failed += not ok
        out.write(f"{'PASS' if ok else 'FAIL'}  heartbeat {url_scheme_host(url)}"
                  f"{'' if ok else ': ' + why}\n")
    return 4 if failed else 0
