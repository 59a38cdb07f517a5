"""Small PutObjects through the AWS Common Runtime's S3 client (awscrt): SigV4 signing and
HTTP in native code. botocore spends about 2.6 ms of CPU on every PutObject whatever its
size (signing, endpoint rules, request building, its HTTP stack); for a folder of alert
JPEGs that, not the bytes, is the limit. Here one costs about a quarter of that.

Only the request changes hands. botocore still decides where it goes (the URL comes
from one presigned PutObject, so the endpoint rules, addressing style and region are
botocore's) and with which credentials (refreshed by botocore as they expire). The
caller hashed the body it hands over, so the checksum the request carries is of exactly
the bytes sent. Every failure comes back as a RemoteError, sorted as botocore's are.

Used only for bodies already in memory (< NATIVE_MAX_BYTES); anything bigger, and every
other request, goes through botocore. Not used through an HTTP proxy (botocore reads the
proxy settings; this client would not), or with `transfer.native_client: off`.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import io
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, quote, urlsplit
from xml.etree import ElementTree

from loguru import logger

from . import __version__
from .s3errors import ErrorKind, RemoteError, classify_answer

NATIVE_MAX_BYTES = 1024 * 1024  # bigger bodies stream from the file through botocore
ANSWER_TIMEOUT_SECONDS = 180.0  # botocore's 60 s read timeout, for each of 3 attempts
_PROBE_KEY = "camup-native-endpoint"
_PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")

# The put_object parameters camup-sync sends, as the headers S3 reads them from.
HEADERS = {
    "ChecksumSHA256": "x-amz-checksum-sha256",
    "ChecksumCRC32C": "x-amz-checksum-crc32c",
    "ChecksumCRC32": "x-amz-checksum-crc32",
    "ChecksumAlgorithm": "x-amz-sdk-checksum-algorithm",
    "ContentMD5": "Content-MD5",
    "IfNoneMatch": "If-None-Match",
    "StorageClass": "x-amz-storage-class",
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
    "ObjectLockMode": "x-amz-object-lock-mode",
    "ObjectLockRetainUntilDate": "x-amz-object-lock-retain-until-date",
    "ObjectLockLegalHoldStatus": "x-amz-object-lock-legal-hold",
}
# Connection failures that mean "the endpoint cannot be reached" (botocore's
# EndpointConnectionError: the pass ends); any other transport error is retried.
_UNREACHABLE = {"AWS_IO_SOCKET_CONNECTION_REFUSED", "AWS_IO_DNS_INVALID_NAME",
                "AWS_IO_DNS_QUERY_FAILED", "AWS_IO_SOCKET_NO_ROUTE_TO_HOST",
                "AWS_IO_SOCKET_NETWORK_DOWN", "AWS_IO_SOCKET_TIMEOUT"}

# Answers awscrt recognises itself and reports by name, with or without the response.
_ANSWERS = {"AWS_ERROR_S3_REQUEST_TIME_TOO_SKEWED": "RequestTimeTooSkewed",
            "AWS_ERROR_S3_SLOW_DOWN": "SlowDown", "AWS_ERROR_S3_INTERNAL_ERROR": "InternalError"}


@dataclass(frozen=True)
class Endpoint:
    """Where a bucket's objects are PUT: scheme, host[:port], the path before the key."""

    scheme: str
    host: str
    path_prefix: str
    region: str

    def path_of(self, key: str) -> str:
        return self.path_prefix + quote(key, safe="/~")  # as botocore encodes a key


def endpoint_of(client: Any, bucket: str) -> Endpoint:
    """The bucket's endpoint as botocore resolves it, read off one presigned PutObject."""
    url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": _PROBE_KEY},
                                        ExpiresIn=60)
    parts = urlsplit(url)
    if not parts.path.endswith("/" + _PROBE_KEY):
        raise ValueError(f"unexpected presigned URL shape for bucket {bucket}")
    scope = parse_qs(parts.query).get("X-Amz-Credential", [""])[0].split("/")
    region = scope[2] if len(scope) == 5 else (client.meta.region_name or "us-east-1")
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # IPv6
    host = f"{host}:{parts.port}" if parts.port else host  # never the user:password@ of a URL
    return Endpoint(parts.scheme, host, parts.path[:-len(_PROBE_KEY)], region)


def headers_of(params: dict[str, Any]) -> list[tuple[str, str]]:
    """The request headers for put_object parameters; an unknown one is a bug, not ignored."""
    out = []
    for name, value in params.items():
        if isinstance(value, dt.datetime):  # botocore sends header timestamps as ISO 8601
            value = value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append((HEADERS[name], str(value)))
    return out


class NativePut:
    """One awscrt S3 client for the process; put() is called from every upload thread."""

    def __init__(self, endpoint: Endpoint, credentials: Any, bucket: str):
        from awscrt import auth, s3  # here, not at import: an idle pass never loads it

        self._s3 = s3
        self.endpoint = endpoint
        self.bucket = bucket
        signing = auth.AwsSigningConfig(
            algorithm=auth.AwsSigningAlgorithm.V4, signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
            service="s3", region=endpoint.region, credentials_provider=_provider(credentials),
            signed_body_value=auth.AwsSignedBodyValue.UNSIGNED_PAYLOAD,  # the checksum guards the bytes
            signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
            use_double_uri_encode=False, should_normalize_uri_path=False)  # S3's SigV4 rules
        tls = s3.S3RequestTlsMode.ENABLED if endpoint.scheme == "https" else s3.S3RequestTlsMode.DISABLED
        self._client = s3.S3Client(
            region=endpoint.region, tls_mode=tls, signing_config=signing,
            tls_connection_options=_tls_options(endpoint) if endpoint.scheme == "https" else None,
            connect_timeout_ms=5000, retry_config=s3.S3RetryConfig(max_retries=2))  # as botocore's 3 attempts

    def put(self, key: str, body: bytes, params: dict[str, Any]) -> dict[str, Any]:
        """PutObject `body` at key with `params` (put_object's names); the answer as
        botocore gives it (ETag, VersionId), or a RemoteError."""
        from awscrt.http import HttpHeaders, HttpRequest

        headers = HttpHeaders([("Host", self.endpoint.host), ("Content-Length", str(len(body))),
                               ("User-Agent", f"camup-sync/{__version__} awscrt")])
        headers.add_pairs(headers_of(params))
        request = HttpRequest("PUT", self.endpoint.path_of(key), headers, io.BytesIO(body))
        answer: dict[str, str] = {}

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            answer.update((name.lower(), value) for name, value in headers)

        sent = self._client.make_request(type=self._s3.S3RequestType.DEFAULT, request=request,
                                         operation_name="PutObject", on_headers=on_headers)
        try:
            sent.finished_future.result(timeout=ANSWER_TIMEOUT_SECONDS)
        except concurrent.futures.TimeoutError:
            sent.cancel()
            raise RemoteError(ErrorKind.RETRYABLE, "network error: no answer from the store "
                              f"within {ANSWER_TIMEOUT_SECONDS:.0f} s") from None
        except Exception as exc:
            raise _classify(exc, self.bucket) from exc
        result: dict[str, Any] = {"ETag": answer.get("etag", "")}
        if "x-amz-version-id" in answer:
            result["VersionId"] = answer["x-amz-version-id"]
        return result


def _provider(credentials: Any) -> Any:
    """botocore's credentials (refreshed by botocore as they expire) for awscrt's signer."""
    from awscrt import auth

    def current() -> Any:
        frozen = credentials.get_frozen_credentials()
        return auth.AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    return auth.AwsCredentialsProvider.new_delegate(current)


def _tls_options(endpoint: Endpoint) -> Any:
    """The system's trust store, or the CA bundle botocore would use (AWS_CA_BUNDLE)."""
    from awscrt import io as crt_io

    options = crt_io.TlsContextOptions()
    bundle = os.environ.get("AWS_CA_BUNDLE")
    if bundle:
        options.override_default_trust_store_from_path(None, bundle)
    connection = crt_io.ClientTlsContext(options).new_connection_options()
    connection.set_server_name(urlsplit(f"//{endpoint.host}").hostname or endpoint.host)
    return connection


def _classify(exc: BaseException, bucket: str) -> RemoteError:
    """An awscrt failure as the RemoteError botocore's would have been."""
    status = getattr(exc, "status_code", None)
    name = getattr(exc, "name", type(exc).__name__)
    if status or name in _ANSWERS:  # the store answered with an error
        code, message = _error_of(getattr(exc, "body", None) or b"")
        code = code or _ANSWERS.get(name) or str(status)
        return classify_answer(code, message or code, bucket)
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
    set, no credentials yet): then botocore sends everything."""
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
    try:
        credentials = client._get_credentials()  # as boto3's own CRT transfer manager does
        if credentials is None:
            return None  # botocore's own request then says what is missing
        return NativePut(endpoint_of(client, bucket), credentials, bucket)
    except Exception as exc:  # any setup problem: botocore carries on alone, and says it
        logger.info("The native S3 client could not be set up ({}); small uploads go through botocore",
                    " ".join(str(exc).split()))
        return None


class LazyNative:
    """native_for() on first use, once, from whichever upload thread gets there first."""

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
