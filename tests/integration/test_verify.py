"""The ledger in the bucket, and `verify` against it, the manifest and the folder."""

from __future__ import annotations

import hashlib
import json

from .faultproxy import FaultProxy
from .harness import Camp, assert_clean_stderr
from .test_faults import MULTIPART, configure

MiB = 1024 * 1024


def ledger_objects(camp: Camp) -> dict[str, bytes]:
    return {k: v for k, v in camp.objects().items() if "/_camup/ledger/" in k}


def setup(camp: Camp) -> None:
    configure(camp, extra=MULTIPART + "ledger:\n  enabled: true\n")
    camp.file("cam/a.jpg", 3000)
    camp.file("cam/b.mp4", 11 * MiB)
    assert camp.run("--once").returncode == 0
    camp.file("cam/c.jpg", 2000)
    assert camp.run("--once").returncode == 0


def test_the_ledger_chains_every_upload_across_passes(camp: Camp) -> None:
    setup(camp)

    objects = ledger_objects(camp)

    assert len(objects) == 2  # one per pass that uploaded something
    keys = sorted(objects)
    assert keys[0].startswith("cams/_camup/ledger/") and keys[0].endswith("Z-1.jsonl")
    lines = [line for k in keys for line in objects[k].decode().split("\n")[:-1]]
    records = [json.loads(line) for line in lines]
    assert sorted(r["key"] for r in records) == ["cams/cam/a.jpg", "cams/cam/b.mp4", "cams/cam/c.jpg"]
    assert records[0]["prev"] == "0" * 64
    for before, after in zip(lines, records[1:]):
        assert after["prev"] == hashlib.sha256(before.encode()).hexdigest()
    for r in records:  # the SHA-256 of the whole file, single or multipart
        local = camp.watch / r["key"].removeprefix("cams/")
        assert r["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
        assert r["size"] == local.stat().st_size and r["uploaded_at"].endswith("Z")
    assert camp.run("--once").returncode == 0  # an idle pass writes no ledger object
    assert len(ledger_objects(camp)) == 2


def test_verify_passes_on_an_intact_bucket(camp: Camp) -> None:
    setup(camp)

    plain = camp.run("verify")
    deep = camp.run("verify", "--deep", "--json")

    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "3 objects, 2 ledger objects, 3 local files checked: all hold" in plain.stdout
    assert deep.returncode == 0, deep.stdout + deep.stderr
    assert json.loads(deep.stdout)["ok"] is True
    assert_clean_stderr(plain)


def test_verify_names_a_deleted_and_an_overwritten_object(camp: Camp) -> None:
    setup(camp)
    camp.s3.delete_object(Bucket=camp.bucket, Key="cams/cam/a.jpg")
    camp.s3.put_object(Bucket=camp.bucket, Key="cams/cam/c.jpg", Body=b"x" * 2000)  # same size

    for args in (("verify",), ("verify", "--deep")):
        result = camp.run(*args)

        assert result.returncode == 1, result.stdout + result.stderr
        assert "MISSING         cams/cam/a.jpg: the object is no longer in the bucket" in result.stdout
        assert "ALTERED         cams/cam/c.jpg" in result.stdout
        assert "2 problems" in result.stdout
        assert_clean_stderr(result)


def test_verify_names_a_tampered_ledger_line(camp: Camp) -> None:
    setup(camp)
    first = sorted(ledger_objects(camp))[0]
    body = ledger_objects(camp)[first].decode().replace('"size":3000', '"size":3001')
    camp.s3.put_object(Bucket=camp.bucket, Key=first, Body=body.encode())

    result = camp.run("verify")

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"LEDGER-ALTERED  {first}: its bytes differ from what was written" in result.stdout
    assert "CHAIN" in result.stdout  # the line after the altered one no longer links
    assert_clean_stderr(result)


def test_verify_with_write_only_credentials_exits_4(pcamp: Camp, proxy: FaultProxy) -> None:
    setup(pcamp)
    proxy.deny_reads()

    result = pcamp.run("verify")

    assert result.returncode == 4, result.stdout + result.stderr
    assert "the bucket cannot be read" in result.stderr
    assert_clean_stderr(result)
