"""The dry-run text: names escaped, unstorable names said as failures (issue 8 items 6, 7)."""

from __future__ import annotations

import io
from pathlib import Path

from reconciler.config import from_mapping
from reconciler.models import Action, ActionKind, LocalFile, Plan, Reason
from reconciler.render import print_plan
from reconciler.status import render

ROOT = "/watch"


def _config(tmp_path: Path):
    return from_mapping({"watch_dir": "cams", "bucket": "my-bucket", "prefix": "cams/"}, tmp_path,
                        env={})


def test_dry_run_escapes_names_and_lists_unstorable_ones_as_failures(tmp_path: Path) -> None:
    forged = LocalFile(ROOT, "a\nINFO forged.mp4", 10, 0)
    young = LocalFile(ROOT, "b\r\nskip    fake.mp4", 10, 0)
    bad = LocalFile(ROOT, "bad\udcff.mp4", 10, 0)
    p = Plan((Action(ActionKind.UPLOAD, Reason.NEW, forged, "cams/a%0AINFO forged.mp4"),
              Action(ActionKind.SKIP, Reason.TOO_YOUNG, young, "k"),
              Action(ActionKind.SKIP, Reason.BAD_NAME, bad, "", detail="the name is not valid Unicode")))
    out = io.StringIO()

    print_plan(p, _config(tmp_path), out)

    lines = out.getvalue().splitlines()
    assert lines == [
        "upload  a\\x0aINFO forged.mp4  ->  s3://my-bucket/cams/a%0AINFO forged.mp4  (10 B, new file)",
        "FAIL    bad\\xff.mp4  (cannot be stored in S3: the name is not valid Unicode)",
        "skip    b\\x0d\\x0askip    fake.mp4  (too young)",
        "dry run: 1 to upload (10 B), 0 already in the bucket, 1 skipped (too young: 1), "
        "1 cannot be stored (a failed pass); nothing was changed.",
    ]


def test_status_escapes_names_and_errors(tmp_path: Path) -> None:
    info = {"manifest": "m", "files": {"uploaded": 0, "pending": 0, "failing": 1}, "uploaded_bytes": 0,
            "backlog": {"files": 1, "bytes": 0, "oldest_age_seconds": None}, "last_pass": None,
            "last_successful_pass": None, "disks": [],
            "failing": [{"path": "x\nFAILING forged", "attempts": 1, "last_error": "e\nrror",
                         "next_retry_at": None}],
            "cannot_upload": ["bad\\xff.mp4: not UTF-8\nforged"]}
    out = io.StringIO()

    render(info, 0.0, out, as_json=False)

    lines = out.getvalue().splitlines()
    assert "FAILING           x\\x0aFAILING forged: 1 failed pass(es), next retry now; last error: " \
           "e\\x0arror" in lines
    assert "CANNOT UPLOAD     bad\\xff.mp4: not UTF-8\\x0aforged" in lines
