"""Human sizes on the command line (32G, 512M, 1.5GiB) -> bytes."""

from __future__ import annotations

import re

from portwise.errors import UsageError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_size(text: str, option: str) -> int:
    """Binary multiples (1K = 1024): limits guard memory and disk, which count in those."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"{option}: {text!r} is not a size such as 512M or 32G")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * (1024 ** _POWERS[unit]))


def human_size(count: int | None) -> str:
    if count is None:
        return "?"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"
