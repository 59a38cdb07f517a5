"""Benchmarks: the figures the README and the issue notes quote, measured in one run.

    scripts/bench [--files N] [--small M] [--procs P]

1. Idle pass over N already-uploaded files vs. a bare os.scandir walk of the same tree
   (median of 5 each, and their ratio), and the number of S3 requests the idle pass made.
2. Client CPU per small file: a camup-sync pass uploading M alert-sized JPEGs (40 KB) vs.
   boto3's upload_file and put_object loops over the same files, against a local SeaweedFS.
3. The planner alone over N files (pure function, no I/O).
4. One open-file sweep (psutil) with P extra idle processes on the machine.

Absolute times on a shared 2-core machine mean little; the ratios are the point.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from seaweed import SeaweedServer, clean_aws_env

os.environ.clear()
os.environ.update(clean_aws_env())

import boto3  # imported after the environment is made loopback-only
from botocore.config import Config as BotoConfig

from reconciler import config as config_mod
from reconciler import logs
from reconciler.models import LocalFile
from reconciler.observe import World, policy_of
from reconciler.passes import run_pass
from reconciler.plan import Snapshot, plan
from reconciler.probe import find_writers
from reconciler.remote import Bucket, make_client


def median_of(fn: Callable[[], Any], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def make_tree(root: Path, n: int, size: int) -> None:
    payload = os.urandom(size)
    old = time.time() - 3600
    for i in range(n):
        path = root / f"cam{i % 8}" / f"{i // 1000:03d}" / f"Cam.{i:07d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        os.utime(path, (old, old))


def walk(root: str) -> int:
    count = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    e.stat(follow_symlinks=False)
                    count += 1
    return count


class CountingWorld(World):
    """The real world, counting every S3 request made through the client."""

    requests = 0

    def get_bucket(self, cfg: config_mod.Config) -> Bucket:
        if self._bucket is None:
            client = make_client(cfg)
            client.meta.events.register("before-send.s3", self._count)
            self._bucket = Bucket(client, cfg)
        return self._bucket

    def _count(self, **_: Any) -> None:
        CountingWorld.requests += 1


def cfg_for(root: Path, endpoint: str, bucket: str) -> config_mod.Config:
    return config_mod.from_mapping(
        {"watch_dir": "watch", "bucket": bucket, "prefix": "bench/",
         "remote": {"endpoint_url": endpoint},
         "stability": {"settle_seconds": 0, "min_age_seconds": 1, "check_open_files": False}},
        root, env={})


def bench_idle(work: Path, endpoint: str, s3: Any, n: int) -> None:
    root = work / "idle"
    make_tree(root / "watch", n, 100)
    s3.create_bucket(Bucket="bench-idle")
    cfg = cfg_for(root, endpoint, "bench-idle")
    first = run_pass(cfg, World())
    assert first.uploaded == n, first
    CountingWorld.requests = 0
    idle = median_of(lambda: run_pass(cfg, CountingWorld()))
    bare = median_of(lambda: walk(str(root / "watch")))
    print(f"idle pass, {n} files uploaded already: median {idle * 1000:.0f} ms; bare scandir walk "
          f"{bare * 1000:.0f} ms; ratio {idle / bare:.1f}x; S3 requests in 5 idle passes: "
          f"{CountingWorld.requests}")


def bench_small_files(work: Path, endpoint: str, s3: Any, m: int) -> None:
    root = work / "small"
    make_tree(root / "watch", m, 40_000)
    files = sorted(p for p in (root / "watch").rglob("*.jpg"))
    for name in ("bench-camup", "bench-put", "bench-upload-file"):
        s3.create_bucket(Bucket=name)
    cfg = cfg_for(root, endpoint, "bench-camup")
    client = make_client(cfg)

    def cpu(fn: Callable[[], Any]) -> tuple[float, float]:
        c, w = time.process_time(), time.perf_counter()
        fn()
        return (time.process_time() - c) / m * 1000, (time.perf_counter() - w) / m * 1000

    def put_loop() -> None:
        for p in files:
            with open(p, "rb") as fh:
                client.put_object(Bucket="bench-put", Key=p.name, Body=fh.read())

    def upload_file_loop() -> None:
        for p in files:
            client.upload_file(str(p), "bench-upload-file", p.name)

    camup_cpu, camup_wall = cpu(lambda: run_pass(cfg, World(bucket=lambda c: Bucket(client, c))))
    put_cpu, put_wall = cpu(put_loop)
    uf_cpu, uf_wall = cpu(upload_file_loop)
    print(f"{m} files of 40 KB, client CPU per file (wall per file): camup-sync pass "
          f"{camup_cpu:.2f} ms ({camup_wall:.2f} ms, 4 files in flight); put_object loop "
          f"{put_cpu:.2f} ms ({put_wall:.2f} ms); upload_file loop {uf_cpu:.2f} ms ({uf_wall:.2f} ms); "
          f"camup/put_object CPU ratio {camup_cpu / put_cpu:.2f}")


def bench_plan(n: int) -> None:
    root = "/watch"
    local = [LocalFile(root, f"cam{i % 8}/Cam.{i:07d}.jpg", 40_000, 1_700_000_000_000_000_000 + i, 1, i + 1)
             for i in range(n)]
    cfg = config_mod.from_mapping({"watch_dir": root, "bucket": "bench"}, Path("/"), env={})
    policy = policy_of(cfg)
    t = median_of(lambda: plan(Snapshot(local, {}), 1_800_000_000.0, policy), runs=3)
    print(f"plan() over {n} new files: median {t * 1000:.0f} ms ({t / n * 1e6:.1f} us per file)")


def bench_sweep(procs: int) -> None:
    sleepers = [subprocess.Popen(["sleep", "300"]) for _ in range(procs)]
    try:
        with tempfile.NamedTemporaryFile() as fh:
            st = os.stat(fh.name)
            candidates = {(st.st_dev, st.st_ino): "x"}
            result = find_writers(candidates)
            t = median_of(lambda: find_writers(candidates))
        print(f"open-file sweep over {result.processes} processes ({procs} extra idle): median "
              f"{t * 1000:.0f} ms, complete={result.complete}")
    finally:
        for p in sleepers:
            p.kill()
        for p in sleepers:
            p.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--small", type=int, default=500)
    ap.add_argument("--procs", type=int, default=300)
    args = ap.parse_args()
    logs.setup(level="WARNING")
    work = Path(tempfile.mkdtemp(prefix="camup-bench-"))
    server = SeaweedServer(work / "s3").start()
    try:
        s3 = boto3.client("s3", endpoint_url=server.endpoint,
                          config=BotoConfig(s3={"addressing_style": "path"}))
        bench_idle(work, server.endpoint, s3, args.files)
        bench_small_files(work, server.endpoint, s3, args.small)
        bench_plan(100_000)
        bench_sweep(args.procs)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
