"""S3 ETags as evidence when no flexible checksum is stored."""

from __future__ import annotations

import hashlib
import io

from reconciler.checksums import md5_etag_matches

MIB = 1024 * 1024


def multipart_etag(data: bytes, part: int) -> str:
    parts = [data[i:i + part] for i in range(0, len(data), part)]
    inner = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(inner).hexdigest()}-{len(parts)}"'


def test_plain_etag_is_the_md5() -> None:
    data = b"clip" * 1000
    assert md5_etag_matches(io.BytesIO(data), len(data), f'"{hashlib.md5(data).hexdigest()}"', ())
    assert not md5_etag_matches(io.BytesIO(data), len(data), '"' + "0" * 32 + '"', ())


def test_multipart_etag_matches_with_the_part_size_it_was_sent_with() -> None:
    data = bytes(range(256)) * (20 * MIB // 256)  # 20 MiB: 3 parts of 8 MiB (boto3's default)
    etag = multipart_etag(data, 8 * MIB)
    assert md5_etag_matches(io.BytesIO(data), len(data), etag, (16 * MIB, 8 * MIB))
    assert not md5_etag_matches(io.BytesIO(data), len(data), etag, (16 * MIB, 5 * MIB))
    other = data[:-1] + b"\x00"
    assert not md5_etag_matches(io.BytesIO(other), len(other), etag, (8 * MIB,))


def test_an_etag_that_is_not_an_md5_never_matches() -> None:
    data = b"x" * 100
    assert not md5_etag_matches(io.BytesIO(data), len(data), '"abc-def"', (8 * MIB,))
