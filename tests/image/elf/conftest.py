"""Real binaries for the direct-syscall tests, built once per machine (cached)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BUILDER = Path(__file__).resolve().parents[2] / "fixtures" / "binaries" / "build_binaries.py"


@pytest.fixture(scope="session")
def binaries() -> dict[str, dict[str, str]]:
    """name -> {path, arch, kind, source}: see tests/fixtures/binaries/build_binaries.py."""
    result = subprocess.run(
        [sys.executable, str(BUILDER)], capture_output=True, text=True, timeout=1800, check=False
    )
    assert result.returncode == 0, f"binary fixtures failed:\n{result.stdout}\n{result.stderr}"
    out = Path(result.stdout.strip().splitlines()[-1])
    manifest: dict[str, dict[str, str]] = json.loads((out / "manifest.json").read_text())
    return manifest
