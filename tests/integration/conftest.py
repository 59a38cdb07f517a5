"""Every integration test runs against two real S3 servers, one of each started once per
session: SeaweedFS and moto's server (`store`, parametrized). Per test: a camera folder and
a bucket of its own, emptied and deleted afterwards.

If a server cannot start, every integration test on it errors: they never skip to green.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Union

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from seaweed import SeaweedServer

from .faultproxy import FaultProxy
from .harness import Camp, s3_client
from .stores import MotoServer

Server = Union[SeaweedServer, MotoServer]
STORES = ["seaweedfs", "moto"]  # the fixture names of the servers below


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", params=STORES)
def store(request: pytest.FixtureRequest) -> Server:
    """The S3 server of this run of a test: each test runs once per store (ids: [seaweedfs],
    [moto]); a server starts only when a selected test needs it."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def camp(store: Server, tmp_path: Path) -> Iterator[Camp]:
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3 = s3_client(store.endpoint)
    s3.create_bucket(Bucket=bucket)
    c = Camp(tmp_path, store.endpoint, bucket, s3)
    c.watch.mkdir()
    c.write_config()
    yield c
    _drop_bucket(s3, bucket)


def _drop_bucket(s3, bucket: str) -> None:
    """Empty and delete a test's bucket: SeaweedFS gives every bucket its own volumes, and
    the session server has a fixed number (-volume.max), so kept buckets would run it out;
    moto keeps every object in memory."""
    with contextlib.suppress(BotoCoreError, ClientError):
        for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)


@pytest.fixture
def proxy(store: Server):
    """A fault-injecting proxy in front of this test's server, for one test."""
    p = FaultProxy("127.0.0.1", store.s3_port).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def pcamp(camp: Camp, proxy: FaultProxy) -> Camp:
    """`camp` with camup-sync talking through `proxy` (the test's own checks go direct)."""
    camp.endpoint = proxy.endpoint
    camp.write_config()
    return camp

