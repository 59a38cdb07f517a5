"""S3 failures sorted by what to do about them, each with a sentence a user can act on."""

from __future__ import annotations

import functools
from enum import Enum


class ErrorKind(str, Enum):
    RETRYABLE = "retryable"  # network blips, 5xx, SlowDown: try again
    THIS_FILE = "this file"  # this key only (AccessDenied on it, bad name): fail the file, no retry
    FATAL = "fatal"  # the bucket is unusable (credentials, no bucket, clock): end the pass
    EXISTS = "exists"  # a conditional write found an object already there


class RemoteError(Exception):
    """An S3 failure with its kind and a sentence a user can act on."""

    def __init__(self, kind: ErrorKind, message: str, code: str = ""):
        super().__init__(message)
        self.kind = kind
        self.code = code


_FATAL_CODES = {
    "NoSuchBucket": "bucket {bucket} does not exist: create it, or fix bucket in the config.",
    "InvalidAccessKeyId": "the access key is not valid for this store: check your credentials.",
    "SignatureDoesNotMatch": "the secret key does not match the access key: check your credentials.",
    "ExpiredToken": "the session token has expired: refresh your credentials.",
    "TokenRefreshRequired": "the session token has expired: refresh your credentials.",
    "InvalidToken": "the session token is not valid: refresh your credentials.",
    "RequestTimeTooSkewed": "this computer's clock is too far off for S3: set the clock "
                            "(enable time synchronisation) and run again.",
    "AllAccessDisabled": "all access to bucket {bucket} is disabled: check the account.",
    "AccountProblem": "the account has a problem S3 will not serve: check the account.",
    "PermanentRedirect": "bucket {bucket} is in another region: set remote.region to it.",
    "AuthorizationHeaderMalformed": "the region is wrong for bucket {bucket}: set remote.region.",
    "InvalidBucketName": "bucket name {bucket} is not accepted by the store: fix bucket.",
    "NotImplemented": "the store does not support a request camup-sync made: try "
                      "remote.checksum: off for stores without flexible checksums.",
    "InvalidRequest": "the store rejected the request: for stores without flexible checksums "
                      "set remote.checksum: off.",
}
# A request the store does not support (an optional header, a HEAD with PartNumber) is
# answered with one of these; the caller falls back instead of failing.
UNSUPPORTED_CODES = {"400", "404", "416", "501", "NotImplemented", "InvalidRequest", "InvalidArgument",
                     "InvalidPartNumber", "NoSuchKey", "NotFound"}
_RETRYABLE_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
                    "RequestTimeoutException", "Throttling", "ThrottlingException", "BadDigest",
                    "XAmzContentSHA256Mismatch", "IncompleteBody", "OperationAborted", "500",
                    "502", "503", "504"}
_DENIED = {"AccessDenied", "403", "Forbidden"}


@functools.lru_cache(maxsize=1)
def _credential_errors() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """Credential resolution fails before any request is sent; each is the bucket being
    unusable until someone fixes the credential setup, so the pass ends (exit 4) with what
    to fix. (botocore is imported here, not at import: an idle pass never loads it.)"""
    import botocore.exceptions as bx

    sso = tuple(getattr(bx, n) for n in ("SSOError", "TokenRetrievalError", "LoginError") if hasattr(bx, n))
    aws_config = (bx.ProfileNotFound, bx.ConfigNotFound, bx.ConfigParseError, bx.InvalidConfigError)
    credentials = (bx.CredentialRetrievalError, bx.NoAuthTokenError, bx.RefreshWithMFAUnsupportedError,
                   bx.MetadataRetrievalError, bx.UnknownCredentialError)
    return sso, aws_config, credentials


def is_denied(exc: RemoteError) -> bool:
    """The store refused us this request (IAM): write-only credentials asking to read."""
    return exc.kind is ErrorKind.THIS_FILE and exc.code in _DENIED


def _one_line(exc: BaseException) -> str:
    """botocore's text may span lines (a credential_process's stderr, a validation report)."""
    return " ".join(str(exc).split()).rstrip(": ")


def _credential_problem(exc: BaseException) -> str:
    """The sentence for a credential-provider failure, or "" when `exc` is not one."""
    why = _one_line(exc)
    sso, aws_config, credentials = _credential_errors()
    if isinstance(exc, sso):
        return (f"the AWS SSO login is missing or has expired ({why}): run 'aws sso login' with "
                "the profile in remote.profile (or AWS_PROFILE), then run again.")
    if isinstance(exc, aws_config):
        return (f"the AWS config cannot be used ({why}): fix the profile named in remote.profile "
                "(or AWS_PROFILE) in ~/.aws/config (or the file AWS_CONFIG_FILE names).")
    if isinstance(exc, credentials):
        return (f"AWS credentials could not be obtained ({why}): fix the credential source "
                "(credential_process, role, SSO or instance role) of remote.profile (or "
                "AWS_PROFILE); 'aws sts get-caller-identity' with that profile shows the same error.")
    return ""


def classify_answer(code: str, message: str, bucket: str = "") -> RemoteError:
    """The store's error answer (its Code, else the HTTP status) as an ErrorKind and a sentence."""
    if code in ("PreconditionFailed", "412"):
        return RemoteError(ErrorKind.EXISTS, "an object already exists at this key", code)
    if code in _FATAL_CODES:
        return RemoteError(ErrorKind.FATAL, _FATAL_CODES[code].format(bucket=bucket), code)
    if code in _RETRYABLE_CODES:
        return RemoteError(ErrorKind.RETRYABLE, f"S3 answered {code}: {message}", code)
    if code in _DENIED:
        return RemoteError(ErrorKind.THIS_FILE, f"access denied ({message}): the credentials need "
                           f"s3:PutObject on bucket {bucket}.", code)
    if code == "NoSuchUpload":
        return RemoteError(ErrorKind.RETRYABLE, "the multipart upload vanished; restarting", code)
    return RemoteError(ErrorKind.THIS_FILE, f"S3 refused the request: {code}: {message}", code)


def classify_error(exc: BaseException, bucket: str = "") -> RemoteError:
    """Map any boto3/botocore failure to an ErrorKind and a sentence."""
    if isinstance(exc, RemoteError):
        return exc
    import botocore.exceptions as bx

    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return RemoteError(ErrorKind.FATAL, "no AWS credentials found: set AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY, run 'aws configure', or set remote.profile.")
    credentials = _credential_problem(exc)
    if credentials:
        return RemoteError(ErrorKind.FATAL, credentials, type(exc).__name__)
    if isinstance(exc, bx.ParamValidationError):
        return RemoteError(ErrorKind.THIS_FILE, "the request was refused before it was sent "
                           f"({_one_line(exc)}): check this file's key and the remote settings "
                           "(storage_class, sse, sse_kms_key_id).", "ParamValidationError")
    if isinstance(exc, bx.EndpointConnectionError):
        return RemoteError(ErrorKind.FATAL, f"cannot connect to the S3 endpoint ({exc}): check "
                           "the network and remote.endpoint_url; the next pass retries.")
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        return classify_answer(code, err.get("Message") or code, bucket)
    if isinstance(exc, (bx.ConnectionError, bx.HTTPClientError, ConnectionError, TimeoutError)):
        return RemoteError(ErrorKind.RETRYABLE, f"network error: {exc}")
    raise exc  # a bug, not an S3 answer: let it surface
