"""Sizes and rates as written in config.yaml."""

import pytest

from reconciler.units import parse_rate, parse_size, parse_size_or_percent


@pytest.mark.parametrize("text, expected", [
    ("5GB", 5_000_000_000), ("1MB", 1_000_000), ("64MiB", 64 * 1024**2), ("0.5GB", 500_000_000),
    ("1 TiB", 1024**4), ("100", 100), (100, 100), ("2kb", 2000),
])
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("2MB/s", 2_000_000), ("20Mbit/s", 2_500_000), ("20Mbps", 2_500_000), ("1MiB/s", 1024**2),
    (2_000_000, 2_000_000), ("2mb/s", 2_000_000), ("1kbit/s", 125), ("3 bytes/s", 3),
])
def test_rates(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("bad", ["x", "0", "-1", "2MB/h", "", True, None, float("inf"), "0.1B"])
def test_bad_rates_and_sizes_are_refused(bad):
    with pytest.raises(ValueError):
        parse_rate(bad)
    with pytest.raises(ValueError):
        parse_size(bad)


def test_percent_or_size():
    assert parse_size_or_percent("10%") == ("percent", 10.0)
    assert parse_size_or_percent("50GB") == ("bytes", 5e10)
    for bad in ("0%", "100%", "x%", "ten"):
        with pytest.raises(ValueError):
            parse_size_or_percent(bad)
