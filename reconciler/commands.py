"""The commands beside the pass: status, check, verify, recover and notify --test. None
takes the lock: they run beside a running instance. Each returns its exit code."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Optional

from loguru import logger

from . import logs
from .config import Config, ConfigError
from .manifest import Manifest

if TYPE_CHECKING:
    from .remote import Bucket

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_REMOTE = 0, 1, 2, 3, 4


def fail(code: int, message: str) -> int:
    logs.setup_plain()
    logger.error("{}", message)
    return code


def open_bucket(cfg: Config) -> Bucket:
    """The bucket and its client. botocore resolves credentials while it builds the client, so
    a credential setup that fails (credential_process, SSO, a broken profile) fails here: it
    becomes a RemoteError (the bucket is unusable: exit 4, one sentence), not a traceback."""
    from .remote import Bucket
    from .s3client import make_client
    from .s3errors import classify_error

    try:
        client = make_client(cfg)
    except ConfigError:
        raise
    except Exception as exc:
        raise classify_error(exc, cfg.bucket) from exc  # re-raises what is not an S3 matter
    return Bucket.for_uploads(client, cfg)


def status(cfg: Config, as_json: bool) -> int:
    from .passes import target_of
    from .status import gather, render

    manifest = Manifest.open_readonly(cfg.manifest_path, target_of(cfg))
    try:
        render(gather(cfg, manifest, time.time()), time.time(), sys.stdout, as_json)
    finally:
        if manifest:
            manifest.close()
    return EXIT_OK


def check(cfg: Config) -> int:
    from .check import Preflight

    return Preflight(cfg, lambda: open_bucket(cfg), sys.stdout).run()


def recover(cfg: Config, operands: list[str]) -> int:
    """Exit 0 written, 1 nothing there, 4 the store cannot be read; no manifest, no lock."""
    from .recover import recover
    from .s3errors import RemoteError
    from .text import printable

    key, out = operands
    url = f"s3://{cfg.bucket}/{printable(key)}"
    try:
        found = recover(open_bucket(cfg), key, [w.prefix for w in cfg.watch_dirs], out)
    except RemoteError as exc:
        return fail(EXIT_REMOTE, f"cannot read {url}: {exc}")
    if found is None:
        print(f"nothing to recover: {url} is not in the bucket and has no live segments")
        return EXIT_FAILED
    source = f"{found.segments} live segment(s)" if found.segments else "the object"
    print(f"wrote {found.size} bytes from {source} of {url} to {printable(out)}")
    return EXIT_OK


def verify(cfg: Config, since: Optional[str], deep: bool, as_json: bool) -> int:
    import json

    from tqdm import tqdm

    from .passes import target_of
    from .s3errors import RemoteError
    from .verify import EXIT_OK as ALL_HOLD
    from .verify import EXIT_PROBLEM, Unreadable, run

    start = since_date(since)
    manifest = Manifest.open_readonly(cfg.manifest_path, target_of(cfg))
    if manifest is None:
        return fail(EXIT_FAILED, f"no manifest for s3://{cfg.bucket} at {cfg.manifest_path}: "
                     "nothing was recorded to verify; run a pass first.")
    try:
        bar = (lambda total: tqdm(total=total, unit="obj", file=sys.stderr, leave=False)) \
            if sys.stderr.isatty() else (lambda total: None)
        audit = run(manifest, open_bucket(cfg), start, deep, bar)
    except (Unreadable, RemoteError) as exc:
        return fail(EXIT_REMOTE, str(exc))
    finally:
        manifest.close()
    if as_json:
        json.dump(audit.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for problem in audit.problems:
            sys.stdout.write(problem.line() + "\n")
        sys.stdout.write(audit.summary() + "\n")
    return EXIT_PROBLEM if audit.problems else ALL_HOLD


def since_date(text: Optional[str]) -> float:
    """--since DATE (YYYY-MM-DD or an ISO date and time; local time unless it says) -> epoch."""
    if not text:
        return 0.0
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ConfigError(f"--since {text!r} is not a date: write it as YYYY-MM-DD.") from None


def notify(cfg: Config, test: bool) -> int:
    from .notify import test_all

    if not test:
        raise ConfigError("notify needs --test: camup-sync notify --test sends one test message "
                          "to every notify.urls target and the heartbeat.")
    if not cfg.notify.urls and not cfg.notify.heartbeat_url:
        raise ConfigError("notify --test has nothing to test: set notify.urls or "
                          "notify.heartbeat_url in the config.")
    return test_all(cfg, sys.stdout)
