"""os-release(5): the distribution's identity."""

from __future__ import annotations

import shlex
from typing import Any

PATHS = ("etc/os-release", "usr/lib/os-release")
MAX_BYTES = 64 << 10


def parse_os_release(content: bytes) -> dict[str, str]:
    """KEY=value lines with shell quoting; unparseable lines are skipped, as systemd does."""
    values: dict[str, str] = {}
    for line in content.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw, posix=True)
        except ValueError:
            continue
        values[key.strip()] = " ".join(words)
    return values


class OsReleaseAnalyzer:
    name = "os-release"
    version = 2  # 2: a file over max_bytes is a note, not silently skipped
    max_bytes = MAX_BYTES

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path in PATHS

    def analyze(self, path: str, content: bytes) -> Any:
        return parse_os_release(content)
