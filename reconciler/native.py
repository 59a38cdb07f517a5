"""Small PutObjects through the AWS Common Runtime's S3 client (awscrt): SigV4 signing and
HTTP in native code. botocore spends about 2.6 ms of CPU on every PutObject whatever its
size (signing, endpoint rules, request building, its HTTP stack); for a folder of alert
JPEGs that, not the bytes, is the limit. Here one costs about a quarter of that.

Only the request changes hands. botocore still decides where it goes (putrequest.py: the
URL of one presigned PutObject, so the endpoint rules, addressing style and region are
botocore's), with which credentials (read on the upload thread before each request, so a
failing refresh is botocore's own error) and with which CA bundle. The caller hashed the
body it hands over, so the checksum the request carries is of exactly the bytes sent.
Every failure comes back as a RemoteError sorted as botocore's are, except answers that
botocore handles itself (a redirect to the bucket's region, a signature or TLS problem):
NativeRefused, and the caller sends through botocore from then on.

Used only for bodies already in memory (< settings.SMALL_FILE_BYTES); anything bigger, and every
other request, goes through botocore. Not used through an HTTP proxy (botocore reads the
proxy settings; this client would not), or with `transfer.native_client: off`.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import threading
import time
from typing import Any, Callable, Optional
from urllib.parse import urlsplit
from xml.etree import ElementTree

from loguru import logger

from . import __version__
from .putrequest import Endpoint, endpoint_of, headers_of
from .s3errors import ErrorKind, RemoteError, classify_answer, classify_error

ANSWER_TIMEOUT_SECONDS = 180.0  # botocore's 60 s read timeout, for each of 3 attempts
RETRIES = 2  # after the first attempt, as botocore's standard mode (3 attempts)
WAIT_SLICE_SECONDS = 0.5  # how often a request in flight asks whether the run is stopping
_PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")

# Connection failures that mean "the endpoint cannot be reached" (botocore's
# EndpointConnectionError: the pass ends); any other transport error is retried.
_UNREACHABLE = {"AWS_IO_SOCKET_CONNECTION_REFUSED", "AWS_IO_DNS_INVALID_NAME",
                "AWS_IO_DNS_QUERY_FAILED", "AWS_IO_SOCKET_NO_ROUTE_TO_HOST",
                "AWS_IO_SOCKET_NETWORK_DOWN"}
# Answers awscrt recognises itself and reports by name, with or without the response.
_ANSWERS = {"AWS_ERROR_S3_REQUEST_TIME_TOO_SKEWED": "RequestTimeTooSkewed",
            "AWS_ERROR_S3_SLOW_DOWN": "SlowDown", "AWS_ERROR_S3_INTERNAL_ERROR": "InternalError"}
# Answers botocore deals with itself (it follows the bucket's region and re-signs) or that
# may be this client's own doing: botocore sends, and says what is wrong if anything is.
_FOR_BOTOCORE = {"PermanentRedirect", "TemporaryRedirect", "AuthorizationHeaderMalformed",
                 "IllegalLocationConstraintException", "SignatureDoesNotMatch", "301", "302", "307"}


class NativeRefused(Exception):
    """Send this request through botocore instead, and every later one."""


class StoreAnswer(Exception):
    """The store's own Code and Message, kept as the cause of the RemoteError it became."""


class NativePut:
    """One awscrt S3 client for the process; put() is called from every upload thread."""

    def __init__(self, endpoint: Endpoint, credentials: Any, bucket: str, ca_bundle: Optional[str]):
        from awscrt import s3  # here, not at import: an idle pass never loads it

        self._s3 = s3
        self.endpoint = endpoint
        self.bucket = bucket
        self._credentials = credentials  # botocore's, refreshed by botocore
        self._lock = threading.Lock()
        self._signed_with: Optional[tuple[str, str, Optional[str]]] = None
        self._signing: Any = None
        tls = s3.S3RequestTlsMode.ENABLED if endpoint.scheme == "https" else s3.S3RequestTlsMode.DISABLED
        self._client = s3.S3Client(
            region=endpoint.region, tls_mode=tls, signing_config=self._signing_for_current(),
            tls_connection_options=_tls_options(endpoint, ca_bundle) if endpoint.scheme == "https" else None,
            connect_timeout_ms=5000, retry_config=_retries(s3))

    def put(self, key: str, body: bytes, params: dict[str, Any],
            waiting: Callable[[], None] = lambda: None) -> dict[str, Any]:
        """PutObject `body` at key with `params` (put_object's names); the answer as
        botocore gives it (ETag, VersionId), a RemoteError, or NativeRefused. `waiting` is
        called about twice a second until the answer comes; what it raises cancels the
        request and comes out as itself (a stop)."""
        from awscrt.http import HttpHeaders, HttpRequest

        signing = self._signing_for_current()
        headers = HttpHeaders([("Host", self.endpoint.host), ("Content-Length", str(len(body))),
                               ("User-Agent", f"camup-sync/{__version__} awscrt")])
        headers.add_pairs(headers_of(params))
        request = HttpRequest("PUT", self.endpoint.path_of(key), headers, io.BytesIO(body))
        answer: dict[str, str] = {}

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            answer.update((name.lower(), value) for name, value in headers)

        sent = self._client.make_request(type=self._s3.S3RequestType.DEFAULT, request=request,
                                         operation_name="PutObject", signing_config=signing,
                                         on_headers=on_headers)
        self._wait(sent, waiting)
        result: dict[str, Any] = {"ETag": answer.get("etag", "")}
        if "x-amz-version-id" in answer:
            result["VersionId"] = answer["x-amz-version-id"]
        return result

    def _wait(self, sent: Any, waiting: Callable[[], None]) -> None:
        deadline = time.monotonic() + ANSWER_TIMEOUT_SECONDS
        while True:
            try:
                sent.finished_future.result(timeout=WAIT_SLICE_SECONDS)
                return
            except concurrent.futures.TimeoutError:
                pass
            except Exception as exc:
                raise _classify(exc, self.bucket)  # noqa: B904 - keeps the StoreAnswer cause it may carry
            try:
                waiting()
                if time.monotonic() > deadline:
                    raise RemoteError(ErrorKind.RETRYABLE, "network error: no answer from the store "
                                      f"within {ANSWER_TIMEOUT_SECONDS:.0f} s")
            except BaseException:
                sent.cancel()
                raise

    def _signing_for_current(self) -> Any:
        """A signing config with botocore's credentials as they are now. Read here, on the
        upload thread: a refresh that fails is botocore's error, sorted as any other (no
        Python callback runs on awscrt's threads)."""
        from awscrt import auth

        try:
            frozen = self._credentials.get_frozen_credentials()
        except Exception as exc:
            raise classify_error(exc, self.bucket) from exc
        current = (frozen.access_key, frozen.secret_key, frozen.token)
        with self._lock:
            if current != self._signed_with:
                self._signing = auth.AwsSigningConfig(
                    algorithm=auth.AwsSigningAlgorithm.V4,
                    signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
                    credentials_provider=auth.AwsCredentialsProvider.new_static(*current),
                    service="s3", region=self.endpoint.region,
                    signed_body_value=auth.AwsSignedBodyValue.UNSIGNED_PAYLOAD,  # the checksum guards bytes
                    signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
                    use_double_uri_encode=False, should_normalize_uri_path=False)  # S3's SigV4 rules
                self._signed_with = current
            return self._signing


def _retries(s3: Any) -> Any:
    """awscrt's own retries, as many as botocore's; its max_retries=0 means "the default" (5)."""
    if RETRIES == 0:
        return s3.S3RetryConfig(retry_mode=s3.S3RetryMode.NONE)
    return s3.S3RetryConfig(max_retries=RETRIES)


def _tls_options(endpoint: Endpoint, ca_bundle: Optional[str]) -> Any:
    """The CA bundle botocore trusts for this client, for the same answer to the same store."""
    from awscrt import io as crt_io

    options = crt_io.TlsContextOptions()
    if ca_bundle:
        options.override_default_trust_store_from_path(None, ca_bundle)
    connection = crt_io.ClientTlsContext(options).new_connection_options()
    connection.set_server_name(urlsplit(f"//{endpoint.host}").hostname or endpoint.host)
    return connection


def _classify(exc: BaseException, bucket: str) -> Exception:
    """An awscrt failure as the RemoteError botocore's would have been, or NativeRefused."""
    status = getattr(exc, "status_code", None)
    name = getattr(exc, "name", type(exc).__name__)
    if status or name in _ANSWERS:  # the store answered with an error
        code, message = _error_of(getattr(exc, "body", None) or b"")
        code = code or _ANSWERS.get(name) or str(status)
        if code in _FOR_BOTOCORE:
            return NativeRefused(f"{code}: {message or code}")
        error = classify_answer(code, message or code, bucket)
        error.__cause__ = StoreAnswer(f"{code}: {message}")  # its own words, for the callers that read them
        return error
    if name.startswith("AWS_IO_TLS"):
        return NativeRefused(name)
    if name in _UNREACHABLE:
        return RemoteError(ErrorKind.FATAL, f"cannot connect to the S3 endpoint ({name}): check "
                           "the network and remote.endpoint_url; the next pass retries.")
    return RemoteError(ErrorKind.RETRYABLE, f"network error: {name}")


def _error_of(body: bytes) -> tuple[str, str]:
    """Code and Message of an S3 error document ("" when there is none, e.g. a HEAD)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return "", ""
    return (root.findtext("Code") or "").strip(), " ".join((root.findtext("Message") or "").split())


def native_for(client: Any, bucket: str, setting: str) -> Optional[NativePut]:
    """The native sender for this bucket, or None (setting off, awscrt missing, a proxy
    set, no credentials, TLS not verified): then botocore sends everything."""
    if setting == "off":
        return None
    if any(os.environ.get(v) or os.environ.get(v.lower()) for v in _PROXY_VARIABLES):
        logger.debug("A proxy is set: small uploads go through botocore, which honours it")
        return None
    try:
        import awscrt.s3  # noqa: F401
    except ImportError:
        logger.debug("awscrt is not installed: small uploads go through botocore")
        return None
    from .s3client import ca_bundle_of

    try:
        credentials = client._get_credentials()  # as boto3's own CRT transfer manager does
        ca_bundle = ca_bundle_of(client)
        if credentials is None or ca_bundle is False:
            return None  # botocore's own request says what is missing; unverified TLS stays botocore's
        return NativePut(endpoint_of(client, bucket), credentials, bucket, ca_bundle)
    except Exception as exc:  # any setup problem: botocore carries on alone, and says it
        logger.info("The native S3 client could not be set up ({}); small uploads go through botocore",
                    type(exc).__name__)
        return None


class LazyNative:
    """native_for() on first use, once, from whichever upload thread gets there first;
    off() for the rest of the process once the store answered it in a way botocore handles."""

    def __init__(self, make: Callable[[], Optional[NativePut]]):
        self._make = make
        self._lock = threading.Lock()
        self._done = False
        self._native: Optional[NativePut] = None

    def get(self) -> Optional[NativePut]:
        with self._lock:
            if not self._done:
                self._native, self._done = self._make(), True
            return self._native

    def off(self) -> None:
        with self._lock:
            self._native, self._done = None, True
