"""S3 ETags as evidence when no flexible checksum is stored."""

from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest

from reconciler.checksums import (
    BLOCK,
    FileChanged,
    checksum_for,
    checksum_matches,
    md5_etag_matches,
    part_digests,
    split_count,
)

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


# ---- flexible checksums: plain, and composite with the part size the object was sent with ----------
def sha_composite(data: bytes, part: int) -> str:
    digests = [hashlib.sha256(data[i:i + part]).digest() for i in range(0, len(data), part)]
    return f"{base64.b64encode(hashlib.sha256(b''.join(digests)).digest()).decode()}-{len(digests)}"


def test_split_count_reads_a_part_count_suffix() -> None:
    assert split_count("abc+/=-3") == ("abc+/=", 3)
    assert split_count("abc+/=") == ("abc+/=", None)
    assert split_count("abc-def") == ("abc-def", None)


def test_a_composite_checksum_matches_with_the_part_size_it_was_sent_with() -> None:
    sha = checksum_for("sha256")
    assert sha is not None
    data = os.urandom(3 * MIB + 5)
    stored = sha_composite(data, MIB)  # 4 parts
    assert checksum_matches(io.BytesIO(data), len(data), stored, sha, (2 * MIB, MIB)) is True
    assert checksum_matches(io.BytesIO(data[::-1]), len(data), stored, sha, (MIB,)) is False
    # No candidate gives 4 parts: it cannot be told, which is not "different".
    assert checksum_matches(io.BytesIO(data), len(data), stored, sha, (2 * MIB,)) is None


def test_a_plain_checksum_is_of_the_whole_object() -> None:
    sha = checksum_for("sha256")
    assert sha is not None
    data = b"clip" * 1000
    stored = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert checksum_matches(io.BytesIO(data), len(data), stored, sha, ()) is True
    assert checksum_matches(io.BytesIO(data[1:] + b"x"), len(data), stored, sha, ()) is False


def test_part_digests_hash_in_blocks_whatever_the_part_size() -> None:
    data = os.urandom(BLOCK * 2 + 7)
    part = BLOCK + 3
    expected = [hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part)]
    assert part_digests(io.BytesIO(data), len(data), part, hashlib.md5) == expected
    assert part_digests(io.BytesIO(b""), 0, MIB, hashlib.md5) == [hashlib.md5(b"").digest()]
    with pytest.raises(FileChanged):  # the file shrank under us
        part_digests(io.BytesIO(data[:-1]), len(data), part, hashlib.md5)
