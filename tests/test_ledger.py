"""The ledger's hash chain: pure functions, and record/flush over a real manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

import pytest

from reconciler import ledger
from reconciler.ledger import GENESIS, Upload, broken_links, chain, line_of, object_bytes, object_key
from reconciler.manifest import Manifest
from reconciler.s3errors import ErrorKind, RemoteError

T = 1_764_614_096.25  # 2025-12-01T18:34:56.25Z
A = Upload("cams/a.jpg", 3000, "ab" * 32, 1_764_610_000 * 10**9, T, "v1")
B = Upload("cams/é b.mp4", 12, None, 1_764_610_001_500_000_000, T + 1)


def test_a_line_is_compact_utf8_json_with_every_field_in_order() -> None:
    line = line_of(B, GENESIS)
    assert line == ('{"key":"cams/é b.mp4","size":12,"sha256":null,'
                    '"mtime":"2025-12-01T17:26:41.500000Z","uploaded_at":"2025-12-01T18:34:57.250000Z",'
                    f'"version_id":null,"prev":"{GENESIS}"}}')
    assert "\n" not in line
    assert object_bytes([line]) == line.encode("utf-8") + b"\n"
    assert list(json.loads(line_of(A, GENESIS))) == list(ledger.FIELDS)


def test_prev_links_each_line_to_the_one_before_across_objects() -> None:
    first = chain([A], None)
    second = chain([B, A], first[-1])
    assert json.loads(first[0])["prev"] == "0" * 64
    assert json.loads(second[0])["prev"] == hashlib.sha256(first[0].encode("utf-8")).hexdigest()
    assert json.loads(second[1])["prev"] == hashlib.sha256(second[0].encode("utf-8")).hexdigest()


def numbered(*objects: list[str]) -> list[tuple[str, int, str]]:
    return [(f"obj{n}", i, line) for n, lines in enumerate(objects, 1)
            for i, line in enumerate(lines, 1)]


def test_an_intact_chain_has_no_broken_link() -> None:
    first = chain([A, B], None)
    assert broken_links(numbered(first, chain([A], first[-1]))) == []


def test_a_tampered_line_breaks_the_link_after_it() -> None:
    first = chain([A, B, A], None)
    tampered = [first[0], first[1].replace('"size":12', '"size":13'), first[2]]
    assert [(o, n) for o, n, _ in broken_links(numbered(tampered))] == [("obj1", 3)]


def test_a_removed_line_and_a_restarted_chain_are_breaks() -> None:
    first = chain([A, B, A], None)
    assert [(o, n) for o, n, _ in broken_links(numbered([first[0], first[2]]))] == [("obj1", 2)]
    restarted = chain([B], None)  # a second genesis in the middle
    assert [(o, n) for o, n, _ in broken_links(numbered(first, restarted))] == [("obj2", 1)]
    assert broken_links(numbered(["not json"]))[0][2] == "not a JSON object"


def test_object_keys_sort_in_time_order_and_name_the_host_safely() -> None:
    key = object_key("cams/", "NVR PC/1", T, 7)
    assert key == "cams/_camup/ledger/NVR_PC_1/2025-12-01/183456Z-7.jsonl"
    assert object_key("", "h", T, 1) < object_key("", "h", T + 1, 2) < object_key("", "h", T + 86400, 3)


def test_split_lines_refuses_a_missing_final_newline_and_bad_utf8() -> None:
    assert ledger.split_lines(b'{"a":1}\n{"b":2}\n') == (['{"a":1}', '{"b":2}'], None)
    assert ledger.split_lines(b'{"a":1}')[1] == "the last line does not end in a newline"
    assert ledger.split_lines(b"\xff\n")[1] == "not UTF-8"


class Store:
    def __init__(self, fail: Optional[RemoteError] = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail = fail

    def put_immutable(self, key: str, data: bytes) -> Optional[str]:
        if self.fail:
            raise self.fail
        self.objects[key] = data
        return "v"


@pytest.fixture
def m(tmp_path: Path):
    manifest = Manifest.open(tmp_path / "m.sqlite3")
    yield manifest
    manifest.close()


def test_a_pass_with_nothing_to_write_asks_for_no_store(m: Manifest) -> None:
    def no_store() -> Store:
        raise AssertionError("an idle pass must not build an S3 client for the ledger")

    assert ledger.write_pass(m, no_store, [], "cams/", "nvr", lambda: T)
    assert m.ledger_objects() == []


def test_record_and_flush_chain_passes_through_the_manifest(m: Manifest) -> None:
    store = Store()
    assert ledger.write_pass(m, lambda: store, [A, B], "cams/", "nvr", lambda: T)
    assert ledger.write_pass(m, lambda: store, [A], "cams/", "nvr", lambda: T + 60)
    objects = m.ledger_objects()
    assert [k for k, *_ in objects] == sorted(store.objects)
    assert all(written for _k, _s, written, _l in objects)
    for key, sha, _written, lines in objects:
        assert store.objects[key] == object_bytes(lines)
        assert hashlib.sha256(store.objects[key]).hexdigest() == sha
    all_lines = [(k, i, line) for k, _s, _w, lines in objects for i, line in enumerate(lines, 1)]
    assert len(all_lines) == 3 and broken_links(all_lines) == []
    assert ledger.record(m, [], "cams/", "nvr", T) is None  # nothing uploaded: no object


def test_an_unwritten_ledger_object_is_written_by_a_later_pass(m: Manifest) -> None:
    down = Store(RemoteError(ErrorKind.RETRYABLE, "S3 answered 503", "503"))
    assert not ledger.write_pass(m, lambda: down, [A], "", "nvr", lambda: T)
    assert [w for _k, _s, w, _l in m.ledger_objects()] == [False]
    up = Store()
    assert ledger.write_pass(m, lambda: up, [B], "", "nvr", lambda: T + 1)
    assert len(up.objects) == 2 and all(w for _k, _s, w, _l in m.ledger_objects())


def test_a_ledger_object_found_already_written_counts_as_written(m: Manifest) -> None:
    taken = Store(RemoteError(ErrorKind.EXISTS, "an object already exists at this key", "412"))
    assert ledger.write_pass(m, lambda: taken, [A], "", "nvr", lambda: T)
    assert m.ledger_objects()[0][2] is True
