"""cli.main: every non-zero exit prints one sentence, never a bare traceback (DESIGN.md section 1)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from loguru import logger

from reconciler import cli

from .awsenv import BROKEN_PROCESS, CLOSED_ENDPOINT, sandbox

MINIMAL = "watch_dir: cams\nbucket: my-bucket\nstate_dir: state\n"


@pytest.fixture(autouse=True)
def restored():
    """main() sets up loguru's sinks and, for a run, signal handlers: put both back."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    logger.remove()
    logger.configure(patcher=lambda record: None)
    logger.add(sys.stderr)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for var in ("CAMUP_BUCKET", "CAMUP_PREFIX", "CAMUP_WATCH_DIR", "CAMUP_ENDPOINT_URL", "CAMUP_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "cams").mkdir()

    def write(extra: str = "") -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(MINIMAL + extra, encoding="utf-8")
        return path

    return write


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "| ERROR" in line]


def test_a_bad_key_template_exits_2_with_one_sentence(config, capsys) -> None:
    assert cli.main(["--once", "--config", str(config("key_template: '{prefix}{cam}/{name}'\n"))]) == 2
    err = capsys.readouterr().err
    (line,) = _error_lines(err)
    assert "key_template" in line and "{cam}" in line and "camera" in line
    assert "Traceback" not in err


def test_a_bad_rotation_exits_2_before_any_log_file_is_made(config, capsys, tmp_path: Path) -> None:
    path = config("logging: {file: logs/camup.log, rotation: 10 parsecs}\n")
    assert cli.main(["--once", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    (line,) = _error_lines(err)
    assert "logging.rotation" in line
    assert "Traceback" not in err
    assert not (tmp_path / "logs").exists()


def test_a_non_finite_number_exits_2(config, capsys) -> None:
    assert cli.main(["--once", "--config", str(config("interval_seconds: .inf\n"))]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert "interval_seconds must be a finite number" in line


# ---- the last resort: an unexpected exception ----------------------------------------------------------
def _boom(*args: object, **kwargs: object) -> int:
    raise RuntimeError("boom\nwith a second line")


def test_an_unexpected_error_is_one_sentence_and_exit_1(config, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli, "_run", _boom)
    assert cli.main(["--once", "--config", str(config())]) == 1
    err = capsys.readouterr().err
    (line,) = _error_lines(err)
    assert line.endswith("unexpected error: RuntimeError: boom with a second line; this is a bug, "
                         "please report it with the log at --log-level DEBUG")
    assert "Traceback" not in err
    assert len([x for x in err.splitlines() if x.strip()]) == 1, err


def test_the_traceback_is_shown_at_debug(config, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli, "_run", _boom)
    assert cli.main(["--once", "--log-level", "DEBUG", "--config", str(config())]) == 1
    err = capsys.readouterr().err
    assert len(_error_lines(err)) == 1
    assert "Traceback" in err and "_boom" in err


def test_an_unexpected_error_before_logging_is_set_up(config, capsys, monkeypatch) -> None:
    def load(*args: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(cli, "load", load)
    assert cli.main(["--once", "--config", str(config())]) == 1
    err = capsys.readouterr().err
    (line,) = _error_lines(err)
    assert "unexpected error: KeyError: 'surprise'; this is a bug" in line
    assert "Traceback" not in err
    assert cli.main(["--once", "--log-level", "DEBUG", "--config", str(config())]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_the_catch_all_leaves_ctrl_c_alone(config, monkeypatch) -> None:
    def interrupted(*args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run", interrupted)
    assert cli.main(["--once", "--config", str(config())]) == 0


# ---- credentials that cannot be obtained: exit 4 with what to do ---------------------------------------
needs_bin_false = pytest.mark.skipif(not os.path.exists("/bin/false"), reason="needs /bin/false")


@needs_bin_false
def test_a_failing_credential_process_ends_the_pass_with_exit_4(config, capsys, monkeypatch,
                                                                tmp_path) -> None:
    refused = sandbox(monkeypatch, tmp_path, BROKEN_PROCESS)
    clip = tmp_path / "cams" / "Front.20240101_120000.mp4"
    clip.write_bytes(b"recorded")
    os.utime(clip, (1_700_000_000, 1_700_000_000))
    path = config(f"remote: {{endpoint_url: '{CLOSED_ENDPOINT}', profile: broken}}\n")
    assert cli.main(["--once", "--config", str(path)]) == 4
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert any("credentials could not be obtained" in line for line in _error_lines(err))
    assert refused == []


@needs_bin_false
def test_check_reports_a_failing_credential_process_with_exit_4(config, capsys, monkeypatch,
                                                                tmp_path) -> None:
    refused = sandbox(monkeypatch, tmp_path, BROKEN_PROCESS)
    path = config(f"remote: {{endpoint_url: '{CLOSED_ENDPOINT}', profile: broken}}\n")
    assert cli.main(["check", "--config", str(path)]) == 4
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    (fail,) = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert "credentials could not be obtained" in fail
    assert refused == []


# ---- issue 8 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra", ["prefix: /cams/\n", "prefix: 'cams//'\n", "prefix: ../up/\n",
                                   "key_template: '{dir}/{name}'\n"])
def test_check_says_fail_for_a_prefix_that_makes_bad_keys_and_exits_2(config, capsys, extra) -> None:
    assert cli.main(["check", "--config", str(config(extra))]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("FAIL  config valid: ") and "gives keys such as" in out
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["0.5", "0", "1e9", "nan"])
def test_interval_option_is_checked_against_the_same_range(config, capsys, value: str) -> None:
    assert cli.main(["--once", "--interval", value, "--config", str(config())]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert "--interval must be between 1 and 86400" in line


def test_a_bad_endpoint_url_exits_2_with_one_sentence(config, capsys) -> None:
    assert cli.main(["--once", "--config", str(config("remote: {endpoint_url: not a url}\n"))]) == 2
    err = capsys.readouterr().err
    (line,) = _error_lines(err)
    assert "remote.endpoint_url 'not a url' is not an http or https URL" in line
    assert "Traceback" not in err and "bug" not in err


def test_status_caps_a_next_retry_written_by_a_clock_a_year_fast(config, capsys, tmp_path) -> None:
    import time

    from reconciler.manifest import Manifest
    from reconciler.models import LocalFile

    path = config()
    m = Manifest.open(tmp_path / "state" / "manifest.sqlite3", "aws|my-bucket")
    soon = LocalFile(str(tmp_path / "cams"), "soon.mp4", 1, 1)
    stranded = LocalFile(str(tmp_path / "cams"), "stranded\nFAILING forged.mp4", 1, 1)
    m.record_failed(soon, "soon.mp4", "S3 answered 503", time.time() + 3600)
    m.record_failed(stranded, "k", "S3 answered 503", time.time() + 365 * 86400)
    m.close()
    assert cli.main(["status", "--config", str(path)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAILING")]
    assert len(lines) == 2
    assert lines[0].startswith("FAILING           soon.mp4: 1 failed pass(es), next retry in ")
    assert " min; " in lines[0]  # about an hour: a recorded date within the longest back-off stays
    assert "stranded\\x0aFAILING forged.mp4" in lines[1] and "next retry now" in lines[1]


@pytest.mark.parametrize(("args", "extra", "needle"), [
    (["notify"], "notify: {urls: ['json://127.0.0.1:9/x']}\n", "notify needs --test"),
    (["notify", "--test"], "", "nothing to test"),
])
def test_notify_without_test_or_targets_exits_2_with_a_sentence(config, capsys, args, extra,
                                                                 needle) -> None:
    assert cli.main([*args, "--config", str(config(extra))]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert needle in line
