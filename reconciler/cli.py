"""The command line: argparse, commands, exit codes. A thin shell over the library."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from loguru import logger

from . import __version__, logs
from .config import Config, ConfigError, check_bounds, field_bounds, load
from .lock import AlreadyRunning, InstanceLock
from .manifest import Manifest, ManifestError

if TYPE_CHECKING:
    from .remote import Bucket

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_REMOTE = 0, 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"camup-sync: {message}; see camup-sync --help.\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="camup-sync", description="Copy finished camera recordings to an S3 bucket.")
    p.add_argument("command", nargs="?", choices=("run", "status", "check", "recover", "verify", "notify"),
                   default="run",
                   help="run (default): sync; status: what the manifest knows; check: preflight; "
                        "recover KEY OUT: write what the bucket holds of one recording to OUT; "
                        "verify: audit the bucket against the manifest and the ledger; "
                        "notify --test: send a test message to every notify target")
    p.add_argument("operands", nargs="*", metavar="KEY OUT",
                   help="for recover: the object key, the output file")
    p.add_argument("--config", type=Path, help="config file (default: $CAMUP_CONFIG or ./config.yaml)")
    p.add_argument("--once", action="store_true", help="one pass, then exit (Task Scheduler, cron)")
    p.add_argument("--dry-run", action="store_true", help="print what one pass would do; change nothing")
    p.add_argument("--full", action="store_true",
                   help="stat every file this pass (no unchanged folder is skipped)")
    p.add_argument("--json", action="store_true", help="status or verify as JSON")
    p.add_argument("--since", metavar="DATE", help="verify: only uploads since DATE (YYYY-MM-DD, local time)")
    p.add_argument("--deep", action="store_true", help="verify: download and hash every object")
    p.add_argument("--test", action="store_true", help="with notify: send one test message")
    p.add_argument("--log-level", type=str.upper,
                   choices=("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"))
    p.add_argument("--interval", type=float, help="seconds between passes (overrides the config)")
    p.add_argument("--version", action="version", version=f"camup-sync {__version__}")
    return p


def _fail(code: int, message: str) -> int:
    logs.setup_plain()
    logger.error("{}", message)
    return code


def _unexpected(exc: Exception, level: Optional[str], logs_ready: bool) -> int:
    """The last resort: one sentence at ERROR, the traceback only at DEBUG (exit 1)."""
    if not logs_ready:
        logs.setup_plain(level or "INFO")
    logger.error("unexpected error: {}: {}; this is a bug, please report it with the log at "
                 "--log-level DEBUG", type(exc).__name__, " ".join(str(exc).split()))
    logger.opt(exception=exc).debug("Traceback of the unexpected error:")
    return EXIT_FAILED


def _install_stop_handlers(stop: threading.Event) -> None:
    # loguru is not re-entrant: a signal that lands while the main thread is inside a log
    # call must not log itself (loguru would print a traceback), so a thread says it.
    requested = threading.Event()

    def announce() -> None:
        requested.wait()
        logger.info("Stop requested; finishing cleanly (uploads in flight are abandoned safely)")

    threading.Thread(target=announce, name="stop-announcer", daemon=True).start()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            return
        requested.set()
        stop.set()

    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):  # SIGBREAK: Ctrl+Break / service stop on Windows
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, handler)


def _run(cfg: Config, once: bool, dry_run: bool, full: bool = False) -> int:
    from .loop import run_forever
    from .passes import World, run_pass

    world = World(bucket=open_bucket)
    _install_stop_handlers(world.stop)
    if once:
        try:
            _require_a_watch_dir(cfg)
        except ConfigError as exc:
            if not dry_run:  # still worth an alert: a share that dropped is what it is for
                _alert_watch_dir_missing(cfg, str(exc))
            raise
    if dry_run:
        return run_pass(cfg, world, dry_run=True).exit_code
    with InstanceLock(cfg.state_dir):
        if once:
            return run_pass(cfg, world, full=full).exit_code
        logger.info("camup-sync {} watching {} -> s3://{}/ every {} s (Ctrl+C to stop)", __version__,
                    ", ".join(w.path for w in cfg.watch_dirs), cfg.bucket, cfg.interval_seconds)
        run_forever(lambda: run_pass(cfg, world, full=full), cfg.interval_seconds, world.stop)
        logger.info("Stopped")
        return EXIT_OK


def _alert_watch_dir_missing(cfg: Config, problem: str) -> None:
    """A --once run that cannot start still opens (or keeps) the watch-dir alert; no heartbeat
    (exit 2), so the monitor notices the silence too."""
    from .models import PassReport
    from .notify import after_pass
    from .passes import target_of

    if not cfg.notify.urls or not cfg.manifest_path.exists():
        return  # nobody to tell, or never ran here: a config error writes nothing
    now = time.time()
    try:
        with InstanceLock(cfg.state_dir):
            manifest = Manifest.open(cfg.manifest_path, target_of(cfg))
            try:
                report = PassReport(started_at=now, finished_at=now, errors=[problem],
                                    watch_dir_missing=True)
                after_pass(cfg, manifest, report, now)
            finally:
                manifest.close()
    except (AlreadyRunning, ManifestError, OSError) as exc:
        logger.debug("No alert for the missing watch dir: {}", exc)


def _notify(cfg: Config, test: bool) -> int:
    from .notify import test_all

    if not test:
        raise ConfigError("notify needs --test: camup-sync notify --test sends one test message "
                          "to every notify.urls target and the heartbeat.")
    if not cfg.notify.urls and not cfg.notify.heartbeat_url:
        raise ConfigError("notify --test has nothing to test: set notify.urls or "
                          "notify.heartbeat_url in the config.")
    return test_all(cfg, sys.stdout)


def open_bucket(cfg: Config) -> Bucket:
    """The bucket and its client. botocore resolves credentials while it builds the client, so
    a credential setup that fails (credential_process, SSO, a broken profile) fails here: it
    becomes a RemoteError (the bucket is unusable: exit 4, one sentence), not a traceback."""
    from .remote import Bucket, make_client
    from .s3errors import classify_error

    try:
        client = make_client(cfg)
    except ConfigError:
        raise
    except Exception as exc:
        raise classify_error(exc, cfg.bucket) from exc  # re-raises what is not an S3 matter
    return Bucket.from_config(client, cfg)


def _require_a_watch_dir(cfg: Config) -> None:
    """A one-shot run with no readable watch dir is a start-up error (exit 2), not a pass.

    The continuous mode keeps going instead: a share that is not mounted yet may come back.
    """
    from .scan import WatchDirError, check_watch_dir

    problems = []
    for w in cfg.watch_dirs:
        try:
            check_watch_dir(w)
        except WatchDirError as exc:
            problems.append(str(exc))
    if len(problems) == len(cfg.watch_dirs):
        raise ConfigError(problems[0])


def _status(cfg: Config, as_json: bool) -> int:
    from .passes import target_of
    from .status import gather, render

    manifest = Manifest.open_readonly(cfg.manifest_path, target_of(cfg))
    try:
        render(gather(cfg, manifest, time.time()), time.time(), sys.stdout, as_json)
    finally:
        if manifest:
            manifest.close()
    return EXIT_OK


def _check(cfg: Config) -> int:
    from .check import Preflight

    return Preflight(cfg, lambda: open_bucket(cfg), sys.stdout).run()


def _recover(cfg: Config, operands: list[str]) -> int:
    """Exit 0 written, 1 nothing there, 4 the store cannot be read; no manifest, no lock."""
    from .recover import recover
    from .s3errors import RemoteError
    from .text import printable

    key, out = operands
    url = f"s3://{cfg.bucket}/{printable(key)}"
    try:
        found = recover(open_bucket(cfg), key, [w.prefix for w in cfg.watch_dirs], out)
    except RemoteError as exc:
        return _fail(EXIT_REMOTE, f"cannot read {url}: {exc}")
    if found is None:
        print(f"nothing to recover: {url} is not in the bucket and has no live segments")
        return EXIT_FAILED
    source = f"{found.segments} live segment(s)" if found.segments else "the object"
    print(f"wrote {found.size} bytes from {source} of {url} to {printable(out)}")
    return EXIT_OK
def _verify(cfg: Config, since: Optional[str], deep: bool, as_json: bool) -> int:
    import json

    from tqdm import tqdm

    from .passes import target_of
    from .s3errors import RemoteError
    from .verify import EXIT_OK as ALL_HOLD
    from .verify import EXIT_PROBLEM, Unreadable, run

    start = _since(since)
    manifest = Manifest.open_readonly(cfg.manifest_path, target_of(cfg))
    if manifest is None:
        return _fail(EXIT_FAILED, f"no manifest for s3://{cfg.bucket} at {cfg.manifest_path}: "
                     "nothing was recorded to verify; run a pass first.")
    try:
        bar = (lambda total: tqdm(total=total, unit="obj", file=sys.stderr, leave=False)) \
            if sys.stderr.isatty() else (lambda total: None)
        audit = run(manifest, open_bucket(cfg), start, deep, bar)
    except (Unreadable, RemoteError) as exc:
        return _fail(EXIT_REMOTE, str(exc))
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


def _since(text: Optional[str]) -> float:
    """--since DATE (YYYY-MM-DD or an ISO date and time; local time unless it says) -> epoch."""
    if not text:
        return 0.0
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ConfigError(f"--since {text!r} is not a date: write it as YYYY-MM-DD.") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    wanted = 2 if args.command == "recover" else 0
    if len(args.operands) != wanted:
        what = "recover needs KEY and OUT" if wanted else f"unexpected argument {args.operands[0]!r}"
        return _fail(EXIT_USAGE, f"camup-sync: {what}; see camup-sync --help.")
    logs_ready = False
    try:
        cfg = load(args.config)
        if args.interval is not None:
            check_bounds("--interval", args.interval, field_bounds(Config, "interval_seconds"))
            from dataclasses import replace

            cfg = replace(cfg, interval_seconds=args.interval)
        log = cfg.logging
        logs.setup(args.log_level or log.level, log.file, log.rotation, log.retention, log.json)
        logs_ready = True
        commands: dict[str, Callable[[], int]] = {
            "status": lambda: _status(cfg, args.json),
            "check": lambda: _check(cfg),
            "verify": lambda: _verify(cfg, args.since, args.deep, args.json),
            "recover": lambda: _recover(cfg, args.operands),
            "notify": lambda: _notify(cfg, args.test),
            "run": lambda: _run(cfg, args.once or args.dry_run, args.dry_run, args.full),
        }
        return commands[args.command]()
    except ConfigError as exc:
        if args.command == "check":  # the preflight's own first line says it too
            print(f"FAIL  config valid: {exc}", flush=True)
        return _fail(EXIT_USAGE, f"Configuration error: {exc}")
    except AlreadyRunning as exc:
        return _fail(EXIT_LOCKED, str(exc))
    except ManifestError as exc:
        return _fail(EXIT_FAILED, str(exc))
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl+C before the handlers; `| head`
        return EXIT_OK
    except OSError as exc:
        return _fail(EXIT_FAILED, f"{exc}; check the paths and permissions named here.")
    except Exception as exc:  # a bug: one sentence, never a bare traceback (DESIGN.md section 1)
        return _unexpected(exc, args.log_level, logs_ready)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
