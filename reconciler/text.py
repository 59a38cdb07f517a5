"""Text for people: file names and URLs made safe to print.

A file name is chosen by whoever writes into the watch dir (a camera, an FTP client, an
attacker): printed raw, a newline in it would forge a log line. A URL may carry a password
(`http://user:pass@host`) or a token (notification URLs). Every line a person reads shows
names through `printable`; URLs lose their user-info (logs.strip_userinfo) or show only
scheme and host (`url_scheme_host`, for notification URLs).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .logs import strip_userinfo

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]|[\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch == "\\":
        return "\\\\"
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}" if code >= 0xDC80 else f"\\u{code:04x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with control characters, line separators, undecodable bytes and backslashes
    escaped (\\n -> \\x0a, \\ -> \\\\): one line, always, and unambiguous.

    Names without any of those (nearly all) come back unchanged.
    """
    return _UNPRINTABLE.sub(_escape, text)


def url_scheme_host(url: str) -> str:
    """scheme://host only: for URLs whose every other part may be a secret (Apprise URLs
    carry bot tokens and passwords in the path)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    return printable(f"{parts.scheme}://{host}" if host else f"{parts.scheme}://")


def normal_target(target: str) -> str:
    """"endpoint|bucket" in one spelling: no user:password@ (never stored), scheme and host in
    lower case, no default port, no trailing '/', no query; so the same store written another
    way is still the same manifest."""
    url, sep, bucket = target.rpartition("|")
    if not sep or url == "aws":
        return target
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return f"{strip_userinfo(url)}|{bucket}"
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}|{bucket}"
