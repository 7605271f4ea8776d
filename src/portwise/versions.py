"""Version strings compared as numbers, shared by every layer (knowledge, image, rules)."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=8192)  # the same few hundred versions are asked for by every image and host
def version_key(text: str) -> tuple[int, ...]:
    """ "2.28" < "2.31" < "2.31.1"; non-digits separate parts, so "535.104.05" works too."""
    return tuple(int(part) for part in re.findall(r"\d+", text))
