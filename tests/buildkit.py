"""Running the cached fixture builders under tests/fixtures/ from tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def built_fixture(relative_script: str, timeout: int = 1200) -> Path:
    """Run a fixture builder (idempotent, cached per machine); it prints its output directory."""
    result = subprocess.run(
        [sys.executable, str(REPO / relative_script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{relative_script} failed:\n{result.stdout}\n{result.stderr}"
    return Path(result.stdout.strip().splitlines()[-1])
