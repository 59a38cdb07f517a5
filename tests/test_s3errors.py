"""classify_error: credential-provider failures and parameter errors are sentences, not tracebacks."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import botocore.exceptions as bx
import pytest

from reconciler.s3errors import ErrorKind, RemoteError, classify_error

from .awsenv import BROKEN_PROCESS, CLOSED_ENDPOINT, SSO_NO_TOKEN, sandbox

needs_bin_false = pytest.mark.skipif(not os.path.exists("/bin/false"), reason="needs /bin/false")


def _client_error(profile: str) -> BaseException:
    """The exception botocore really raises for this profile: building the client resolves the
    credentials (the failure happens there); a refresh failure would surface on a call."""
    try:
        client = boto3.session.Session(profile_name=profile).client("s3", endpoint_url=CLOSED_ENDPOINT)
        client.head_bucket(Bucket="my-bucket")
    except Exception as exc:  # the point is to see what it is
        return exc
    raise AssertionError("expected a credential failure")


@needs_bin_false
def test_a_failing_credential_process_is_fatal_with_what_to_do(monkeypatch, tmp_path: Path) -> None:
    refused = sandbox(monkeypatch, tmp_path, BROKEN_PROCESS)
    exc = _client_error("broken")
    assert isinstance(exc, bx.CredentialRetrievalError)
    err = classify_error(exc, "my-bucket")
    assert err.kind is ErrorKind.FATAL
    assert "credentials could not be obtained" in str(err)
    assert "credential_process" in str(err) and "remote.profile" in str(err)
    assert "\n" not in str(err)
    assert refused == [], "nothing but 127.0.0.1 may be contacted"


def test_an_sso_profile_without_a_login_is_fatal_with_what_to_do(monkeypatch, tmp_path: Path) -> None:
    refused = sandbox(monkeypatch, tmp_path, SSO_NO_TOKEN)
    exc = _client_error("sso")
    assert isinstance(exc, bx.SSOError)
    err = classify_error(exc, "my-bucket")
    assert err.kind is ErrorKind.FATAL
    assert "aws sso login" in str(err)
    assert refused == []


def test_a_parameter_botocore_rejects_fails_the_key_with_a_sentence(monkeypatch, tmp_path: Path) -> None:
    refused = sandbox(monkeypatch, tmp_path, "")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret-not-a-real-secret0")
    client = boto3.session.Session(region_name="us-east-1").client("s3", endpoint_url=CLOSED_ENDPOINT)
    with pytest.raises(bx.ParamValidationError) as caught:
        client.put_object(Bucket="my-bucket", Key="", Body=b"x")  # an empty key: refused before sending
    err = classify_error(caught.value, "my-bucket")
    assert err.kind is ErrorKind.THIS_FILE
    assert err.code == "ParamValidationError"
    assert str(err).startswith("the request was refused before it was sent")
    assert "\n" not in str(err)
    assert refused == []


@pytest.mark.parametrize(
    ("exc", "needle"),
    [
        (bx.CredentialRetrievalError(provider="custom-process", error_msg="exit 1\nsee log"),
         "credentials could not be obtained"),
        (bx.SSOTokenLoadError(error_msg="Token for corp does not exist"), "aws sso login"),
        (bx.UnauthorizedSSOTokenError(), "aws sso login"),
        (bx.TokenRetrievalError(provider="sso", error_msg="expired"), "aws sso login"),
        (bx.InvalidConfigError(error_msg="bad source_profile"), "AWS config cannot be used"),
        (bx.ProfileNotFound(profile="cams"), "AWS config cannot be used"),
        (bx.ConfigParseError(path="~/.aws/config"), "AWS config cannot be used"),
        (bx.RefreshWithMFAUnsupportedError(), "credentials could not be obtained"),
        (bx.MetadataRetrievalError(error_msg="timeout"), "credentials could not be obtained"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "",
)
def test_credential_provider_failures_are_fatal_sentences(exc: BaseException, needle: str) -> None:
    err = classify_error(exc, "my-bucket")
    assert isinstance(err, RemoteError)
    assert err.kind is ErrorKind.FATAL
    assert needle in str(err)
    assert "\n" not in str(err) and str(err).endswith(".")


def test_param_validation_error_is_a_key_failure() -> None:
    err = classify_error(bx.ParamValidationError(report="Invalid length for parameter Key, value: 0"))
    assert err.kind is ErrorKind.THIS_FILE
    assert "Invalid length for parameter Key" in str(err)


def test_what_is_not_an_s3_matter_still_surfaces() -> None:
    with pytest.raises(ZeroDivisionError):
        classify_error(ZeroDivisionError("a bug"))
