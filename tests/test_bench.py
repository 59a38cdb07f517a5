"""scripts/bench's pure helpers (datasets, statistics, parsing): no timing, no server."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import benchlib as bl


def test_datasets_are_deterministic_and_shaped_as_promised() -> None:
    assert bl.mixed() == bl.mixed()
    m = bl.mixed(clips=4, clip_mb=20, jpgs=10)
    clips = [s for r, s in m.files if r.endswith(".mp4")]
    assert len(clips) == 4 and all(10 * bl.MB <= s <= 30 * bl.MB for s in clips)
    assert len(bl.many(20_000).files) == 20_000 and {s for _, s in bl.many(100).files} == {40_000}
    tree = bl.nvr_tree(1000, cameras=2, days=2)
    folders = {r.rpartition("/")[0] for r, _ in tree.files}
    assert len(folders) == 2 * 2 * 24 and all(f.count("/") == 2 for f in folders)  # camera/day/hour


def test_write_tree_writes_seeded_bytes_and_ages_files_and_folders(tmp_path: Path) -> None:
    data = bl.Dataset("t", (("a/b/x.mp4", 100), ("a/y.jpg", 5)), seed=7, age_seconds=3600)
    bl.write_tree(tmp_path / "one", data)
    bl.write_tree(tmp_path / "two", data)
    assert (tmp_path / "one/a/b/x.mp4").read_bytes() == (tmp_path / "two/a/b/x.mp4").read_bytes()
    assert len((tmp_path / "one/a/b/x.mp4").read_bytes()) == 100
    for p in ("one", "one/a", "one/a/b", "one/a/b/x.mp4"):
        assert time.time() - os.stat(tmp_path / p).st_mtime > 3500, p  # old enough to skip


def test_all_folders() -> None:
    assert bl.all_folders(["a/b", "c"]) == {"", "a", "a/b", "c"}


def test_statistics_and_the_table() -> None:
    assert bl.with_range([3.0, 1.0, 2.0]) == "2.00 (1.00-3.00)"
    assert bl.with_range([1.5]) == "1.50"
    assert bl.with_range([]) == "-"
    assert bl.ratio(1.0, 4.0) == "0.25x" and bl.ratio(None, 1.0) == "-"
    assert bl.table(["a", "b"], [["1", "2"]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |"]
    s = bl.Series([bl.Sample(1.0, 0.5, 10), bl.Sample(3.0, 0.7, 30), bl.Sample(2.0, 0.6, 20)])
    assert s.median("wall") == 2.0 and s.values("rss_mb") == [10, 30, 20]


def test_request_counter_and_time_output_parsing() -> None:
    metrics = ('# HELP x\nSeaweedFS_s3_request_total{bucket="b1",code="200",type="PUT"} 12\n'
               'SeaweedFS_s3_request_total{bucket="b1",code="412",type="PUT"} 2\n'
               'SeaweedFS_s3_request_total{bucket="b2",code="200",type="PUT"} 99\n'
               'SeaweedFS_s3_time_to_first_byte{bucket="b1"} 5\n')
    assert bl.requests_for(metrics, "b1") == 14 and bl.requests_for(metrics, "none") == 0
    sample = bl.parse_time("Command exited with non-zero status 0\n1.50 0.75 0.25 20480\n", 1.6)
    assert (sample.wall, sample.cpu, sample.rss_mb) == (1.6, 1.0, 20.0)


def test_without_rclone_and_aws_the_bench_runs_the_rest_and_says_how_to_install_them(monkeypatch) -> None:
    import bench

    monkeypatch.setattr(bench.shutil, "which", lambda name: None)
    b = bench.Bench(Path("/nonexistent"), server=None, runs=1, env={})  # type: ignore[arg-type]
    tools = bench.available_tools(b)
    assert list(tools) == ["camup-sync", bench.BOTOCORE_ONLY, "raw boto3 (one TransferManager)",
                           "floor: find stat / cat"]
    assert any("apt-get install rclone" in n for n in b.notes)
    assert any("apt-get install awscli" in n for n in b.notes)


def test_bucket_names_are_valid_and_distinct_for_every_tool() -> None:
    import bench

    tools = ["camup-sync", bench.BOTOCORE_ONLY, "raw boto3 (one TransferManager)", "rclone copy",
             "aws s3 sync", "floor: find stat / cat"]
    names = {bench.bucket_name(tool, "mixed", 2) for tool in tools}
    assert len(names) == len(tools)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", n) for n in names), names
