"""The only place that configures loguru's sinks. Secrets never reach any sink."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import uuid
from typing import Any, Optional

from loguru import logger

CONSOLE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss} | {level: <7} | {message}"
_SIGNED_QUERY = re.compile(
    r"(X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId|x-amz-security-token)"
    r"=[^&\s\"']+", re.IGNORECASE)
_SECRET_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
# What could end a log line early or rewrite it: a message is always one line. (Names are
# also escaped where they are formatted, with text.printable; this is the net under that.)
_LINE_BREAKERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
FILE_MODE = 0o600  # log files: only their owner reads them (POSIX)


_USERINFO = re.compile(r"(?<=://)[^/\s\"'<>]*@")  # user:password@ of any URL in a text


def strip_userinfo(text: str) -> str:
    """`text` with the user:password@ of every URL in it removed (an endpoint_url may carry
    them; botocore repeats the URL in its errors)."""
    return _USERINFO.sub("", text)


def one_line(text: str) -> str:
    return _LINE_BREAKERS.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100
                              else f"\\u{ord(m.group(0)):04x}", text)


def private_opener(path: str, flags: int) -> int:
    """open()'s opener for files only their owner may read: 0600 whatever the umask (POSIX)."""
    fd = os.open(path, flags, FILE_MODE)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, FILE_MODE)
    return fd


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Hide secret values and presigned-URL signatures in a log message."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "****")
    return _SIGNED_QUERY.sub(lambda m: f"{m.group(1)}=****", text)


def _patcher(secrets: tuple[str, ...]) -> Any:
    def patch(record: Any) -> None:
        record["message"] = one_line(strip_userinfo(redact(record["message"], secrets)))
        if record["exception"] is not None:
            record["exception"] = _scrubbed(record["exception"], secrets)
            record["extra"]["redacted"] = True
    return patch


def _scrubbed(exc: Any, secrets: tuple[str, ...]) -> Any:
    """The exception as logged, its text redacted (a stand-in of the same name when needed)."""
    text = str(exc.value)
    clean = strip_userinfo(redact(text, secrets))
    if clean == text:
        return exc
    stand_in = type(exc.type.__name__, (Exception,), {"__module__": exc.type.__module__})(clean)
    return exc._replace(type=type(stand_in), value=stand_in)


def live_console() -> bool:
    """A person is watching: show a live progress bar instead of periodic lines."""
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def file_options_problem(rotation: str, retention: str) -> Optional[str]:
    """None when loguru accepts logging.rotation and logging.retention, else the sentence.

    Asks loguru itself: a file sink is added and removed at once, with delay=True so nothing
    is opened, at a path in a folder that does not exist (retention, run on removal, globs
    there and finds nothing to delete).
    """
    path = os.path.join(tempfile.gettempdir(), f"camup-{uuid.uuid4().hex}", "check.log")
    examples = {"rotation": '"10 MB", "1 week" or "00:00"', "retention": '"14 days" or "1 month"'}
    for key, value in (("rotation", rotation), ("retention", retention)):
        try:
            handler = logger.add(path, delay=True, **{key: value})
        except (ValueError, TypeError) as exc:
            return (f"logging.{key} {value!r} is not understood ({exc}): write a value such as "
                    f"{examples[key]}.")
        logger.remove(handler)
    return None


def setup(level: str = "INFO", file: Optional[str] = None, rotation: str = "10 MB",
          retention: str = "14 days", json: bool = False) -> None:
    logger.remove()
    secrets = tuple(os.environ.get(v, "") for v in _SECRET_VARS)
    logger.configure(patcher=_patcher(secrets))
    if live_console() and not json:
        from tqdm import tqdm  # log lines go above the progress bar, not through it

        logger.add(lambda m: tqdm.write(m, end="", file=sys.stderr), level=level,
                   format=CONSOLE_FORMAT, colorize=True, backtrace=False, diagnose=False)
    else:
        logger.add(sys.stderr, level=level, format=CONSOLE_FORMAT, serialize=json,
                   colorize=False, backtrace=False, diagnose=False)
    if file:
        os.makedirs(os.path.dirname(file) or ".", exist_ok=True)
        logger.add(file, level=level, format=CONSOLE_FORMAT, serialize=json, rotation=rotation,
                   retention=retention, encoding="utf-8", backtrace=False, diagnose=False,
                   opener=private_opener)  # also for each file a rotation starts


def setup_plain(level: str = "INFO") -> None:
    """Before the config is known (or when it is broken): plain lines on stderr."""
    if os.environ.get("_CAMUP_LOGS_READY"):
        return
    logger.remove()
    logger.configure(patcher=_patcher(tuple(os.environ.get(v, "") for v in _SECRET_VARS)))
    logger.add(sys.stderr, level=level, format=CONSOLE_FORMAT, colorize=False, backtrace=False,
               diagnose=False)
