"""The one path -> key function: prefix, NFC, safety, templates, keep_both."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone

import pytest

from reconciler.keys import (
    FIELDS,
    MAX_KEY_BYTES,
    UnsafeKey,
    check_layout,
    check_template,
    escape_name,
    keep_both_key,
    key_for,
    unescape_key,
)

# 2024-01-01 12:00:00 UTC
JAN1 = int(datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()) * 10**9


@pytest.mark.parametrize(
    ("prefix", "rel", "expected"),
    [
        ("", "a.mp4", "a.mp4"),
        ("blueiris/", "a.mp4", "blueiris/a.mp4"),
        ("blueiris/", "Cam1/2024/a.mp4", "blueiris/Cam1/2024/a.mp4"),
        ("cams-", "a.mp4", "cams-a.mp4"),  # the prefix is taken as given, no '/' added
        ("p/", "with space & (1).mp4", "p/with space & (1).mp4"),
        ("p/", "日本/監視カメラ.mp4", "p/日本/監視カメラ.mp4"),
    ],
)
def test_prefix_plus_rel(prefix: str, rel: str, expected: str) -> None:
    assert key_for(prefix, rel) == expected


@pytest.mark.parametrize("text", ["Kamera Büro.mp4", "café/é.jpg", "Ångström/x.mp4"])
def test_nfd_input_gives_the_nfc_key(text: str) -> None:
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text, "the input really is decomposed"
    key = key_for("p/", nfd)
    assert key == "p/" + unicodedata.normalize("NFC", text)
    assert key == key_for("p/", unicodedata.normalize("NFC", text))


def test_nfd_in_template_output_is_normalised() -> None:
    prefix = unicodedata.normalize("NFD", "Überwachung/")
    key = key_for(prefix, "a.mp4", template="{prefix}{name}")
    assert key == unicodedata.normalize("NFC", "Überwachung/a.mp4")


@pytest.mark.parametrize(
    ("prefix", "rel", "why"),
    [
        ("p/", "../a.mp4", "'..'"),
        ("p/", "cam/../../a.mp4", "'..'"),
        ("p/", "./a.mp4", "'.'"),
        ("", "/etc/a.mp4", "start with '/'"),
        ("/", "a.mp4", "start with '/'"),
        ("p/", "bad\udcff.mp4", "not valid Unicode"),  # undecodable bytes from os.fsdecode
        ("p/", "a" * (MAX_KEY_BYTES - 1), "1024 bytes"),
        ("", "é" * 513, "1024 bytes"),  # 513 characters, 1026 bytes
    ],
)
def test_unsafe_names_are_rejected(prefix: str, rel: str, why: str) -> None:
    with pytest.raises(UnsafeKey) as caught:
        key_for(prefix, rel)
    assert why in str(caught.value)


@pytest.mark.parametrize("rel", ["a" * MAX_KEY_BYTES, "é" * 512, "a..b.mp4", ".hidden.mp4",
                                 "x/..y/z.mp4"])
def test_edge_names_that_are_fine(rel: str) -> None:
    assert key_for("", rel) == rel


def test_template_rejections_apply_to_the_rendered_key() -> None:
    with pytest.raises(UnsafeKey):
        key_for("p/", "a.mp4", template="/{name}")
    with pytest.raises(UnsafeKey):
        key_for("p/", "a.mp4", template="{prefix}../{name}")


@pytest.mark.parametrize(
    ("template", "rel", "expected"),
    [
        ("{prefix}{camera}/{mtime:%Y/%m/%d}/{name}", "Cam1.20240101_120000.mp4",
         "bi/Cam1/2024/01/01/Cam1.20240101_120000.mp4"),
        ("{prefix}{camera}/{mtime:%Y/%m/%d}/{name}", "front/clip.mp4",
         "bi/front/2024/01/01/clip.mp4"),
        ("{prefix}{camera}/{name}", "front/sub/Cam9.x.mp4", "bi/front/Cam9.x.mp4"),
        ("{prefix}{mtime:%Y-%m-%dT%H%M%S}{ext}", "a.mp4", "bi/2024-01-01T120000.mp4"),
        ("{prefix}{dir}/{stem}{ext}", "d1/d2/clip.final.mp4", "bi/d1/d2/clip.final.mp4"),
        ("{prefix}{rel}", "d1/a.mp4", "bi/d1/a.mp4"),
        ("{camera}/{mtime:%H}/{name}", "nodots", "nodots/12/nodots"),
    ],
)
def test_key_template_fields(template: str, rel: str, expected: str) -> None:
    assert key_for("bi/", rel, JAN1, template) == expected


def test_template_mtime_is_utc_and_uses_the_mtime() -> None:
    late = JAN1 + 12 * 3600 * 10**9 - 1  # 23:59:59.999999999 UTC on Jan 1
    assert key_for("", "a.mp4", late, "{mtime:%Y%m%d}/{name}") == "20240101/a.mp4"
    assert key_for("", "a.mp4", late + 1, "{mtime:%Y%m%d}/{name}") == "20240102/a.mp4"


@pytest.mark.parametrize("template", ["{prefix}{nosuch}", "{prefix}{0}", "{prefix}{name", "{mtime:%Y"])
def test_check_template_rejects_broken_templates(template: str) -> None:
    with pytest.raises(UnsafeKey):
        check_template(template)


def test_check_template_accepts_the_documented_example() -> None:
    check_template("{prefix}{camera}/{mtime:%Y/%m/%d}/{name}")


def test_keep_both_key() -> None:
    alt = keep_both_key("bi/Cam1/a.mp4", 1234, JAN1)
    assert alt == "bi/Cam1/a.camup-20240101T120000Z-1234.mp4"
    assert keep_both_key("bi/Cam1/a.mp4", 1234, JAN1) == alt, "deterministic"
    assert keep_both_key("bi/Cam1/a.mp4", 1235, JAN1) != alt, "size is part of it"
    assert keep_both_key("bi/Cam1/a.mp4", 1234, JAN1 + 10**9) != alt, "mtime is part of it"
    assert keep_both_key("a.mp4", 1, JAN1) == "a.camup-20240101T120000Z-1.mp4", "no folder"
    assert keep_both_key("bi/noext", 1, JAN1) == "bi/noext.camup-20240101T120000Z-1"
    assert key_for("", alt) == alt, "the alternative is itself a safe key"
    just_before = keep_both_key("a.mp4", 1, JAN1 + 10**9 - 1)
    assert just_before == "a.camup-20240101T120000Z-1.mp4", "the second is truncated, not rounded"


@pytest.mark.parametrize(
    ("template", "needle"),
    [("{prefix}{cam}/{name}", "unknown field {cam}"), ("{prefix}{0}", "numbered field"),
     ("{}", "numbered field"), ("{prefix}{name", "not a valid template"),
     ("{name.nosuch}", "not a valid template"), ("{name!z}", "not a valid template")],
)
def test_check_template_names_the_problem_and_lists_the_fields(template: str, needle: str) -> None:
    with pytest.raises(UnsafeKey) as caught:
        check_template(template)
    message = str(caught.value)
    assert message.startswith(f"key_template {template!r}")
    assert needle in message
    assert message.endswith("valid fields are: prefix, rel, dir, name, stem, ext, camera, mtime.")


def test_the_listed_fields_are_exactly_the_ones_a_template_gets() -> None:
    for name in FIELDS:
        check_template("{" + name + "}")
    assert key_for("p/", "cam/a.mp4", 0, "".join("{" + f + "}" for f in FIELDS if f != "mtime"))


def test_empty_segments_are_rejected_because_stores_fold_them() -> None:
    import pytest

    from reconciler.keys import UnsafeKey, key_for

    with pytest.raises(UnsafeKey):
        key_for("cams/", "x.mp4", 0, "{prefix}/{name}")  # cams//x.mp4 would be stored as cams/x.mp4
    assert key_for("cams/", "x.mp4", 0, "{prefix}{name}") == "cams/x.mp4"


# ---- names S3 can store are escaped, reversibly and injectively (issue 8 item 6) ---------------
@pytest.mark.parametrize(
    ("rel", "key"),
    [
        ("a\nINFO forged.mp4", "p/a%0AINFO forged.mp4"),
        ("a\x00.mp4", "p/a%00.mp4"),
        ("a\x1f\x7f\x85.mp4", "p/a%1F%7F%85.mp4"),
        ("Cam1\\a.mp4", "p/Cam1%5Ca.mp4"),  # a backslash in a POSIX name is not a separator
        ("a%0Ab.mp4", "p/a%250Ab.mp4"),  # a literal escape look-alike cannot collide with "a\nb"
        ("100%.mp4", "p/100%.mp4"),  # a lone '%' keeps the key older versions gave it
        ("50% off/x.mp4", "p/50% off/x.mp4"),
    ],
)
def test_control_characters_and_backslashes_are_percent_escaped(rel: str, key: str) -> None:
    assert key_for("p/", rel) == key
    assert unescape_key(key[2:]) == rel


def test_escaping_is_injective_and_reversible_on_awkward_names() -> None:
    import random

    rng = random.Random(8)
    alphabet = ["%", "0", "a", "F", "g", "\\", "\n", "\x00", "\x7f", "\x9f", "/", "é", "2"]
    names = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7))) for _ in range(20000)}
    escaped = {escape_name(n): n for n in names}
    assert len(escaped) == len(names), "two names, one key"
    for e, n in escaped.items():
        assert unescape_key(e) == n
        assert not any(c in e for c in "\\\n\x00\x7f\x9f")


@pytest.mark.parametrize(
    ("prefix", "template", "needle"),
    [
        ("/cams/", None, "start with '/'"),
        ("cams//", None, "empty"),
        ("../up/", None, "'..'"),
        ("cams/./x/", None, "'.'"),
        ("ca\nms/", None, "control character"),
        ("cams\\", None, "backslash"),
        ("x" * 600 + "/", None, "too little"),
        ("cams/", "{prefix}{dir}/{name}", "empty"),  # top-level files: cams//a.mp4
        ("", "{dir}/{name}", "start with '/'"),
        ("cams/", "{prefix}{mtime:%n}{name}", "control character"),
        ("cams/", "{prefix}_camup/{name}", "keeps for itself"),
    ],
)
def test_a_layout_that_can_give_a_bad_key_is_refused(prefix: str, template, needle: str) -> None:
    with pytest.raises(UnsafeKey) as caught:
        check_layout(prefix, template)
    assert needle in str(caught.value)


@pytest.mark.parametrize(("prefix", "template"), [("", None), ("cams/", None), ("cams-", None),
                                                  ("a/b/", "{prefix}{camera}/{mtime:%Y/%m/%d}/{name}"),
                                                  ("cams/", "{prefix}{rel}")])
def test_good_layouts_pass(prefix: str, template) -> None:
    check_layout(prefix, template)


def test_live_segments_live_under_the_reserved_camup_folder_of_their_prefix() -> None:
    from reconciler.keys import is_reserved, live_base

    assert live_base("nvr/", "nvr/cam1/a.mp4") + "000000" == "nvr/_camup/live/nvr/cam1/a.mp4/000000"
    assert is_reserved("nvr/_camup/live/nvr/cam1/a.mp4/000000", ["other/", "nvr/"])
    assert is_reserved("_camup/ledger/x", [""])
    assert not is_reserved("nvr/cam1/_camup/a.mp4", ["nvr/"])
