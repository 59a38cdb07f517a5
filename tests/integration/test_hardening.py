"""Issue 8 against a real SeaweedFS: hostile names, unstorable names, passwords in the
endpoint, check's probe, the endpoint spelled another way, private state files."""

from __future__ import annotations

import json
import os
import socket
import stat
import time

from reconciler.check import probe_key

from .faultproxy import FaultProxy
from .harness import Camp, assert_clean_stderr

FORGED = "a\nINFO forged.mp4"  # printed raw, the second half would be a log line of its own


def _no_forged_line(text: str) -> None:
    assert not any(line.startswith("INFO forged") for line in text.splitlines()), text


def test_a_name_with_a_newline_is_uploaded_escaped_and_forges_no_line(camp: Camp) -> None:
    camp.write_config("logging:\n  file: logs/camup.log\n  json: true\n")
    data = os.urandom(3000)
    camp.file(FORGED, data=data)
    camp.file("plain.jpg")

    dry = camp.run("--dry-run")
    result = camp.run("--once")

    for out in (dry.stdout, dry.stderr, result.stderr):
        _no_forged_line(out)
    assert "upload  a\\x0aINFO forged.mp4  ->  s3://" in dry.stdout
    assert result.returncode == 0, result.stderr
    console = [json.loads(line)["record"]["message"] for line in result.stderr.splitlines()]
    assert any(m.startswith("Successfully uploaded a\\x0aINFO forged.mp4 -> ") for m in console)
    objects = camp.objects()
    assert objects["cams/a%0AINFO forged.mp4"] == data  # the documented escape, reversible
    assert "cams/plain.jpg" in objects
    log = (camp.root / "logs" / "camup.log").read_text(encoding="utf-8")
    records = [json.loads(line) for line in log.splitlines()]  # every line one valid object
    assert any("a\\x0aINFO forged.mp4" in r["record"]["message"] for r in records)


def test_status_escapes_a_failing_files_name(pcamp: Camp, proxy: FaultProxy) -> None:
    pcamp.file(FORGED)
    proxy.error_for("forged", 503, "SlowDown")  # every attempt refused: recorded as failing

    result = pcamp.run("--once")
    status = pcamp.run("status")

    assert result.returncode == 1, result.stderr
    _no_forged_line(result.stderr)
    _no_forged_line(status.stdout)
    assert "FAILING           a\\x0aINFO forged.mp4: 1 failed pass(es)" in status.stdout


def test_a_name_s3_cannot_store_fails_the_pass_and_is_shown(camp: Camp) -> None:
    camp.file("good.jpg")
    bad = os.path.join(os.fsencode(camp.watch), b"bad\xff.mp4")  # not UTF-8
    with open(bad, "wb") as fh:
        fh.write(b"x" * 100)
    os.utime(bad, (time.time() - 120, time.time() - 120))

    dry = camp.run("--dry-run")
    result = camp.run("--once")
    status = camp.run("status")

    assert "FAIL    bad\\xff.mp4  (cannot be stored in S3: the name is not valid Unicode" in dry.stdout
    assert "1 cannot be stored (a failed pass)" in dry.stdout
    assert result.returncode == 1, result.stderr
    assert "Cannot upload bad\\xff.mp4" in result.stderr
    assert_clean_stderr(result)
    assert set(camp.objects()) == {"cams/good.jpg"}  # the rest of the pass went on
    assert "CANNOT UPLOAD     bad\\xff.mp4: the name is not valid Unicode" in status.stdout


def test_a_file_that_maps_under_the_reserved_prefix_is_skipped_with_a_reason(camp: Camp) -> None:
    camp.file("_camup/live/cams/x.mp4/000000")
    camp.file("_camup/clip.mp4")
    camp.file("cam1/_camup/ok.mp4")  # only the prefix's own _camup/ is reserved

    dry = camp.run("--dry-run")
    result = camp.run("--once")

    assert "skip    _camup/clip.mp4  (its key would be under the prefix's _camup/ folder" in dry.stdout
    assert result.returncode == 0, result.stderr
    assert "Skipping _camup/clip.mp4" in result.stderr
    assert set(camp.objects()) == {"cams/cam1/_camup/ok.mp4"}


def test_a_password_in_the_endpoint_is_never_printed_or_stored(camp: Camp) -> None:
    host = camp.endpoint.split("://", 1)[1]
    camp.write_config("logging:\n  file: logs/camup.log\n  json: true\n",
                      endpoint=f"http://camuser:Pa55-Never-Shown@{host}")
    camp.file("a.jpg")

    runs = [camp.run("check"), camp.run("--once"), camp.run("status"), camp.run("--dry-run")]
    camp.write_config("logging:\n  file: logs/camup.log\n",  # another store: moved aside, said
                      endpoint="http://camuser:Pa55-Never-Shown@127.0.0.1:9")
    runs.append(camp.run("--once", timeout=90))

    assert runs[1].returncode == 0, runs[1].stderr
    assert "moved aside" in runs[-1].stderr
    for r in runs:
        assert "Pa55-Never-Shown" not in r.stdout + r.stderr
    for folder in (camp.state_dir, camp.root / "logs"):
        for path in folder.iterdir():
            assert b"Pa55-Never-Shown" not in path.read_bytes(), path.name


def test_check_overwrites_one_probe_key_and_removes_it(camp: Camp) -> None:
    for _ in range(3):
        result = camp.run("check")
        assert result.returncode == 0, result.stdout + result.stderr
    assert camp.objects() == {}
    assert "written and removed" in result.stdout


def test_check_without_delete_rights_leaves_one_probe_and_says_so(pcamp: Camp, proxy: FaultProxy) -> None:
    proxy.error_for("_camup/check/", 403, "AccessDenied", methods={"DELETE"})

    results = [pcamp.run("check") for _ in range(3)]

    key = probe_key(pcamp.prefix, socket.gethostname())
    assert list(pcamp.objects()) == [key]  # three checks, one object
    for r in results:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "could not remove" in r.stdout and "every later check overwrites" in r.stdout


def test_the_endpoint_with_a_trailing_slash_is_the_same_store(camp: Camp) -> None:
    camp.file("a.jpg")
    assert camp.run("--once").returncode == 0
    camp.write_config(endpoint=camp.endpoint + "/")

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert "moved aside" not in result.stderr
    assert "Listed" not in result.stderr  # the manifest still answers: no relisting
    assert not [p for p in camp.state_dir.iterdir() if "other-bucket" in p.name]


def test_state_and_log_files_are_private(camp: Camp) -> None:
    camp.write_config("logging:\n  file: logs/camup.log\n")
    camp.file("a.jpg")

    assert camp.run("--once").returncode == 0

    assert stat.S_IMODE(camp.state_dir.stat().st_mode) == 0o700
    for path in [*camp.state_dir.iterdir(), camp.root / "logs" / "camup.log"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
