"""The demo: a local S3 (SeaweedFS on loopback), a sample camera folder, a real sync pass.

Run through `scripts/demo`, which sets up the venv first. Needs no AWS account and sends
nothing beyond 127.0.0.1. Everything lives in .demo/ and is rebuilt on every run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

from seaweed import SeaweedServer, clean_aws_env

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
BUCKET = "camup-demo"
MB = 1024 * 1024

# Embedded default config: what a Blue Iris user would write, pointed at the local store.
CONFIG = """\
# camup-sync demo config (written by scripts/demo)
watch_dir: BlueIris/New
bucket: {bucket}
prefix: blueiris/
remote:
  endpoint_url: {endpoint}
stability:
  settle_seconds: 1
  min_age_seconds: 10
live:                  # the clip still being recorded goes off-site in segments
  enabled: true
  after_seconds: 1
  interval_seconds: 1
  min_segment_mb: 0.1
"""

SAMPLES = {  # relative path -> (size in bytes, age in minutes)
    "FrontDoor/FrontDoor.20261124_061500.mp4": (3 * MB, 30),
    "FrontDoor/FrontDoor.20261124_061500.jpg": (45_000, 30),
    "FrontDoor/FrontDoor.20261124_063012.jpg": (52_000, 15),
    "Driveway/Driveway.20261124_060000.bvr": (20 * MB, 45),  # over 16 MB: multipart
    "Driveway/Driveway.20261124_060000.jpg": (38_000, 45),
    "Backyard/Backyard.20261124_055500.dat": (1 * MB, 60),
    "Backyard/upload.mp4.part": (500_000, 5),  # an FTP upload's temp name: excluded
}
LIVE_CLIP = "Backyard/Backyard.20261124_064500.mp4"  # still being recorded


def say(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def make_folder(watch: Path) -> None:
    for rel, (size, age_min) in SAMPLES.items():
        path = watch / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        stamp = time.time() - age_min * 60
        os.utime(path, (stamp, stamp))


def start_recorder(path: Path) -> subprocess.Popen:
    """A stand-in for the NVR: keeps appending to a clip and holds it open."""
    code = ("import os, sys, time\n"
            "f = open(sys.argv[1], 'ab')\n"
            "while True:\n"
            "    f.write(os.urandom(65536)); f.flush(); time.sleep(0.2)\n")
    return subprocess.Popen([sys.executable, "-c", code, str(path)])


def camup(env: dict[str, str], *args: str) -> int:
    cmd = [sys.executable, "-m", "reconciler", "--config", str(DEMO / "config.yaml"), *args]
    print(f"$ camup-sync {' '.join(args)}", flush=True)
    return subprocess.run(cmd, env=env, cwd=DEMO).returncode


def show_bucket(s3: object, watch: Path) -> bool:
    objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])  # type: ignore[attr-defined]
    identical = True
    live = b""
    for obj in objects:
        if "/_camup/live/" in "/" + obj["Key"]:  # a segment of a clip still being recorded
            live += s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()  # type: ignore[attr-defined]
            print(f"  s3://{BUCKET}/{obj['Key']:<50} {obj['Size']:>10} bytes  live segment")
            continue
        rel = obj["Key"].removeprefix("blueiris/")
        body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()  # type: ignore[attr-defined]
        same = body == (watch / rel).read_bytes()
        identical &= same
        print(f"  s3://{BUCKET}/{obj['Key']:<50} {obj['Size']:>10} bytes  "
              f"{'identical to the local file' if same else 'DIFFERS'}")
    print(f"  {len(objects)} objects in the bucket")
    if live:
        same = (watch / LIVE_CLIP).read_bytes().startswith(live)
        identical &= same
        print(f"  the live segments joined: the first {len(live)} bytes of {LIVE_CLIP} "
              f"{'exactly' if same else 'DIFFER'}")
    return identical


def main() -> int:
    shutil.rmtree(DEMO, ignore_errors=True)
    watch = DEMO / "BlueIris" / "New"
    say("Starting a local S3 server (SeaweedFS on 127.0.0.1)")
    server = SeaweedServer(DEMO / "s3").start()
    recorder = None
    try:
        print(f"  endpoint {server.endpoint}")
        env = clean_aws_env(server.endpoint)
        s3 = boto3.session.Session(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                                   region_name="us-east-1").client(
            "s3", endpoint_url=server.endpoint, config=BotoConfig(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket=BUCKET)
        (DEMO / "config.yaml").write_text(CONFIG.format(bucket=BUCKET, endpoint=server.endpoint))
        say(f"Making a sample camera folder {watch.relative_to(ROOT)}")
        make_folder(watch)
        recorder = start_recorder(watch / LIVE_CLIP)
        time.sleep(0.5)
        for p in sorted(watch.rglob("*")):
            if p.is_file():
                print(f"  {p.relative_to(watch).as_posix():<45} {p.stat().st_size:>10} bytes")
        print(f"  ({LIVE_CLIP} is still being recorded by another process)")
        say("Preview: camup-sync --dry-run (changes nothing)")
        camup(env, "--dry-run")
        say("One real pass: camup-sync --once")
        code = camup(env, "--once")
        say("What landed in the bucket")
        identical = show_bucket(s3, watch)
        say("The clip is still being recorded: the next pass sends what it holds so far")
        time.sleep(1.5)  # live.after_seconds
        code = camup(env, "--once") or code
        identical = show_bucket(s3, watch) and identical
        say("Get it back from the bucket while it is recorded: camup-sync recover")
        camup(env, "recover", "blueiris/" + LIVE_CLIP, "recovered.mp4")
        say("The recorder finishes its clip; the next pass uploads it whole and drops its segments")
        recorder.terminate()
        recorder.wait()
        recorder = None
        clip = watch / LIVE_CLIP
        stamp = time.time() - 60  # pretend a minute has passed, so min_age_seconds is met
        os.utime(clip, (stamp, stamp))
        code = camup(env, "--once") or code
        say("Run again: nothing new, so no upload and no S3 request at all")
        code = camup(env, "--once") or code
        say("camup-sync status")
        camup(env, "status")
        say("Bucket after the recorder finished")
        identical = show_bucket(s3, watch) and identical
        print(f"\nDemo finished: exit code {code}, every object "
              f"{'identical to its local file' if identical else 'NOT identical'}. "
              f"Files are in {DEMO.relative_to(ROOT)}/; config: {(DEMO / 'config.yaml').relative_to(ROOT)}")
        return 0 if code == 0 and identical else 1
    finally:
        if recorder is not None:
            recorder.kill()
            recorder.wait()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
