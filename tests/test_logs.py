"""Secrets never reach a log: redact() and the sinks logs.setup() configures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from loguru import logger

from reconciler import logs
from reconciler.logs import redact

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN+/="


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        (f"key is {SECRET}.", (SECRET,), "key is ****."),
        (f"{SECRET} and again {SECRET}", (SECRET,), "**** and again ****"),
        (f"a {SECRET} b {TOKEN}", (SECRET, TOKEN), "a **** b ****"),
        ("nothing secret here", (SECRET,), "nothing secret here"),
        ("short abc stays", ("abc",), "short abc stays"),  # too short to replace safely
        ("empty secrets are ignored", ("", ), "empty secrets are ignored"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=0123abcd"
         "&X-Amz-Date=20240101T000000Z", (),
         "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=****"
         "&X-Amz-Date=20240101T000000Z"),
        ("?X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&x=1", (),
         "?X-Amz-Credential=****&x=1"),
        ("?X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%2B and more", (), "?X-Amz-Security-Token=**** and more"),
        ("x-amz-signature=deadbeef", (), "x-amz-signature=****"),
        ("?AWSAccessKeyId=AKIAEXAMPLE&Signature=abc%2Bdef&Expires=1", (),
         "?AWSAccessKeyId=****&Signature=****&Expires=1"),
        ("url='https://h/k?X-Amz-Signature=abc' done", (), "url='https://h/k?X-Amz-Signature=****' done"),
        ('"X-Amz-Signature=abc"', (), '"X-Amz-Signature=****"'),
    ],
)
def test_redact(text: str, secrets: tuple, expected: str) -> None:
    assert redact(text, secrets) == expected


@pytest.fixture
def configured(tmp_path: Path, monkeypatch):
    """logs.setup() with secrets in the environment; loguru restored afterwards."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)

    def setup(**kw) -> Path:
        path = tmp_path / "logs" / "camup-sync.log"
        logs.setup(file=str(path), **kw)
        return path

    yield setup
    logger.remove()
    logger.configure(patcher=lambda record: None)
    logger.add(sys.stderr)


def _emit() -> None:
    logger.info("credentials {} {} url {}", SECRET, TOKEN,
                "https://h/k?X-Amz-Signature=cafe0123&X-Amz-Date=1")
    signature = "beef" + "4567"  # not as one word in the source line the traceback quotes
    try:
        raise RuntimeError(f"request to https://h/k?X-Amz-Signature={signature} failed with {SECRET}")
    except RuntimeError:
        logger.exception("unexpected")
    logger.remove()  # closes the file sink


def test_file_sink_never_holds_secrets(configured) -> None:
    path = configured()
    _emit()
    text = path.read_text(encoding="utf-8")
    assert "credentials **** **** url https://h/k?X-Amz-Signature=****&X-Amz-Date=1" in text
    assert "RuntimeError: request to https://h/k?X-Amz-Signature=**** failed with ****" in text
    for leak in (SECRET, TOKEN, "cafe0123", "beef4567"):
        assert leak not in text


def test_json_file_sink_never_holds_secrets(configured) -> None:
    path = configured(json=True)
    _emit()
    text = path.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["record"]["message"] for r in records] == [
        "credentials **** **** url https://h/k?X-Amz-Signature=****&X-Amz-Date=1", "unexpected"]
    assert records[1]["record"]["exception"]["type"] == "RuntimeError"
    for leak in (SECRET, TOKEN, "cafe0123", "beef4567"):
        assert leak not in text


def test_level_filters_the_file(configured) -> None:
    path = configured(level="WARNING")
    logger.info("quiet line")
    logger.warning("loud line")
    logger.remove()
    text = path.read_text(encoding="utf-8")
    assert "loud line" in text and "quiet line" not in text
    assert "| WARNING | loud line" in text


def test_setup_replaces_earlier_sinks(configured, tmp_path: Path) -> None:
    first = configured()
    second = tmp_path / "other.log"
    logs.setup(file=str(second))
    logger.info("after the second setup")
    logger.remove()
    assert "after the second setup" not in first.read_text(encoding="utf-8")
    assert "after the second setup" in second.read_text(encoding="utf-8")


# ---- logging.rotation / logging.retention, checked by loguru itself before any sink exists ---------
@pytest.mark.parametrize(("rotation", "retention"), [("10 MB", "14 days"), ("1 week", "1 month"),
                                                     ("00:00", "3 days"), ("monday at 12:00", "1 year")])
def test_file_options_loguru_accepts(rotation: str, retention: str) -> None:
    assert logs.file_options_problem(rotation, retention) is None


@pytest.mark.parametrize(("rotation", "retention", "key"),
                         [("10 parsecs", "14 days", "logging.rotation"),
                          ("", "14 days", "logging.rotation"),
                          ("10 MB", "forever", "logging.retention"),
                          ("10 MB", "14 dayz", "logging.retention"),
                          ("soon", "forever", "logging.rotation")])
def test_file_options_problem_names_the_key(rotation: str, retention: str, key: str) -> None:
    problem = logs.file_options_problem(rotation, retention)
    assert problem is not None and problem.startswith(f"{key} ")
    assert "such as" in problem and "\n" not in problem


def test_file_options_check_leaves_no_sink_and_no_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(logs.tempfile, "gettempdir", lambda: str(tmp_path))
    lines: list[str] = []
    handler = logger.add(lines.append, format="{message}")
    try:
        assert logs.file_options_problem("1 KB", "1 second") is None
        assert logs.file_options_problem("bad", "1 day") is not None
        logger.info("still one sink")
    finally:
        logger.remove(handler)
    assert [line.strip() for line in lines] == ["still one sink"]
    assert list(tmp_path.iterdir()) == []


def test_setup_plain_shows_debug_tracebacks_only_when_asked(capsys) -> None:
    try:
        for level, shown in (("INFO", False), ("DEBUG", True)):
            logs.setup_plain(level)
            try:
                raise ValueError("inner")
            except ValueError as exc:
                logger.opt(exception=exc).debug("the traceback")
            err = capsys.readouterr().err
            assert ("Traceback" in err) is shown and ("ValueError: inner" in err) is shown
    finally:
        logger.remove()
        logger.configure(patcher=lambda record: None)
        logger.add(sys.stderr)


# ---- issue 8: one line per message, no password from a URL, private files -----------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [("cannot connect to http://me:s3cret@nas:9000/b/k", "cannot connect to http://nas:9000/b/k"),
     ("'https://u:p%40ss@h/x' and http://h2/y", "'https://h/x' and http://h2/y"),
     ('Could not connect to the endpoint URL: "http://a:b@127.0.0.1:9/b"',
      'Could not connect to the endpoint URL: "http://127.0.0.1:9/b"'),
     ("no url, user@example.com", "no url, user@example.com")],
)
def test_strip_userinfo(text: str, expected: str) -> None:
    assert logs.strip_userinfo(text) == expected


def test_a_name_with_a_newline_cannot_forge_a_log_line(configured) -> None:
    path = configured()
    logger.info("Waiting for file to stabilize: {}", "a\nINFO forged.mp4\r\u2028x")
    logger.remove()
    (line,) = path.read_text(encoding="utf-8").splitlines()
    assert line.endswith("Waiting for file to stabilize: a\\x0aINFO forged.mp4\\x0d\\u2028x")


def test_json_lines_stay_one_valid_object_each(configured) -> None:
    path = configured(json=True)
    logger.info("Uploading {} from http://me:s3cret@nas/", "a\nINFO forged.mp4")
    logger.remove()
    (line,) = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)["record"]
    assert record["message"] == "Uploading a\\x0aINFO forged.mp4 from http://nas/"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_log_files_are_0600_whatever_the_umask(configured) -> None:
    import os

    old = os.umask(0)
    try:
        path = configured(rotation="200 B")
        for i in range(20):  # several rotations: each new file is private too
            logger.info("line {} {}", i, "x" * 40)
        logger.remove()
    finally:
        os.umask(old)
    files = list(path.parent.iterdir())
    assert len(files) > 1
    assert {oct(f.stat().st_mode & 0o777) for f in files} == {oct(0o600)}
