"""scripts/bench: camup-sync side by side with raw boto3, rclone, aws s3 sync and `find`.

    scripts/bench [--quick] [--runs N] [--many N] [--no-million] [--out FILE]

One command: starts SeaweedFS on loopback, writes deterministic datasets (seeded random
bytes), runs every tool on each, and prints medians with (min-max) over --runs runs and the
ratios issue 10 names; writes bench/RESULTS.md. Every tool runs as a child process; wall
time, client CPU and peak RSS come from the child's rusage (wait4), S3 requests from
SeaweedFS's own per-bucket request counter (its Prometheus metrics), so no tool is slowed
by a counting proxy.

Datasets: mixed (clips and alert JPEGs), many (20,000 x 40 KB by default), and idle trees
of 100,000 and 1,000,000 files in an NVR layout (camera/day/hour). The idle trees are not
uploaded: their manifest is built through the package's own API (scan() the tree, then
Manifest.record_uploaded() every file as uploaded, and the listing marked done), which is
exactly the state a million uploads would leave, since an idle pass makes no request.

rclone and aws s3 sync run only when installed (Debian: `apt-get install rclone awscli`);
the bench says so and runs without them. Performance targets live here and in the README,
never in a timed test.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import benchlib as bl

from seaweed import SeaweedServer, clean_aws_env, free_ports, weed_binary

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
FAST = "stability:\n  min_age_seconds: 0\n  settle_seconds: 0\n"  # new files: no wait (as the issue)


@dataclass
class Bench:
    work: Path
    server: SeaweedServer
    runs: int
    env: dict[str, str]
    results: dict[str, dict[str, bl.Series]] = field(default_factory=dict)  # dataset -> tool -> series
    notes: list[str] = field(default_factory=list)

    def requests(self, bucket: str) -> int:
        url = f"http://127.0.0.1:{self.server.metrics_port}/metrics"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=10) as resp:
            return bl.requests_for(resp.read().decode(), bucket)

    def record(self, dataset: str, tool: str, sample: bl.Sample) -> None:
        self.results.setdefault(dataset, {}).setdefault(tool, bl.Series()).samples.append(sample)

    def measured(self, cmd: list[str], bucket: str = "", env: Optional[dict[str, str]] = None) -> bl.Sample:
        before = self.requests(bucket) if bucket else 0
        sample = bl.run_measured(cmd, env or self.env, cwd=self.work)
        if bucket:
            time.sleep(0.2)  # the counter is updated as each answer is written
            sample.requests = self.requests(bucket) - before
        return sample


# ---- the tools ---------------------------------------------------------------------------------
def camup_config(b: Bench, src: Path, bucket: str, extra: str = "", folder_name: str = "") -> Path:
    folder = b.work / "camup" / (folder_name or bucket)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "config.yaml"
    cfg.write_text(f"watch_dir: {src}\nbucket: {bucket}\nprefix: bench/\nremote:\n"
                   f"  endpoint_url: {b.server.endpoint}\n{extra}logging:\n  level: WARNING\n",
                   encoding="utf-8")
    return cfg


def camup_cmd(cfg: Path, *extra: str) -> list[str]:
    return [PY, "-m", "reconciler", "--config", str(cfg), "--once", *extra]


def rclone_env(b: Bench) -> dict[str, str]:
    env = dict(b.env)
    empty = b.work / "rclone.conf"
    empty.touch()
    env.update(RCLONE_CONFIG=str(empty), RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Other",
               RCLONE_CONFIG_BENCH_ENDPOINT=b.server.endpoint, RCLONE_CONFIG_BENCH_REGION="us-east-1",
               RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=env["AWS_ACCESS_KEY_ID"],
               RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=env["AWS_SECRET_ACCESS_KEY"])
    return env


Tool = Callable[[Bench, Path, str, bool], bl.Sample]  # (bench, src, bucket, idle) -> sample


def tool_camup(b: Bench, src: Path, bucket: str, idle: bool) -> bl.Sample:
    return b.measured(camup_cmd(camup_config(b, src, bucket, FAST)), bucket)


BOTOCORE_ONLY = "camup-sync, botocore only (native_client: off)"


def tool_camup_botocore(b: Bench, src: Path, bucket: str, idle: bool) -> bl.Sample:
    """camup-sync with every request through botocore: what the native client changes."""
    extra = FAST + "transfer:\n  native_client: off\n"
    return b.measured(camup_cmd(camup_config(b, src, bucket, extra)), bucket)


def tool_boto3(b: Bench, src: Path, bucket: str, idle: bool) -> bl.Sample:
    cmd = [PY, str(ROOT / "scripts" / "bench_boto3.py"), "idle" if idle else "upload", str(src),
           bucket, b.server.endpoint]
    return b.measured(cmd, bucket)


def tool_rclone(b: Bench, src: Path, bucket: str, idle: bool) -> bl.Sample:
    return b.measured(["rclone", "copy", str(src), f"bench:{bucket}/bench"], bucket, rclone_env(b))


def tool_aws(b: Bench, src: Path, bucket: str, idle: bool) -> bl.Sample:
    cmd = ["aws", "s3", "sync", str(src), f"s3://{bucket}/bench", "--endpoint-url", b.server.endpoint,
           "--only-show-errors"]
    return b.measured(cmd, bucket)


def tool_find(b: Bench, src: Path, bucket: str, idle: bool) -> bl.Sample:
    if idle:  # the floor of an idle pass: stat every file
        return b.measured(["find", str(src), "-type", "f", "-printf", "%s %T@\n"])
    return b.measured(["find", str(src), "-type", "f", "-exec", "cat", "{}", "+"])  # read every byte


def available_tools(b: Bench) -> dict[str, Tool]:
    tools: dict[str, Tool] = {"camup-sync": tool_camup,
                              BOTOCORE_ONLY: tool_camup_botocore,
                              "raw boto3 (one TransferManager)": tool_boto3}
    if shutil.which("rclone"):
        tools["rclone copy"] = tool_rclone
    else:
        b.notes.append("rclone is not installed: its rows are missing (Debian: apt-get install rclone).")
    if shutil.which("aws"):
        tools["aws s3 sync"] = tool_aws
    else:
        b.notes.append("aws is not installed: its rows are missing (Debian: apt-get install awscli).")
    tools["floor: find stat / cat"] = tool_find
    return tools


# ---- one dataset, every tool ------------------------------------------------------------------------
def bucket_name(tool: str, dataset: str, run: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", tool.lower()).strip("-")[:30].strip("-")
    return f"{slug}-{dataset}-{run}"[:63]


def first_and_idle(b: Bench, data: bl.Dataset, tools: dict[str, Tool], s3) -> None:
    """Each run lets every tool go once, in turn (A B C, A B C, ...), so a machine or a
    server that slows down over the bench weighs on every tool alike; each first pass
    starts on a new bucket, the one before it already dropped. After the last run each
    tool's idle passes go over what it just uploaded."""
    src = b.work / "data" / data.name
    bl.write_tree(src, data)
    say(f"{data.name}: {len(data.files)} files, {data.total_bytes / bl.MB:.0f} MB written")
    for run in range(b.runs):
        for name, tool in tools.items():
            bucket = bucket_name(name, data.name, run) if tool is not tool_find else ""
            if bucket:
                s3.create_bucket(Bucket=bucket)
            b.record(data.name, name, tool(b, src, bucket, False))
            if run == b.runs - 1:  # nothing new: the idle passes over what it uploaded
                for _ in range(b.runs):
                    b.record(data.name + " idle", name, tool(b, src, bucket, True))
            if bucket:
                drop_bucket(s3, bucket)
    for name in tools:
        say(f"  {name}: first pass {bl.with_range(b.results[data.name][name].values('wall'))} s, "
            f"idle {bl.with_range(b.results[data.name + ' idle'][name].values('wall'))} s")
    shutil.rmtree(src)


def drop_bucket(s3, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    s3.delete_bucket(Bucket=bucket)


# ---- the idle trees: manifest built through the package's API ---------------------------------------
def build_manifest(cfg_path: Path) -> int:
    """The state a first pass over the tree leaves: every file recorded uploaded, the
    listing done. Through the package's own API (scan + Manifest), no upload."""
    from reconciler.config import load
    from reconciler.manifest import Manifest
    from reconciler.observe import LAST_LISTING
    from reconciler.passes import target_of
    from reconciler.scan import Filters, scan

    cfg = load(cfg_path)
    m = Manifest.open(cfg.manifest_path, target_of(cfg))
    total = 0
    try:
        for watch in cfg.watch_dirs:
            files = scan(watch, Filters(cfg.extensions, cfg.exclude, cfg.recursive)).files
            for i in range(0, len(files), 50_000):
                m.record_uploaded([(f, watch.prefix + f.rel, None) for f in files[i:i + 50_000]], time.time())
            total += len(files)
        m.set_meta(LAST_LISTING, repr(time.time()))
    finally:
        m.close()
    return total


def idle_tree(b: Bench, count: int, s3=None) -> None:
    data = bl.nvr_tree(count)
    src = b.work / "data" / data.name
    t = time.perf_counter()
    bl.write_tree(src, data)
    bucket = f"idle-{count}"
    cfg = camup_config(b, src, bucket)
    built = build_manifest(cfg)
    say(f"{data.name}: {count} files in {len(bl.all_folders(r.rpartition('/')[0] for r, _ in data.files))} "
        f"folders written, manifest of {built} uploaded rows built through the API "
        f"({time.perf_counter() - t:.0f} s)")
    name = data.name
    b.record(name + " full sweep", "camup-sync --once --full", b.measured(camup_cmd(cfg, "--full"), bucket))
    for _ in range(b.runs):
        b.record(name, "camup-sync --once (idle)", b.measured(camup_cmd(cfg), bucket))
        b.record(name, "floor: find stat walk", b.measured(["find", str(src), "-type", "f", "-printf",
                                                            "%s %T@\n"]))
    say(f"  camup-sync idle {bl.with_range(b.results[name]['camup-sync --once (idle)'].values('wall'))} s, "
        f"find {bl.with_range(b.results[name]['floor: find stat walk'].values('wall'))} s, "
        f"--full {b.results[name + ' full sweep']['camup-sync --once --full'].median('wall'):.2f} s")
    if s3 is not None:
        lost_manifest(b, s3, src, data)
    shutil.rmtree(src)


# ---- a lost manifest over a bucket of many objects --------------------------------------------------
def fill_bucket(b: Bench, s3, src: Path, data: bl.Dataset, bucket: str) -> None:
    """Every file of the tree as an object, with the SHA-256 camup-sync would have stored,
    put by a pool of raw boto3 calls (the setup is not measured)."""
    import base64
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    def put(rel: str) -> None:
        body = (src / rel).read_bytes()
        s3.put_object(Bucket=bucket, Key="bench/" + rel, Body=body,
                      ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode())

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(put, (rel for rel, _size in data.files)))


def lost_manifest(b: Bench, s3, src: Path, data: bl.Dataset) -> None:
    """What losing the manifest costs over a bucket of len(data) objects: a dry run shows the
    listing alone (its pages, nothing per object); the real pass adopts every file, each
    after a HEAD that checks the stored checksum against the local bytes."""
    bucket = f"listing-{len(data.files)}"
    s3.create_bucket(Bucket=bucket)
    t = time.perf_counter()
    fill_bucket(b, s3, src, data, bucket)
    say(f"{bucket}: {len(data.files)} objects put ({time.perf_counter() - t:.0f} s)")
    name = f"listing-{len(data.files)}"
    for run in range(b.runs):
        cfg = camup_config(b, src, bucket, folder_name=f"{bucket}-dry-{run}")
        b.record(name, "camup-sync --once --dry-run, no manifest (the listing)",
                 b.measured(camup_cmd(cfg, "--dry-run"), bucket))
    cfg = camup_config(b, src, bucket, folder_name=f"{bucket}-adopt")
    b.record(name, "camup-sync --once, no manifest (listing + adopting every file)",
             b.measured(camup_cmd(cfg), bucket))
    say(f"  listing {bl.with_range(b.results[name][next(iter(b.results[name]))].values('wall'))} s")
    drop_bucket(s3, bucket)


def listing_table(b: Bench, counts: list[int]) -> str:
    rows = []
    for count in counts:
        for what, series in b.results.get(f"listing-{count}", {}).items():
            rows.append([f"{count:,}", what, bl.with_range(series.values("wall")) + " s",
                         bl.with_range(series.values("cpu")) + " s",
                         bl.with_range(series.values("rss_mb"), "{:.0f}") + " MB",
                         f"{series.median('requests'):.0f}"])
    return bl.table(["objects", "what", "wall", "client CPU", "peak RSS", "S3 requests"], rows)


# ---- output ----------------------------------------------------------------------------------------
def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def machine_line() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, {mem:.0f} GB RAM"


def versions(b: Bench) -> str:
    import boto3
    import botocore

    from reconciler import __version__

    def first_line(cmd: list[str]) -> str:
        if not (shutil.which(cmd[0]) or os.path.exists(cmd[0])):
            return "not installed"
        out = subprocess.run(cmd, capture_output=True, text=True, env=b.env)
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"

    return (f"camup-sync {__version__}, Python {platform.python_version()}, boto3 {boto3.__version__}, "
            f"botocore {botocore.__version__}, awscrt {importlib.metadata.version('awscrt')}, "
            f"SeaweedFS {first_line([weed_binary(), 'version'])}, "
            f"rclone: {first_line(['rclone', 'version'])}, aws: {first_line(['aws', '--version'])}")


def first_pass_table(b: Bench, mixed: bl.Dataset, many: bl.Dataset) -> str:
    rows = []
    for tool in b.results.get("mixed", {}):
        m, n = b.results["mixed"][tool], b.results["many"][tool]
        idle = b.results["many idle"][tool]
        rows.append([tool, bl.with_range(m.values("wall")) + " s",
                     f"{mixed.total_bytes / bl.MB / m.median('wall'):.0f} MB/s",
                     bl.with_range(n.values("wall")) + " s", f"{len(many.files) / n.median('wall'):.0f}",
                     f"{n.median('cpu') / len(many.files) * 1000:.2f} ms",
                     bl.with_range(idle.values("wall")) + " s",
                     bl.with_range(m.values("rss_mb"), "{:.0f}") + " MB",
                     f"{n.median('requests'):.0f} / {idle.median('requests'):.0f}"])
    return bl.table(["tool", f"mixed first pass ({len(mixed.files)} files, {mixed.total_bytes / 1e9:.2f} GB)",
                     "mixed MB/s", f"many first pass ({len(many.files)} x {many.files[0][1] // 1000} KB)",
                     "many files/s", "client CPU per file (many)", f"idle pass, {len(many.files)} files",
                     "peak RSS mixed", "S3 requests many first / idle"], rows)


def idle_table(b: Bench, counts: list[int]) -> str:
    rows = []
    for count in counts:
        name = f"idle-{count}"
        for tool, series in [*b.results[name].items(), *b.results[name + " full sweep"].items()]:
            rows.append([f"{count:,}", tool, bl.with_range(series.values("wall")) + " s",
                         bl.with_range(series.values("cpu")) + " s",
                         bl.with_range(series.values("rss_mb"), "{:.0f}") + " MB",
                         f"{series.median('requests'):.0f}"])
    return bl.table(["files", "what", "wall", "client CPU", "peak RSS", "S3 requests"], rows)


def ratios(b: Bench, counts: list[int]) -> list[str]:
    out = []
    for count in counts:
        r = b.results[f"idle-{count}"]
        camup = r["camup-sync --once (idle)"]
        out.append(f"idle pass at {count:,} files / find stat walk: "
                   f"{bl.ratio(camup.median('wall'), r['floor: find stat walk'].median('wall'))} "
                   f"(target <= 1); peak RSS {camup.median('rss_mb'):.0f} MB; "
                   f"S3 requests {camup.median('requests'):.0f}")
    for other in ("rclone copy", "raw boto3 (one TransferManager)", "aws s3 sync", BOTOCORE_ONLY):
        if other in b.results.get("many", {}):
            c, o = b.results["many"]["camup-sync"], b.results["many"][other]
            m, mo = b.results["mixed"]["camup-sync"], b.results["mixed"][other]
            idle_c, idle_o = b.results["many idle"]["camup-sync"], b.results["many idle"][other]
            out.append(f"camup-sync / {other}: many files/s {bl.ratio(o.median('wall'), c.median('wall'))}"
                       f", mixed MB/s {bl.ratio(mo.median('wall'), m.median('wall'))}, "
                       f"idle pass (many) time {bl.ratio(idle_c.median('wall'), idle_o.median('wall'))}"
                       f", peak RSS mixed {bl.ratio(m.median('rss_mb'), mo.median('rss_mb'))}")
    return out


def report(b: Bench, mixed: bl.Dataset, many: bl.Dataset, counts: list[int], args: argparse.Namespace) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [
        "# camup-sync benchmark results", "",
        f"Written by `scripts/bench{' ' + ' '.join(args.argv) if args.argv else ''}` on {when}.", "",
        f"- Machine: {machine_line()}", f"- Versions: {versions(b)}",
        f"- Runs per figure: {b.runs}; figures are medians with (min-max). The tools take turns, run "
        "by run (A B C, A B C), each first pass on a new bucket. SeaweedFS runs on the same "
        "machine over loopback, so it shares the cores with the tool measured.",
        "- camup-sync runs with `min_age_seconds: 0, settle_seconds: 0` on mixed and many (the files "
        "are new) and `logging.level: WARNING` (rclone and aws print nothing per file either); "
        "the idle trees use the default config (`scan.trust_directory_mtime: auto`, `quiet_hours: 2`); "
        "its bytecode is compiled first, as an install leaves it. "
        "rclone and aws run with their defaults.",
        "- The idle trees are not uploaded: their manifest is built through the package's API "
        "(scan() + Manifest.record_uploaded() for every file, listing marked done), then one "
        "`--once --full` pass (measured) records the folders; the idle passes follow.",
        *[f"- {n}" for n in b.notes], "",
        "## First pass and idle pass, every tool", "", first_pass_table(b, mixed, many), "",
        "## Idle pass over large trees (camera/day/hour)", "", idle_table(b, counts), "",
        "## A lost manifest over a full bucket", "",
        "The smaller idle tree's files put as objects (with their SHA-256), then camup-sync run "
        "with no manifest. S3 requests: the listing's pages (1,000 keys each), plus one HEAD "
        "per adopted file (a listing carries no checksum; same size alone is not trusted).", "",
        listing_table(b, counts[:1]), "",
        "## Ratios (issue 10)", "", *[f"- {r}" for r in ratios(b, counts)], "",
    ]
    return "\n".join(parts)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny datasets, one run: a smoke test")
    ap.add_argument("--runs", type=int, help="runs per figure (default 3; --quick 1)")
    ap.add_argument("--many", type=int, help="files in the many dataset (default 20000)")
    ap.add_argument("--idle", type=int, default=100_000, help="files in the smaller idle tree")
    ap.add_argument("--no-million", action="store_true", help="skip the 1,000,000-file idle tree")
    ap.add_argument("--out", type=Path, help="results file (default bench/RESULTS.md; --quick: none)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (datasets, logs)")
    args = ap.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    runs = args.runs or (1 if args.quick else 3)
    if args.quick:
        mixed, many, counts = bl.mixed(clips=3, clip_mb=20, jpgs=20), bl.many(args.many or 300), [2000]
    else:
        mixed, many = bl.mixed(), bl.many(args.many or 20_000)
        counts = [args.idle] + ([] if args.no_million else [1_000_000])
    env = clean_aws_env()
    env["PYTHONPATH"] = str(ROOT)
    # The package's bytecode, as an install leaves it: from an editable checkout where
    # PYTHONDONTWRITEBYTECODE is set, every run would compile every changed module again.
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "reconciler")], check=True)
    os.environ.clear()
    os.environ.update(env)  # this process too: loopback only, no inherited AWS_* settings
    import boto3
    from botocore.config import Config as BotoConfig

    work = Path(tempfile.mkdtemp(prefix="camup-bench-"))
    server = SeaweedServer(work / "s3")
    server.metrics_port = free_ports(1)[0]
    server.start()
    b = Bench(work, server, runs, env)
    try:
        s3 = boto3.client("s3", endpoint_url=server.endpoint,
                          config=BotoConfig(s3={"addressing_style": "path"}))
        tools = available_tools(b)
        for note in b.notes:
            say(note)
        for data in (mixed, many):
            first_and_idle(b, data, tools, s3)
        for i, count in enumerate(counts):
            idle_tree(b, count, s3 if i == 0 else None)  # the listing scenario on the smaller tree
        text = report(b, mixed, many, counts, args)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(text)
    out = args.out or (None if args.quick else ROOT / "bench" / "RESULTS.md")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        say(f"Wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
