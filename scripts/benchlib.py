"""Pure helpers of scripts/bench: datasets, statistics, the results table. No I/O here
except `write_tree` (which writes a dataset) and `run_measured` (which runs a child)."""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

OLD = 10 * 24 * 3600  # idle trees: recordings from past days (older than scan.quiet_hours)
MB = 1_000_000
TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else shutil.which("time")  # GNU time


# ---- datasets ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[tuple[str, int], ...]  # (relative path, size), in creation order
    seed: int
    age_seconds: float = 0.0  # mtime this far in the past (0: now, like fresh recordings)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def mixed(clips: int = 72, clip_mb: float = 24, jpgs: int = 372, jpg_kb: int = 150, seed: int = 1) -> Dataset:
    """Clips (some over the 16 MiB multipart threshold) and alert JPEGs, in camera folders:
    by default 444 files, about 1.8 GB, the scale issue 10 measured at."""
    rng = random.Random(seed)
    files = []
    for i in range(clips):  # 0.5x to 1.5x clip_mb: single PUTs and multipart both happen
        size = int(clip_mb * MB * (0.5 + rng.random()))
        files.append((f"cam{i % 4}/2026-11-20/Cam{i % 4}.20261120_{i:06d}.mp4", size))
    for i in range(jpgs):
        size = int(jpg_kb * 1000 * (0.8 + 0.4 * rng.random()))
        files.append((f"cam{i % 4}/alerts/Cam{i % 4}.20261120_{i:06d}.jpg", size))
    return Dataset("mixed", tuple(files), seed)


def many(count: int = 20_000, size: int = 40_000, seed: int = 2) -> Dataset:
    """Alert-sized JPEGs: what decides here is the cost per file, not per byte."""
    return Dataset("many", tuple((f"cam{i % 8}/{i // 1000:03d}/Cam.{i:07d}.jpg", size) for i in range(count)),
                   seed)


def nvr_tree(count: int, cameras: int = 8, days: int = 30, size: int = 16, seed: int = 3) -> Dataset:
    """An NVR's layout, camera/day/hour/clip, `count` files spread evenly over the folders."""
    folders = [f"cam{c}/2026-10-{d + 1:02d}/{h:02d}" for c in range(cameras) for d in range(days)
               for h in range(24)]
    files = tuple((f"{folders[i % len(folders)]}/clip{i // len(folders):05d}.mp4", size)
                  for i in range(count))
    return Dataset(f"idle-{count}", files, seed, age_seconds=OLD)


def content(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def write_tree(root: Path, data: Dataset) -> None:
    """Write the dataset under root: deterministic bytes from the seeded RNG; with an age,
    files and folders get that old mtime (an NVR's past days)."""
    rng = random.Random(data.seed)
    made: set[str] = set()
    stamp_ns = int((time.time() - data.age_seconds) * 1e9)
    for rel, size in data.files:
        folder = rel.rpartition("/")[0]
        if folder not in made:
            os.makedirs(root / folder, exist_ok=True)
            made.add(folder)
        path = os.path.join(root, rel)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, content(rng, size)) if size < 64 * MB else _write_big(fd, rng, size)
        finally:
            os.close(fd)
        if data.age_seconds:
            os.utime(path, ns=(stamp_ns, stamp_ns))
    if data.age_seconds:  # deepest first, so setting a folder's time is not undone by a child
        for folder in sorted(all_folders(made), key=lambda p: -(p.count("/") + 1) if p else 0):
            os.utime(root / folder if folder else root, ns=(stamp_ns, stamp_ns))


def all_folders(leaves: Iterable[str]) -> set[str]:
    """Every folder on the way to these ("" = the root): "a/b" -> {"", "a", "a/b"}."""
    out = {""}
    for leaf in leaves:
        parts = leaf.split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


def _write_big(fd: int, rng: random.Random, size: int) -> None:
    while size > 0:
        n = min(size, 8 * MB)
        os.write(fd, rng.randbytes(n))
        size -= n


# ---- measuring a child process -----------------------------------------------------------------
@dataclass
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child (and its children)
    rss_mb: float  # peak resident set of the child, MB
    requests: int = 0  # S3 requests the server counted
    code: int = 0


def run_measured(cmd: Sequence[str], env: dict[str, str], cwd: Optional[Path] = None) -> Sample:
    """Run a child to completion under /usr/bin/time: wall time, CPU (user + system, its
    own children included) and peak RSS. (The rusage of a child forked from this process
    would report this process's RSS as its peak: /usr/bin/time is small.)"""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        timed = [TIME, "-f", "%e %U %S %M", "-o", out.name, *cmd] if TIME else list(cmd)
        start = time.perf_counter()
        proc = subprocess.run(timed, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace")[-1500:]
            raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {tail}")
        if not TIME:
            return Sample(wall, 0.0, 0.0)
        return parse_time(out.read(), wall)


def parse_time(text: str, wall: float) -> Sample:
    """/usr/bin/time -f "%e %U %S %M": elapsed, user, system seconds, max RSS in KB."""
    _elapsed, user, system, rss_kb = text.strip().splitlines()[-1].split()
    return Sample(wall, float(user) + float(system), int(rss_kb) / 1024)


def requests_for(metrics_text: str, bucket: str) -> int:
    """S3 requests SeaweedFS counted for one bucket (its Prometheus text format)."""
    total = 0
    for line in metrics_text.splitlines():
        if line.startswith("SeaweedFS_s3_request_total{") and f'bucket="{bucket}"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


# ---- statistics and the table ------------------------------------------------------------------
@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    def values(self, attr: str) -> list[float]:
        return [getattr(s, attr) for s in self.samples]

    def median(self, attr: str) -> float:
        return statistics.median(self.values(attr))


def with_range(values: Iterable[float], fmt: str = "{:.2f}") -> str:
    """'median (min-max)', or just the value for a single run."""
    vals = sorted(values)
    if not vals:
        return "-"
    med = fmt.format(statistics.median(vals))
    if len(vals) == 1:
        return med
    return f"{med} ({fmt.format(vals[0])}-{fmt.format(vals[-1])})"


def ratio(a: Optional[float], b: Optional[float]) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
