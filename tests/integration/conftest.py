"""One real SeaweedFS for the whole session, and a per-test camera folder + bucket.

If the server cannot start, every integration test errors: they never skip to green.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from seaweed import SeaweedServer

from .harness import Camp, s3_client


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory):
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def camp(seaweed: SeaweedServer, tmp_path: Path) -> Camp:
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3 = s3_client(seaweed.endpoint)
    s3.create_bucket(Bucket=bucket)
    c = Camp(tmp_path, seaweed.endpoint, bucket, s3)
    c.watch.mkdir()
    c.write_config()
    return c
