"""jemalloc's compile-time page size: the knowledge data, and Debian's real library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from portwise.knowledge.allocators import default_page, jemalloc

# Ask a jemalloc library for the page size compiled into it (mallctl "arenas.page").
PAGE_OF = """
import ctypes
lib = ctypes.CDLL(None)  # preloaded: jemalloc needs static TLS
page, size = ctypes.c_size_t(), ctypes.c_size_t(ctypes.sizeof(ctypes.c_size_t))
assert lib.mallctl(b"arenas.page", ctypes.byref(page), ctypes.byref(size), None, 0) == 0
print(page.value)
"""


def test_data_loads_with_sources() -> None:
    data = jemalloc()
    assert data.symptom == "<jemalloc>: Unsupported system page size"
    assert all(rule.source.startswith("https://github.com/jemalloc/") for rule in data.defaults)


def test_release_defaults() -> None:
    page, rule = default_page("5.3.0-1", "aarch64")
    assert page is None and rule is not None and rule.versions_below == "5.3.1"
    assert default_page("5.3.1", "aarch64")[0] == 65536
    assert default_page("5.3.1", "x86-64")[0] is None  # still the build machine's
    assert default_page("1:5.2.1-3", "aarch64")[0] is None  # epoch ignored
    assert default_page(None, "aarch64") == (None, None)


def test_debian_build_carries_its_build_machines_page(debian_package: Any) -> None:
    """Debian's amd64 libjemalloc2, loaded for real: 4 KiB compiled in, as configure detects."""
    root: Path = debian_package("libjemalloc2")
    (library,) = root.glob("usr/lib/*/libjemalloc.so.2")
    out = subprocess.run(
        [sys.executable, "-c", PAGE_OF],
        env={**os.environ, "LD_PRELOAD": str(library)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "4096"
