"""Names and URLs as people see them: one line, unambiguous, no secrets."""

import pytest

from reconciler.text import printable, url_scheme_host


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


def test_scheme_host_hides_every_token():
    shown = url_scheme_host("tgram://123456:AAbbCC@botname/chat")
    assert "AAbbCC" not in shown and "123456" not in shown
