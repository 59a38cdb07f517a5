"""End-to-end checksums: how the bytes we read are hashed for the store to verify."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import IO, Any, Callable, Optional


class FileChanged(Exception):
    """The file held fewer bytes than its size said: it changed under us."""


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
    data = fh.read(n)
    if len(data) != n:
        raise FileChanged(f"read {len(data)} bytes where {n} were expected")
    return data


def composite(checksum: Checksum, digests: list[bytes]) -> str:
    """A multipart object's checksum as S3 reports it: hash of the part hashes, "-N"."""
    return f"{b64(checksum.of(b''.join(digests)))}-{len(digests)}"
