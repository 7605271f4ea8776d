"""Real binaries for the direct-syscall tests, built once per machine (cached)."""

from __future__ import annotations

import json

import pytest
from buildkit import built_fixture


@pytest.fixture(scope="session")
def binaries() -> dict[str, dict[str, str]]:
    """name -> {path, arch, kind, source}: see tests/fixtures/binaries/build_binaries.py."""
    out = built_fixture("tests/fixtures/binaries/build_binaries.py", timeout=1800)
    manifest: dict[str, dict[str, str]] = json.loads((out / "manifest.json").read_text())
    return manifest
