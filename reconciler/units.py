"""Sizes and rates as people write them in config.yaml: "5GB", "64MiB", "2MB/s",
"20Mbit/s", "10%". Powers of 1000 for B/KB/MB/GB/TB, of 1024 for KiB/MiB/GiB/TiB.

Each parser raises ValueError with the accepted forms; config.py turns that into a
sentence that names the key.
"""

from __future__ import annotations

import math
import re
from typing import Union

Number = Union[int, float]
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?)(bits?|bytes?|b)?\s*(/\s*s|ps)?\s*$",
                   re.IGNORECASE)
_SCALE = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}
SIZE_FORMS = 'a number and a unit, e.g. "5GB", "500MB" or "64MiB"'
RATE_FORMS = 'a rate, e.g. "2MB/s" or "20Mbit/s"'


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        raise ValueError("true/false is not a size")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return repr(value)
    if not isinstance(value, str):
        raise ValueError(f"{type(value).__name__} is not a size")
    return value


def parse_size(value: object) -> int:
    """'5GB' -> 5_000_000_000 bytes; a bare number is bytes. At least 1 byte."""
    m = _SIZE.match(_as_text(value))
    if not m:
        raise ValueError(f"{value!r} is not a size: write {SIZE_FORMS}")
    unit = m.group(2).lower().rstrip("b")
    n = float(m.group(1)) * _SCALE[unit]
    if n < 1:
        raise ValueError(f"{value!r} is less than one byte: write {SIZE_FORMS}")
    return int(n)


def parse_rate(value: object) -> int:
    """'2MB/s' -> 2_000_000 bytes/s; '20Mbit/s' and '20Mbps' -> 2_500_000; a bare number is bytes/s."""
    m = _RATE.match(_as_text(value))
    if not m:
        raise ValueError(f"{value!r} is not {RATE_FORMS}")
    unit = m.group(2).lower()
    word, per = (m.group(3) or "").lower(), (m.group(4) or "").lower()
    bits = word.startswith("bit") or (word == "b" and per == "ps")  # "Mbps": networking's bits
    n = float(m.group(1)) * _SCALE[unit] / (8 if bits else 1)
    if n < 1:
        raise ValueError(f"{value!r} is less than one byte per second: write {RATE_FORMS}")
    return int(n)


def parse_size_or_percent(value: object) -> tuple[str, float]:
    """'10%' -> ("percent", 10.0); '50GB' -> ("bytes", 5e10)."""
    text = _as_text(value).strip()
    if text.endswith("%"):
        try:
            pct = float(text[:-1])
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage: write e.g. \"10%\"") from None
        if not 0 < pct < 100:
            raise ValueError(f"{value!r} must be between 0% and 100%")
        return "percent", pct
    return "bytes", float(parse_size(text))
