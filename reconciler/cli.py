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

from . import __version__, commands, logs
from .commands import fail as _fail
from .commands import open_bucket
from .config import Config, ConfigError, check_bounds, field_bounds, load
from .lock import AlreadyRunning, InstanceLock
from .manifest import Manifest, ManifestError

if TYPE_CHECKING:
    pass

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
    from .notify import after_pass
    from .passes import target_of
    from .results import PassReport

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
        by_name: dict[str, Callable[[], int]] = {
            "status": lambda: commands.status(cfg, args.json),
            "check": lambda: commands.check(cfg),
            "verify": lambda: commands.verify(cfg, args.since, args.deep, args.json),
            "recover": lambda: commands.recover(cfg, args.operands),
            "notify": lambda: commands.notify(cfg, args.test),
            "run": lambda: _run(cfg, args.once or args.dry_run, args.dry_run, args.full),
        }
        return by_name[args.command]()
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
