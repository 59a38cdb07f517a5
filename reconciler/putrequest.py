"""A PutObject as the native client sends it (native.py): the URL botocore resolves for the
bucket, and the headers botocore would serialise from put_object's parameters. Pure but
for one presign call; no awscrt here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

_PROBE_KEY = "camup-native-endpoint"

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

