"""The boto3 client camup-sync builds from its config: one per process, thread-safe, shared
by every upload. With remote.py (which calls it), the only boto3 user.

What differs from boto3's defaults, and why, is said beside each setting: bodies streamed
and never read twice, our own checksum instead of botocore's CRC32, no parameter
validation, no `Expect: 100-continue` for small bodies, a fast timestamp parser.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

import boto3
import botocore.exceptions as bx
from botocore.config import Config as BotoConfig
from botocore.utils import parse_timestamp

from . import __version__
from .config import Config, ConfigError


def make_client(cfg: Config) -> Any:
    """The one boto3 client for a process; thread-safe and shared by every upload."""
    r, t = cfg.remote, cfg.transfer
    style = r.addressing_style
    if style == "auto":
        style = "path" if r.endpoint_url else "virtual"
    boto_cfg = BotoConfig(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5, read_timeout=60, tcp_keepalive=True,
        max_pool_connections=max(10, t.parallel_files * t.max_concurrency + t.parallel_small_files + 2),
        # Our bodies are streamed from the file through the throttle: botocore must not read
        # them a second time to sign the payload (it would over plain http). Integrity is
        # the checksum (or Content-MD5) that every upload carries and the store verifies.
        s3={"addressing_style": style, "payload_signing_enabled": False},
        # We send our own checksum where wanted; botocore's default CRC32 is rejected by
        # some S3-compatible stores.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_extra=f"camup-sync/{__version__}",
        # Our parameters are built by this module from a validated config and safe keys
        # (keys.py): botocore's per-call schema walk is pure overhead per small file.
        parameter_validation=False,
    )
    try:
        session = boto3.session.Session(profile_name=r.profile, region_name=r.region)
    except bx.ProfileNotFound:
        raise ConfigError(f'remote.profile "{r.profile}" is not in your AWS config: run '
                          f"'aws configure --profile {r.profile}' or fix the name.") from None
    session._session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=fast_timestamp)
    client = session.client("s3", endpoint_url=r.endpoint_url, config=boto_cfg)
    client.meta.events.register("before-sign.s3.PutObject", _no_expect_for_small_bodies)
    return client


def ca_bundle_of(client: Any) -> Any:
    """The trust botocore uses for this client, for another HTTP client to use the same: a
    CA bundle path (remote.profile's ca_bundle or AWS_CA_BUNDLE, else the bundle botocore
    ships with), or False when it does not verify."""
    from botocore.httpsession import get_cert_path

    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    return get_cert_path(getattr(session, "_verify", True))


def fast_timestamp(value: Any) -> dt.datetime:
    """Timestamps in S3's answers. ISO 8601 (every LastModified of a listing) is read by the
    standard library; anything else by botocore's own parser. botocore's default hands
    every one to dateutil: over half the client time of a 1,000-key listing page."""
    if isinstance(value, str):
        try:  # Python before 3.11 reads "+00:00" but not "Z"
            parsed = dt.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
            if parsed.tzinfo is not None:
                return parsed
        except ValueError:  # an HTTP date, or ISO 8601 this Python cannot read
            pass
    return parse_timestamp(value)


EXPECT_MIN_BYTES = 1024 * 1024


def _no_expect_for_small_bodies(request: Any, **_: Any) -> None:
    """botocore asks for `Expect: 100-continue` on every PUT with a body: one more round
    trip before the bytes go. Worth it for a big body the store may refuse (a 412 to our
    conditional write), not for an alert JPEG. (Expect is never a signed header.)"""
    body = request.body
    if hasattr(body, "getbuffer"):
        size: Optional[int] = len(body.getbuffer())
    elif hasattr(body, "__len__"):  # bytes, or the RangeBody uploads stream from the file
        size = len(body)
    else:
        size = None
    if size is not None and size < EXPECT_MIN_BYTES and "Expect" in request.headers:
        del request.headers["Expect"]
