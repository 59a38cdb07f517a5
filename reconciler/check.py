"""`camup-sync check`: a preflight, one PASS/FAIL line per check, nothing left behind."""

from __future__ import annotations

import os
import re
import socket
from typing import IO, Callable, Optional

from .config import Config
from .keys import RESERVED
from .logs import strip_userinfo
from .remote import Bucket
from .s3errors import ErrorKind, RemoteError
from .scan import WatchDirError, check_watch_dir
from .text import printable

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
            self._remote("can write (probe object)", lambda: self._probe(bucket))
            if self.cfg.remote.listing != "never":
                prefix = self.cfg.watch_dirs[0].prefix
                self._remote("can list", lambda: bucket.check_list(prefix))
        return self.code

    def _reach(self, bucket: Bucket) -> Optional[str]:
        try:
            bucket.check_access()
        except RemoteError as exc:
            # Write-only credentials may not HeadBucket; the write probe is the real test.
            if exc.kind is ErrorKind.KEY and self.cfg.remote.listing == "never":
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
