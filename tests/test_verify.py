"""verify's checks over a fake store: one Problem per thing missing or altered."""

from __future__ import annotations

import hashlib
from typing import Callable, Optional

import pytest

from reconciler.ledger import Upload, chain, object_bytes, sha256_hex
from reconciler.models import EntryState, ManifestEntry
from reconciler.results import StoredObject
from reconciler.s3errors import ErrorKind, RemoteError
from reconciler.verify import Audit, Unreadable, check_ledger, check_object

ROW = ManifestEntry("/w", "a.mp4", "cam/a.mp4", EntryState.UPLOADED, size=5, checksum="c1")


class Store:
    def __init__(self, objects: dict[str, tuple[bytes, Optional[str]]], error: Optional[RemoteError] = None):
        self.objects, self.error = objects, error

    def head(self, key: str) -> Optional[StoredObject]:
        if self.error:
            raise self.error
        obj = self.objects.get(key)
        return None if obj is None else StoredObject(len(obj[0]), obj[1], "")

    def local_checksum(self, fh, size: int) -> Optional[str]:
        return None

    def get_bytes(self, key: str) -> Optional[bytes]:
        obj = self.objects.get(key)
        return None if obj is None else obj[0]

    def download_hashes(self, key: str, sink: Callable[[bytes], None], chunk: int = 0) -> bool:
        obj = self.objects.get(key)
        if obj is not None:
            sink(obj[0])
        return obj is not None


@pytest.mark.parametrize(("objects", "kind"), [
    ({}, "missing"),
    ({"cam/a.mp4": (b"abcdef", "c1")}, "size"),
    ({"cam/a.mp4": (b"abcde", "c2")}, "altered"),
    ({"cam/a.mp4": (b"abcde", None)}, "altered"),  # replaced by an object without our checksum
])
def test_check_object_names_what_is_wrong(objects: dict, kind: str) -> None:
    (problem,) = check_object(Store(objects), ROW, False, None)
    assert (problem.kind, problem.key) == (kind, "cam/a.mp4")


def test_an_intact_object_and_its_deep_hash_hold() -> None:
    store = Store({"cam/a.mp4": (b"abcde", "c1")})
    assert check_object(store, ROW, False, None) == []
    assert check_object(store, ROW, True, hashlib.sha256(b"abcde").hexdigest()) == []
    (problem,) = check_object(store, ROW, True, hashlib.sha256(b"other").hexdigest())
    assert problem.kind == "altered" and "SHA-256" in problem.detail


def test_a_denied_read_makes_the_store_unreadable() -> None:
    with pytest.raises(Unreadable, match="the bucket cannot be read"):
        check_object(Store({}, RemoteError(ErrorKind.THIS_FILE, "access denied", "403")), ROW, False, None)


def ledger(*groups: list[Upload]) -> list[tuple[str, str, bool, list[str]]]:
    out, last = [], None
    for n, uploads in enumerate(groups, 1):
        lines = chain(uploads, last)
        last = lines[-1]
        out.append((f"l/{n}.jsonl", sha256_hex(object_bytes(lines)), True, lines))
    return out


U = [Upload(f"cam/{i}.mp4", i, "00" * 32, 0, 0.0) for i in range(1, 5)]


def test_a_missing_and_a_tampered_ledger_object_are_named_with_the_line() -> None:
    objects = ledger(U[:2], U[2:])
    first = object_bytes(objects[0][3]).replace(b'"size":1', b'"size":9')
    audit = Audit()
    check_ledger(Store({"l/1.jsonl": (first, None)}), objects, audit)
    kinds = [(p.kind, p.key, p.detail) for p in audit.problems]
    assert ("ledger-missing", "l/2.jsonl", "the ledger object is gone") in kinds
    assert any(k == "ledger-altered" and "line 1" in d for k, _, d in kinds)
    assert ("chain", "l/1.jsonl", "line 2: prev does not match the line before it (a line was "
            "altered, removed or inserted)") in kinds


def test_an_intact_ledger_holds() -> None:
    objects = ledger(U[:2], U[2:])
    store = Store({k: (object_bytes(lines), None) for k, _s, _w, lines in objects})
    audit = Audit()
    check_ledger(store, objects, audit)
    assert audit.problems == [] and audit.ledger_objects == 2
