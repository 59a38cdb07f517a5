"""The raw-boto3 contender of scripts/bench: the ceiling for a Python client.

    bench_boto3.py upload SRC BUCKET ENDPOINT   # every file, one shared TransferManager
    bench_boto3.py idle SRC BUCKET ENDPOINT     # list the bucket, stat every file, send nothing new

Runs as its own process so its time, CPU and memory are measured like every other tool's.
"""

from __future__ import annotations

import os
import sys

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config

PREFIX = "bench/"


def files(src: str) -> list[tuple[str, str, int]]:
    out, stack = [], [src]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    out.append((e.path, PREFIX + os.path.relpath(e.path, src).replace(os.sep, "/"),
                                e.stat(follow_symlinks=False).st_size))
    return out


def main(mode: str, src: str, bucket: str, endpoint: str) -> int:
    client = boto3.client("s3", endpoint_url=endpoint, config=Config(
        s3={"addressing_style": "path"}, max_pool_connections=16))
    local = files(src)
    if mode == "idle":
        remote = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
            remote.update((o["Key"], o["Size"]) for o in page.get("Contents", ()))
        local = [f for f in local if remote.get(f[1]) != f[2]]
    cfg = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024,
                         max_concurrency=10)
    with create_transfer_manager(client, cfg) as manager:
        futures = [manager.upload(path, bucket, key) for path, key, _size in local]
        for f in futures:
            f.result()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
