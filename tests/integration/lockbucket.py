"""A lock-enabled bucket for a test, and how to drop it although its objects are locked.

SeaweedFS enforces retention (no bypass without an admin identity), so the objects are
removed through the filer's HTTP API on loopback, after which the bucket can go. moto
honours BypassGovernanceRetention, so there each version is deleted with it.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Union

import pytest

from seaweed import SeaweedServer

from .harness import Camp, s3_client
from .stores import MotoServer


def drop_locked_bucket(server: SeaweedServer, s3, bucket: str) -> None:
    filer = f"http://127.0.0.1:{server.ports[4]}"
    with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
        listing = urllib.request.Request(f"{filer}/buckets/{bucket}/?limit=10000",
                                         headers={"Accept": "application/json"})
        with urllib.request.urlopen(listing, timeout=30) as resp:
            entries = json.loads(resp.read()).get("Entries") or []
        for entry in entries:
            path = urllib.parse.quote(entry["FullPath"])
            delete = urllib.request.Request(f"{filer}{path}?recursive=true&ignoreRecursiveError=true",
                                            method="DELETE")
            urllib.request.urlopen(delete, timeout=30).close()
    with contextlib.suppress(Exception):
        s3.delete_bucket(Bucket=bucket)


def drop_locked_bucket_bypassing(s3, bucket: str) -> None:
    """Where the store lets a GOVERNANCE lock be bypassed (moto), version by version."""
    with contextlib.suppress(Exception):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"],
                                 BypassGovernanceRetention=True)
    with contextlib.suppress(Exception):
        s3.delete_bucket(Bucket=bucket)


@pytest.fixture
def lock_camp(store: Union[SeaweedServer, MotoServer], tmp_path: Path) -> Iterator[Camp]:
    """`camp`, but its bucket has Object Lock enabled (and so versioning); on every store."""
    bucket = f"l-{uuid.uuid4().hex[:12]}"
    s3 = s3_client(store.endpoint)
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    c = Camp(tmp_path, store.endpoint, bucket, s3)
    c.watch.mkdir()
    c.write_config()
    yield c
    if isinstance(store, SeaweedServer):
        drop_locked_bucket(store, s3, bucket)
    else:
        drop_locked_bucket_bypassing(s3, bucket)
