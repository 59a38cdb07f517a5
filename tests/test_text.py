"""Names and URLs as people see them: one line, unambiguous, no secrets."""

import pytest

from reconciler.text import printable, safe_url, url_scheme_host


@pytest.mark.parametrize("name, shown", [
    ("cam1/ok.mp4", "cam1/ok.mp4"),
    ("a\nINFO forged line.mp4", "a\\x0aINFO forged line.mp4"),
    ("esc\x1b[31m.mp4", "esc\\x1b[31m.mp4"),
    ("back\\slash", "back\\\\slash"),
    ("bad\udcff.mp4", "bad\\xff.mp4"),
    ("line\u2028sep", "line\\u2028sep"),
    ("café.jpg", "café.jpg"),
])
def test_printable(name, shown):
    assert printable(name) == shown
    assert "\n" not in printable(name)


def test_safe_url_drops_user_info_and_query():
    assert safe_url("http://user:s3cret@host:9000/path?token=abc") == "http://host:9000/path?****"
    assert "s3cret" not in safe_url("https://u:s3cret@[::1]:9/x")


def test_scheme_host_hides_every_token():
    shown = url_scheme_host("tgram://123456:AAbbCC@botname/chat")
    assert "AAbbCC" not in shown and "123456" not in shown
