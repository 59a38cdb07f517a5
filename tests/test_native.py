"""native.py: the request the native client sends is the one botocore would have sent
(same URL, same headers), and its failures are sorted as botocore's are. The requests
themselves are exercised against both real stores in tests/integration/test_native.py."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from awscrt.exceptions import AwsCrtError
from awscrt.s3 import S3ResponseError
from botocore.config import Config as BotoConfig
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import CredentialRetrievalError
from botocore.httpsession import get_cert_path

from reconciler import native
from reconciler.native import NativePut, NativeRefused, native_for
from reconciler.objectlock import lock_headers
from reconciler.putrequest import HEADERS, Endpoint, endpoint_of, headers_of
from reconciler.s3client import ca_bundle_of
from reconciler.s3errors import ErrorKind, RemoteError
from reconciler.settings import ObjectLock
from reconciler.singleput import _rejects_algorithm_header

KEYS = ["cam1/2026-12-01/alert.jpg", "a b+c%41~d é.jpg", "ünï/cödé/🎥.mp4", "x=1&y;z@:,$!'()*.jpg"]


def client(endpoint: str | None = None, region: str = "us-east-1", style: str = "path") -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                        config=BotoConfig(s3={"addressing_style": style}))


@pytest.mark.parametrize("key", KEYS)
def test_the_path_of_a_key_is_the_one_botocore_builds(key: str) -> None:
    c = client("http://127.0.0.1:9000")
    url = c.generate_presigned_url("put_object", Params={"Bucket": "cams", "Key": key})
    assert endpoint_of(c, "cams").path_of(key) == urlsplit(url).path


def test_a_custom_endpoint_is_path_style_with_its_port() -> None:
    ep = endpoint_of(client("http://127.0.0.1:9000", region="eu-west-1"), "cams")
    assert (ep.scheme, ep.host, ep.path_prefix, ep.region) == (
        "http", "127.0.0.1:9000", "/cams/", "eu-west-1")


def test_a_password_in_the_endpoint_never_reaches_the_host_header() -> None:
    ep = endpoint_of(client("http://user:Pa55@127.0.0.1:9000"), "cams")
    assert ep.host == "127.0.0.1:9000"


def test_aws_uses_the_virtual_host_of_the_bucket_in_its_region() -> None:
    ep = endpoint_of(client(region="eu-west-1", style="virtual"), "my-cams")
    assert (ep.scheme, ep.host, ep.path_prefix, ep.region) == (
        "https", "my-cams.s3.eu-west-1.amazonaws.com", "/", "eu-west-1")


def test_every_parameter_a_put_carries_becomes_its_header() -> None:
    until = dt.datetime(2027, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    params = {"ChecksumSHA256": "abc=", "ChecksumAlgorithm": "SHA256", "IfNoneMatch": "*",
              "StorageClass": "STANDARD_IA", "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "k1",
              "ContentMD5": "md5=", **lock_headers(ObjectLock(mode="COMPLIANCE", days=1), until)}
    got = dict(headers_of(params))
    assert got == {
        "x-amz-checksum-sha256": "abc=", "x-amz-sdk-checksum-algorithm": "SHA256",
        "If-None-Match": "*", "x-amz-storage-class": "STANDARD_IA",
        "x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": "k1",
        "Content-MD5": "md5=", "x-amz-object-lock-mode": "COMPLIANCE",
        "x-amz-object-lock-retain-until-date": "2027-01-03T03:04:05Z"}


def test_the_headers_are_the_ones_botocore_serializes() -> None:
    """Each name in HEADERS is what botocore's own model says the parameter's header is."""
    shape = client().meta.service_model.operation_model("PutObject").input_shape
    for param, header in HEADERS.items():
        assert shape.members[param].serialization.get("name", "").lower() == header.lower(), param


def test_a_parameter_without_a_header_is_a_bug_not_dropped() -> None:
    with pytest.raises(KeyError):
        headers_of({"Tagging": "a=b"})


def response_error(status: int, body: bytes) -> S3ResponseError:
    return S3ResponseError(code=14343, name="AWS_ERROR_S3_INVALID_RESPONSE_STATUS", message="",
                           status_code=status, headers=[], body=body, operation_name="PutObject")


def s3_error(code: str, message: str = "why") -> bytes:
    return f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


@pytest.mark.parametrize("exc, kind, code", [
    (response_error(412, s3_error("PreconditionFailed")), ErrorKind.EXISTS, "PreconditionFailed"),
    (response_error(412, b""), ErrorKind.EXISTS, "412"),
    (response_error(503, s3_error("SlowDown")), ErrorKind.RETRYABLE, "SlowDown"),
    (response_error(403, s3_error("AccessDenied")), ErrorKind.THIS_FILE, "AccessDenied"),
    (response_error(403, s3_error("InvalidAccessKeyId")), ErrorKind.FATAL, "InvalidAccessKeyId"),
    (response_error(404, s3_error("NoSuchBucket")), ErrorKind.FATAL, "NoSuchBucket"),
    (response_error(400, b"<html>not xml"), ErrorKind.THIS_FILE, "400"),
    (AwsCrtError(1047, "AWS_IO_SOCKET_CONNECTION_REFUSED", "refused"), ErrorKind.FATAL, ""),
    (AwsCrtError(2058, "AWS_ERROR_HTTP_CONNECTION_CLOSED", "closed"), ErrorKind.RETRYABLE, ""),
    (AwsCrtError(1048, "AWS_IO_SOCKET_TIMEOUT", "timeout"), ErrorKind.RETRYABLE, ""),  # as botocore's
    (AwsCrtError(14, "AWS_ERROR_S3_REQUEST_TIME_TOO_SKEWED", "skew"), ErrorKind.FATAL,
     "RequestTimeTooSkewed"),
])
def test_failures_are_sorted_as_botocores_are(exc: Exception, kind: ErrorKind, code: str) -> None:
    err = native._classify(exc, "cams")
    assert (err.kind, err.code) == (kind, code)


@pytest.mark.parametrize("exc", [
    response_error(301, s3_error("PermanentRedirect")),
    response_error(400, s3_error("AuthorizationHeaderMalformed", "the region 'us-east-1' is wrong")),
    response_error(403, s3_error("SignatureDoesNotMatch")),
    response_error(307, b""),
    AwsCrtError(1029, "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE", "tls"),
])
def test_answers_botocore_handles_itself_are_handed_back_to_it(exc: Exception) -> None:
    assert isinstance(native._classify(exc, "cams"), NativeRefused)


def test_a_store_refusing_the_algorithm_header_is_recognised_from_the_native_answer() -> None:
    """singleput falls back to sending the checksum alone: it reads the store's own words."""
    words = "Unsupported header 'x-amz-sdk-checksum-algorithm' received for this API call."
    for code in ("InvalidRequest", "NotImplemented", "InvalidArgument"):
        err = native._classify(response_error(400, s3_error(code, words)), "cams")
        assert _rejects_algorithm_header(err), code  # type: ignore[arg-type]


def test_an_error_message_from_the_store_is_one_line() -> None:
    err = native._classify(response_error(400, s3_error("Odd", "two\nlines\r\nhere")), "cams")
    assert "\n" not in str(err) and "two lines here" in str(err)


def test_off_means_botocore_sends_everything() -> None:
    assert native_for(client("http://127.0.0.1:9000"), "cams", "off") is None


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_in_the_environment_leaves_uploads_to_botocore(monkeypatch: pytest.MonkeyPatch,
                                                                variable: str) -> None:
    monkeypatch.setenv(variable, "http://127.0.0.1:3128")
    assert native_for(client("http://127.0.0.1:9000"), "cams", "auto") is None


def test_no_credentials_leaves_uploads_to_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    c = boto3.client("s3", endpoint_url="http://127.0.0.1:9000", region_name="us-east-1")
    assert native_for(c, "cams", "auto") is None


def test_a_client_is_set_up_for_a_custom_endpoint() -> None:
    sender = native_for(client("http://127.0.0.1:9000"), "cams", "auto")
    assert sender is not None and sender.endpoint.host == "127.0.0.1:9000"


class FailingCredentials:
    """botocore's refreshable credentials whose refresh starts failing (an expired SSO
    session, a credential_process that errors)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_frozen_credentials(self) -> Any:
        self.calls += 1
        if self.calls > 1:
            raise CredentialRetrievalError(provider="custom-process", error_msg="SSO session expired")
        return ReadOnlyCredentials("AKIDEXAMPLE", "secret", None)


def test_a_failing_credential_refresh_is_botocores_error_on_the_upload_thread() -> None:
    sender = NativePut(Endpoint("http", "127.0.0.1:9", "/cams/", "us-east-1"), FailingCredentials(),
                       "cams", None)
    with pytest.raises(RemoteError) as caught:
        sender.put("k", b"clip", {})
    assert caught.value.kind is ErrorKind.FATAL and "credential" in str(caught.value).lower()


@pytest.fixture
def silent_server() -> Any:
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):  # the 0.2 s timeout: look at `stop` again
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_stop_cancels_a_put_the_store_never_answers(silent_server: int) -> None:
    class Stop(Exception):
        pass

    calls: list[float] = []

    def waiting() -> None:
        calls.append(time.monotonic())
        if len(calls) == 3:
            raise Stop()

    sender = NativePut(Endpoint("http", f"127.0.0.1:{silent_server}", "/cams/", "us-east-1"),
                       FailingCredentials(), "cams", None)
    sender._credentials = type("Fixed", (), {"get_frozen_credentials": lambda self: ReadOnlyCredentials(
        "AKIDEXAMPLE", "secret", None)})()
    started = time.monotonic()
    with pytest.raises(Stop):
        sender.put("k", b"clip", {}, waiting=waiting)
    assert time.monotonic() - started < 10  # not the 180 s answer timeout


def test_native_trusts_the_ca_bundle_botocore_trusts(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    bundle = tmp_path / "private-ca.pem"
    bundle.write_text("not read here")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    assert ca_bundle_of(client("https://nas.local:9000")) == str(bundle)
    monkeypatch.delenv("AWS_CA_BUNDLE")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)  # botocore reads that one too
    assert ca_bundle_of(client("https://nas.local:9000")) == get_cert_path(True)  # botocore's own


def test_tls_botocore_does_not_verify_stays_botocores() -> None:
    c = boto3.client("s3", endpoint_url="https://127.0.0.1:9000", region_name="us-east-1", verify=False,
                     aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    assert ca_bundle_of(c) is False and native_for(c, "cams", "auto") is None
