"""An idle pass (nothing new, no listing due) never loads boto3, botocore, awscrt, tqdm or psutil:
their import alone costs more than the whole idle pass of a quiet camera folder."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from reconciler.config import from_mapping
from reconciler.manifest import Manifest
from reconciler.models import WatchDir
from reconciler.observe import LAST_LISTING
from reconciler.passes import target_of
from reconciler.scan import Filters, scan

HEAVY = ("boto3", "botocore", "s3transfer", "awscrt", "tqdm", "psutil")


def test_an_idle_once_pass_imports_no_s3_progress_or_process_library(tmp_path: Path) -> None:
    watch = tmp_path / "watch"
    for rel in ("cam1/2026-11-20/10/a.mp4", "cam1/2026-11-20/11/b.mp4", "cam2/c.jpg"):
        (watch / rel).parent.mkdir(parents=True, exist_ok=True)
        (watch / rel).write_bytes(b"x" * 100)
    config = tmp_path / "config.yaml"
    config.write_text(f"watch_dir: {watch}\nbucket: b-b-b\nremote:\n  endpoint_url: http://127.0.0.1:9\n",
                      encoding="utf-8")
    cfg = from_mapping({"watch_dir": str(watch), "bucket": "b-b-b",
                        "remote": {"endpoint_url": "http://127.0.0.1:9"}}, tmp_path, env={})
    m = Manifest.open(cfg.manifest_path, target_of(cfg))  # everything uploaded, listed just now
    found = scan(WatchDir(str(watch), ""), Filters(cfg.extensions, cfg.exclude))
    m.record_uploaded([(f, f.rel, None) for f in found.files], time.time())
    m.set_meta(LAST_LISTING, repr(time.time()))
    m.close()
    code = ("import json, sys\nfrom reconciler.cli import main\n"
            f"rc = main(['--config', {str(config)!r}, '--once'])\n"
            f"print(json.dumps([rc, sorted(m for m in {HEAVY!r} if m in sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"})
    rc, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert rc == 0, out.stderr
    assert "found 3, uploaded 0" in out.stderr
    assert loaded == []
