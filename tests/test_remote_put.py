"""Bucket's single PUT: the checksum travels as the SDKs send it, and a store that refuses
the algorithm header still gets the checksum (the fallback is remembered)."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any

import botocore.exceptions as bx

from reconciler.config import load
from reconciler.remote import Bucket

UNSUPPORTED = bx.ClientError(
    {"Error": {"Code": "InvalidArgument",
               "Message": "Unsupported header 'x-amz-sdk-checksum-algorithm' received for this API call."},
     "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutObject")


class Client:
    def __init__(self, refuse_algorithm: bool) -> None:
        self.refuse_algorithm = refuse_algorithm
        self.puts: list[dict[str, Any]] = []

    def put_object(self, **kw: Any) -> dict[str, Any]:
        self.puts.append({k: v for k, v in kw.items() if k != "Body"})
        if self.refuse_algorithm and "ChecksumAlgorithm" in kw:
            raise UNSUPPORTED
        return {}


def bucket(tmp_path: Path, client: Client) -> Bucket:
    (tmp_path / "cams").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text("watch_dir: cams\nbucket: my-bucket\n")
    return Bucket.from_config(client, load(path, env={}))


def put(b: Bucket, data: bytes) -> None:
    b.upload(io.BytesIO(data), "k", len(data), True)


def test_the_checksum_goes_with_its_algorithm(tmp_path: Path) -> None:
    client = Client(refuse_algorithm=False)
    put(bucket(tmp_path, client), b"clip")
    value = base64.b64encode(hashlib.sha256(b"clip").digest()).decode()
    assert client.puts == [{"Bucket": "my-bucket", "Key": "k", "ChecksumSHA256": value,
                            "ChecksumAlgorithm": "SHA256"}]


def test_a_store_refusing_the_algorithm_header_gets_the_checksum_alone(tmp_path: Path) -> None:
    client = Client(refuse_algorithm=True)
    b = bucket(tmp_path, client)
    put(b, b"clip")
    put(b, b"clip2")
    assert ["ChecksumAlgorithm" in p for p in client.puts] == [True, False, False]
    assert all("ChecksumSHA256" in p for p in client.puts)
