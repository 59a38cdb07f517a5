"""End-to-end checksums: how the bytes we read are hashed for the store to verify."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import IO, Any, Callable, Optional


class FileChanged(Exception):
    """The file held fewer bytes than its size said: it changed under us."""


class SentOtherBytes(FileChanged):
    """The bytes sent do not hash to the checksum the request carried, yet the store took
    them (it verified nothing): the file changed during the send. `answer` is the store's."""

    def __init__(self, message: str, answer: object = None):
        super().__init__(message)
        self.answer = answer


class ChangedAfterPublish(FileChanged):
    """The file changed while it was sent and the object that holds those bytes could not
    be removed: the key holds our (wrong) object until the next pass overwrites it."""


@dataclass(frozen=True)
class Checksum:
    """One flexible-checksum algorithm: how to hash, and the S3 fields it travels in."""

    name: str  # ChecksumAlgorithm value
    new: Callable[[], Any]

    @property
    def field(self) -> str:
        return "Checksum" + self.name

    def of(self, data: bytes) -> bytes:
        h = self.new()
        h.update(data)
        return h.digest()


class _Crc32c:
    def __init__(self) -> None:
        import crc32c  # optional; config validation checked it is installed

        self._value = 0
        self._fn = crc32c.crc32c

    def update(self, data: bytes) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


def checksum_for(setting: str) -> Optional[Checksum]:
    if setting == "off":
        return None
    if setting == "crc32c":
        return Checksum("CRC32C", _Crc32c)
    return Checksum("SHA256", hashlib.sha256)


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def read_exact(fh: IO[bytes], n: int) -> bytes:
    return _whole(fh.read(n), n)


def read_exact_at(read_at: Callable[[int, int], bytes], offset: int, n: int) -> bytes:
    """n bytes at offset, or FileChanged: a file that shrank is not the one planned."""
    return _whole(read_at(offset, n), n)


def _whole(data: bytes, n: int) -> bytes:
    if len(data) != n:
        raise FileChanged(f"read {len(data)} bytes where {n} were expected")
    return data


def composite(checksum: Checksum, digests: list[bytes]) -> str:
    """A multipart object's checksum as S3 reports it: hash of the part hashes, "-N"."""
    return f"{b64(checksum.of(b''.join(digests)))}-{len(digests)}"


BLOCK = 1 << 20  # hashing reads this much at a time: memory stays flat whatever the part size


def parts_for(size: int, part: int) -> int:
    """How many parts of `part` bytes an upload of `size` bytes has."""
    return max(1, -(-size // part))


def part_digests(fh: IO[bytes], size: int, part: int, new: Callable[[], Any]) -> list[bytes]:
    """The digest of each `part`-byte slice of the first `size` bytes of fh (from offset 0)."""
    fh.seek(0)
    digests = []
    for offset in range(0, max(size, 1), part):
        h, left = new(), min(part, size - offset)
        while left > 0:
            block = read_exact(fh, min(BLOCK, left))
            h.update(block)
            left -= len(block)
        digests.append(h.digest())
    return digests


def split_count(value: str) -> tuple[str, Optional[int]]:
    """"<value>-N" -> (value, N); a value without a part count -> (value, None). Neither
    base64 nor hex uses "-", so a suffix is always a part count."""
    head, sep, count = value.rpartition("-")
    return (head, int(count)) if sep and count.isdigit() else (value, None)


def checksum_matches(fh: IO[bytes], size: int, stored: str, checksum: Checksum,
                     part_sizes: tuple[int, ...]) -> Optional[bool]:
    """Do these bytes have this stored checksum: plain, or composite "<b64>-N" computed with
    each candidate part size that gives N parts? None when it cannot be told: a composite
    for which no candidate part size gives its part count."""
    value, count = split_count(stored)
    if count is None:
        return b64(part_digests(fh, size, max(size, 1), checksum.new)[0]) == value
    candidates = [p for p in dict.fromkeys(part_sizes) if p > 0 and parts_for(size, p) == count]
    if not candidates:
        return None
    return any(composite(checksum, part_digests(fh, size, p, checksum.new)) == stored
               for p in candidates)


def md5_etag_matches(fh: IO[bytes], size: int, etag: str, part_sizes: tuple[int, ...]) -> bool:
    """Do these bytes have this S3 ETag? For objects stored without a flexible checksum.

    A plain ETag is the MD5 of the object; "<md5 of part md5s>-N" is a multipart upload's,
    which matches only with the part size it was sent with: each candidate that gives N
    parts is tried. An ETag that is neither (SSE-KMS, some stores) never matches.
    """
    etag = etag.strip('"')

    def read_at(offset: int, n: int) -> bytes:
        fh.seek(offset)
        return fh.read(n)

    if "-" not in etag:  # S3's ETag, not security; hashed block by block (bounded memory)
        return digest_range(read_at, 0, size, hashlib.md5).hex() == etag
    head, _, count = etag.rpartition("-")
    if not count.isdigit():
        return False
    for part in dict.fromkeys(p for p in part_sizes if p > 0 and -(-size // p) == int(count)):
        digests = b"".join(digest_range(read_at, off, min(part, size - off), hashlib.md5)
                           for off in range(0, size, part))
        if hashlib.md5(digests).hexdigest() == head:
            return True
    return False


def digest_range(read_at: Callable[[int, int], bytes], offset: int, length: int,
                 new: Callable[[], Any], block: int = 64 * 1024) -> bytes:
    """Hash bytes [offset, offset+length) of a file read block by block (the hash pass
    before a streamed send: memory stays one block, whatever the size)."""
    h = new()
    for at in range(offset, offset + length, block):
        h.update(read_exact_at(read_at, at, min(block, offset + length - at)))
    return h.digest()


# A store's "the body did not match the checksum you sent": the bytes changed between
# the hash pass and the send (or were damaged on the way); handled like a changed file.
DIGEST_MISMATCH = frozenset({"BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch",
                             "XAmzContentSHA256Mismatch", "InvalidChecksum"})

MD5 = Checksum("MD5", hashlib.md5)  # for Content-MD5 when remote.checksum is off
