"""`camup-sync check`: a preflight, one PASS/FAIL line per check, nothing left behind."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import socket
from typing import IO, Callable, Optional

from .config import Config
from .keys import RESERVED
from .ledger import host_part
from .logs import strip_userinfo
from .remote import Bucket
from .s3errors import ErrorKind, RemoteError, is_denied
from .scan import WatchDirError, check_watch_dir
from .text import printable

LOCK = "object lock enforced"
PROBE_MODE, PROBE_DAYS = "GOVERNANCE", 1  # the shortest retention every lock store accepts

EXIT_OK, EXIT_CONFIG, EXIT_REMOTE = 0, 2, 4


class Preflight:
    def __init__(self, cfg: Config, bucket: Callable[[], Bucket], out: IO[str]):
        self.cfg, self._bucket, self.out = cfg, bucket, out
        self.code = EXIT_OK

    def line(self, ok: bool, what: str, detail: str = "", fail_code: int = EXIT_REMOTE) -> bool:
        text = strip_userinfo(f"{what}{': ' + detail if detail else ''}")
        self.out.write(f"{'PASS' if ok else 'FAIL'}  {printable(text)}\n")
        self.out.flush()
        if not ok and self.code == EXIT_OK:
            self.code = fail_code
        return ok

    def run(self) -> int:
        self.line(True, "config valid", self.cfg.source)
        for w in self.cfg.watch_dirs:
            try:
                check_watch_dir(w)
                self.line(True, f"watch dir readable {w.path}")
            except WatchDirError as exc:
                self.line(False, f"watch dir readable {w.path}", str(exc), EXIT_CONFIG)
        state = self.cfg.state_dir
        writable = _dir_writable(state)
        self.line(writable is None, f"state dir writable {state}", writable or "", EXIT_CONFIG)
        try:
            bucket = self._bucket()
        except RemoteError as exc:
            self.line(False, "S3 client", str(exc))
            return self.code
        if self._remote("bucket reachable", lambda: self._reach(bucket)):
            if self._remote("can write (probe object)", lambda: self._probe(bucket)):
                self._native_line(bucket)
            if self.cfg.remote.listing != "never":
                prefix = self.cfg.watch_dirs[0].prefix
                self._remote("can list", lambda: bucket.check_list(prefix))
            else:
                self.skipped("can read and list", "not tested: remote.listing is never (write-only "
                             "credentials); uploads cannot be confirmed by HEAD, so after_upload "
                             "and the disk guard keep every file, and interrupted multipart "
                             "uploads are restarted, not resumed")
            if self.cfg.remote.object_lock is not None:
                self._lock_line(bucket)
        return self.code

    def skipped(self, what: str, detail: str) -> None:
        self.out.write(f"SKIP  {what}: {detail}\n")
        self.out.flush()

    def _lock_line(self, bucket: Bucket) -> None:
        """PASS only when the store refuses to delete a locked probe version (no bypass)."""
        try:
            enabled: Optional[bool] = bucket.lock_configuration() is not None
        except RemoteError as exc:
            if not is_denied(exc):
                self.line(False, LOCK, f"cannot read the bucket's Object Lock configuration: {exc}")
                return
            enabled = None  # write-only credentials: the probe still tells
        if enabled is False:
            self.line(False, LOCK, "the bucket does not have Object Lock enabled: create the bucket "
                      "with Object Lock (most stores allow it only at creation), or set "
                      "remote.object_lock: null")
            return
        key = lock_probe_key(self.cfg.watch_dirs[0].prefix, socket.gethostname())
        try:
            version = _probe_version(bucket, key)
        except RemoteError as exc:
            self.line(False, LOCK, f"a probe with a {PROBE_DAYS}-day {PROBE_MODE} retention could "
                      f"not be written to {key}: {exc}")
            return
        if version is None:
            self.line(False, LOCK, "the store gave the locked probe no version id: Object Lock "
                      "needs a versioned, lock-enabled bucket")
            return
        try:
            bucket.delete_version(key, version)
        except RemoteError as exc:
            if exc.kind is ErrorKind.FATAL:
                self.line(False, LOCK, str(exc))
                return
            detail = (f"deleting the locked probe version was refused; the probe {key} stays "
                      f"until its {PROBE_DAYS}-day retention ends (one per host and day at most)")
            if enabled is None:
                detail += ("; these credentials may not read the lock setting, so the refusal may "
                           "be theirs rather than the lock's: run check once with full credentials")
            self.line(True, LOCK, detail)
            return
        self.line(False, LOCK, "the store accepts lock headers but deletes anyway: it deleted the "
                  "locked probe version without a bypass; Object Lock is not enforced by this store")

    def _native_line(self, bucket: Bucket) -> None:
        """The same probe through the path small uploads take (native.py)."""
        key = probe_key(self.cfg.watch_dirs[0].prefix, socket.gethostname())
        try:
            detail = bucket.put_probe_native(key)
        except RemoteError as exc:
            self.line(False, "can write through the native client", f"{exc}; if botocore's write "
                      "above passed, set transfer.native_client: off")
            return
        if detail is None:
            self.skipped("native client", "not used (transfer.native_client: off, awscrt not "
                         "installed, or a proxy set): botocore sends every upload")
            return
        with contextlib.suppress(RemoteError):  # as the probe above: overwritten next time
            bucket.delete(key)
        self.line(True, "can write through the native client", detail)

    def _reach(self, bucket: Bucket) -> Optional[str]:
        try:
            bucket.check_access()
        except RemoteError as exc:
            # Write-only credentials may not HeadBucket; the write probe is the real test.
            if exc.kind is ErrorKind.THIS_FILE and self.cfg.remote.listing == "never":
                return "HeadBucket not permitted, fine for write-only credentials"
            raise
        return None

    def _remote(self, what: str, fn: Callable[[], Optional[str]]) -> bool:
        try:
            detail = fn()
        except RemoteError as exc:
            return self.line(False, what, str(exc))
        return self.line(True, what, detail or "")

    def _probe(self, bucket: Bucket) -> Optional[str]:
        key = probe_key(self.cfg.watch_dirs[0].prefix, socket.gethostname())
        bucket.put_probe(key)
        try:
            bucket.delete(key)
        except RemoteError:
            return (f"written, but could not remove {key} (no s3:DeleteObject); it stays, and "
                    "every later check overwrites this one object")
        return f"{key} written and removed"


def probe_key(prefix: str, host: str) -> str:
    """One fixed key per host in the tool's own space: checks overwrite it, never pile up."""
    return f"{prefix}{RESERVED}check/{re.sub(r'[^A-Za-z0-9._-]', '_', host) or 'host'}"


def lock_probe_key(prefix: str, host: str) -> str:
    """One fixed key per host: a still-locked probe is reused, so they never pile up."""
    return f"{prefix}{RESERVED}lock-probe/{host_part(host)}"  # beside check/{host}, not under it


def _probe_version(bucket: Bucket, key: str) -> Optional[str]:
    """The version id of a locked probe: the one still under retention, else a new one."""
    try:
        found = bucket.head_lock(key)
    except RemoteError as exc:
        if not is_denied(exc):
            raise
        found = None  # write-only credentials: write a new probe
    if found is not None:
        mode, until, version = found
        if mode and until is not None and version and until > dt.datetime.now(dt.timezone.utc):
            return version
    return bucket.put_locked_probe(key, PROBE_MODE, PROBE_DAYS)


def _dir_writable(path: str) -> Optional[str]:
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with open(probe, "w", encoding="utf-8") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        return f"{exc.strerror or exc}: set state_dir to a writable local folder"
    return None
