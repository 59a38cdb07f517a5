"""The integration harness: a camera folder + bucket per test, camup-sync as a subprocess.

If the server cannot start, every integration test errors: they never skip to green.
camup-sync runs as a real subprocess (`python -m reconciler`) with a clean environment
(no inherited AWS_* variables, dummy keys, metadata service off) against loopback only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import boto3
from botocore.config import Config as BotoConfig

from seaweed import clean_aws_env

PYTHON = sys.executable


def s3_client(endpoint: str) -> Any:
    env = clean_aws_env()
    return boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    ).client("s3", endpoint_url=endpoint, config=BotoConfig(
        s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3},
        request_checksum_calculation="when_required", response_checksum_validation="when_required"))


@dataclass
class Camp:
    """A test's world: a camera folder, a config, a bucket, and ways to run camup-sync."""

    root: Path
    endpoint: str
    bucket: str
    s3: Any
    prefix: str = "cams/"
    extra_config: str = ""
    current_endpoint: str = ""  # also exported as CAMUP_ENDPOINT_URL: never a non-loopback default
    env_extra: dict[str, str] = field(default_factory=dict)

    @property
    def watch(self) -> Path:
        return self.root / "watch"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def state_dir(self) -> Path:
        return self.root / ".camup"

    def write_config(self, extra: Optional[str] = None, endpoint: Optional[str] = None) -> Path:
        self.current_endpoint = endpoint or self.endpoint
        text = (f"watch_dir: watch\nbucket: {self.bucket}\nprefix: {self.prefix}\n"
                f"remote:\n  endpoint_url: {self.current_endpoint}\n"
                "stability:\n  settle_seconds: 0.3\n  min_age_seconds: 1\n"
                "retry:\n  base_delay_seconds: 0.05\n  max_delay_seconds: 0.2\n")
        text += extra if extra is not None else self.extra_config
        self.config_path.write_text(text, encoding="utf-8")
        return self.config_path

    def edit_config(self, old: str, new: str) -> None:
        text = self.config_path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} is not in the config"
        self.config_path.write_text(text.replace(old, new), encoding="utf-8")

    def file(self, rel: str, size: int = 1000, age: float = 120.0, data: Optional[bytes] = None) -> Path:
        """A finished file, with its mtime `age` seconds in the past."""
        path = self.watch / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if data is not None else os.urandom(size))
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
        return path

    def env(self) -> dict[str, str]:
        env = clean_aws_env(self.current_endpoint or self.endpoint)
        env.update(self.env_extra)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def cmd(self, *args: str) -> list[str]:
        return [PYTHON, "-m", "reconciler", "--config", str(self.config_path), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(*args), env=self.env(), cwd=self.root, capture_output=True,
                              text=True, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.cmd(*args), env=self.env(), cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def objects(self) -> dict[str, bytes]:
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", ()):
                out[obj["Key"]] = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
        return out

    def expected(self) -> dict[str, bytes]:
        """What the bucket should hold: every camera file under the watch dir."""
        exts = {".dat", ".bvr", ".avi", ".mov", ".jpg", ".mp4"}
        return {self.prefix + p.relative_to(self.watch).as_posix(): p.read_bytes()
                for p in self.watch.rglob("*") if p.is_file() and p.suffix.lower() in exts}


def assert_clean_stderr(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr


class Watcher:
    """Collects a running process's stderr lines so a test can wait for one."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not seen; stderr so far:\n{''.join(self.lines)}")

    def text(self) -> str:
        self._thread.join(timeout=5)
        return "".join(self.lines)
