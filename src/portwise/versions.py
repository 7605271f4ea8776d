"""Version strings compared as numbers, shared by every layer (knowledge, image, rules)."""

from __future__ import annotations

import re


def version_key(text: str) -> tuple[int, ...]:
    """ "2.28" < "2.31" < "2.31.1"; non-digits separate parts, so "535.104.05" works too."""
    return tuple(int(part) for part in re.findall(r"\d+", text))
