"""native.py: the request the native client sends is the one botocore would have sent
(same URL, same headers), and its failures are sorted as botocore's are. The requests
themselves are exercised against both real stores in tests/integration/test_native.py."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from awscrt.exceptions import AwsCrtError
from awscrt.s3 import S3ResponseError
from botocore.config import Config as BotoConfig

from reconciler import native
from reconciler.native import HEADERS, endpoint_of, headers_of, native_for
from reconciler.objectlock import lock_headers
from reconciler.s3errors import ErrorKind
from reconciler.settings import ObjectLock

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
])
def test_failures_are_sorted_as_botocores_are(exc: Exception, kind: ErrorKind, code: str) -> None:
    err = native._classify(exc, "cams")
    assert (err.kind, err.code) == (kind, code)


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
