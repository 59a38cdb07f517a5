"""Bucket.head / same_content against the HEAD answers real stores give (recorded from
SeaweedFS 4.48 and moto 5.2's server; AWS per its documentation), with an in-memory client.

Objects here are "uploaded" with a part size camup-sync is not configured with, as happens
after multipart_chunksize_mb changes or when another tool uploaded the clip.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import botocore.exceptions as bx
import pytest

from reconciler.config import load
from reconciler.remote import Bucket
from reconciler.results import StoredObject

MIB = 1024 * 1024
PART = 6 * MIB  # not among the part sizes camup-sync would guess (8, 16, 5, 64 MiB, its own)
DATA = os.urandom(13 * MIB)  # 3 parts of 6 MiB; 5 MiB parts would also give 3


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def parts(data: bytes, part: int) -> list[bytes]:
    return [data[i:i + part] for i in range(0, len(data), part)]


def composite(data: bytes, part: int) -> str:
    return b64(hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts(data, part))).digest())


def multipart_etag(data: bytes, part: int) -> str:
    inner = b"".join(hashlib.md5(p).digest() for p in parts(data, part))
    return f'"{hashlib.md5(inner).hexdigest()}-{len(parts(data, part))}"'


def client_error(code: str, status: int) -> bx.ClientError:
    return bx.ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                          "HeadObject")


class StoreClient:
    """One multipart object `data` sent in `part`-byte parts, HEADed the way `style` answers:
    "aws" ("<b64>-N", ChecksumType), "moto" (no "-N", no ChecksumType), "no-checksum" (only
    a CRC32 of another algorithm is kept), "no-part-head" (PartNumber refused with 400)."""

    def __init__(self, data: bytes, part: int, style: str) -> None:
        self.data, self.part, self.style = data, part, style
        self.heads: list[dict[str, Any]] = []

    def head_object(self, **kw: Any) -> dict[str, Any]:
        self.heads.append(kw)
        count = len(parts(self.data, self.part))
        if kw.get("PartNumber"):
            if self.style == "no-part-head":
                raise client_error("400", 400)
            return {"ContentLength": len(parts(self.data, self.part)[0]), "PartsCount": count,
                    "ETag": multipart_etag(self.data, self.part)}
        resp: dict[str, Any] = {"ContentLength": len(self.data), "ETag": multipart_etag(self.data, self.part)}
        value = composite(self.data, self.part)
        if self.style in ("aws", "no-part-head"):
            resp.update(ChecksumSHA256=f"{value}-{count}", ChecksumType="COMPOSITE")
        elif self.style == "moto":
            resp["ChecksumSHA256"] = value
        else:
            resp["ChecksumCRC32"] = "AAAAAA=="
        return resp


@pytest.fixture
def cfg(tmp_path: Path):
    (tmp_path / "cams").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text("watch_dir: cams\nbucket: my-bucket\ntransfer:\n  multipart_threshold_mb: 5\n"
                    "  multipart_chunksize_mb: 5\n")
    return load(path, env={})


def same(cfg, client: StoreClient, local: bytes) -> bool:
    bucket = Bucket.from_config(client, cfg)
    found = bucket.head("cams/clip.mp4")
    assert found is not None
    return bucket.same_content(io.BytesIO(local), len(local), found)


@pytest.mark.parametrize("style", ["aws", "moto", "no-checksum"])
def test_an_object_sent_with_another_part_size_is_recognised(cfg, style: str) -> None:
    assert same(cfg, StoreClient(DATA, PART, style), DATA)


@pytest.mark.parametrize("style", ["aws", "moto", "no-checksum"])
def test_other_bytes_of_the_same_size_are_not(cfg, style: str) -> None:
    other = DATA[:-1] + bytes([DATA[-1] ^ 1])
    assert not same(cfg, StoreClient(DATA, PART, style), other)


def test_the_part_size_is_learned_from_part_one_not_guessed(cfg) -> None:
    client = StoreClient(DATA, PART, "moto")
    assert same(cfg, client, DATA)
    assert [h.get("PartNumber") for h in client.heads] == [None, 1]


def test_without_part_heads_common_part_sizes_are_tried(cfg) -> None:
    boto_default = StoreClient(DATA, 8 * MIB, "no-part-head")  # another tool's upload
    assert same(cfg, boto_default, DATA)
    # 6 MiB is no common size: the object cannot be told equal, so it is not trusted.
    assert not same(cfg, StoreClient(DATA, PART, "no-part-head"), DATA)


def test_a_size_mismatch_decides_without_reading(cfg) -> None:
    client = StoreClient(DATA, PART, "aws")
    bucket = Bucket.from_config(client, cfg)
    found = bucket.head("k")
    assert not bucket.same_content(io.BytesIO(b""), len(DATA) - 1, found)
    assert len(client.heads) == 1  # no part-1 HEAD either


def test_head_gives_one_composite_form_for_every_store(cfg) -> None:
    value = composite(DATA, PART)
    for style in ("aws", "moto"):
        found = Bucket.from_config(StoreClient(DATA, PART, style), cfg).head("k")
        assert found == StoredObject(len(DATA), f"{value}-3", multipart_etag(DATA, PART), 3, "k")
    found = Bucket.from_config(StoreClient(DATA, PART, "no-checksum"), cfg).head("k")
    assert found is not None and found.checksum is None and found.parts_count == 3


def test_a_single_put_object_and_a_missing_one(cfg) -> None:
    data = b"clip" * 100

    class Client:
        def head_object(self, **kw: Any) -> dict[str, Any]:
            if kw["Key"] == "gone":
                raise client_error("404", 404)
            return {"ContentLength": len(data), "ETag": f'"{hashlib.md5(data).hexdigest()}"',
                    "ChecksumSHA256": b64(hashlib.sha256(data).digest()), "ChecksumType": "FULL_OBJECT"}

    bucket = Bucket.from_config(Client(), cfg)
    assert bucket.head("gone") is None
    found = bucket.head("k")
    assert found is not None and found.parts_count is None
    assert (found.size, found.checksum) == (len(data), b64(hashlib.sha256(data).digest()))
    assert bucket.same_content(io.BytesIO(data), len(data), found)
    assert not bucket.same_content(io.BytesIO(data.upper()), len(data), found)
