"""Suite tests: suite files written into tmp_path, and the real runtime fixture images."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from buildkit import built_fixture

WriteSuite = Callable[[str], Path]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def write_suite(tmp_path: Path) -> WriteSuite:
    """`write_suite('''yaml''')`: the dedented text as tmp_path/suite.yaml."""

    def write(text: str) -> Path:
        path = tmp_path / "suite.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def runtime_images() -> Path:
    return built_fixture("tests/fixtures/runtime/build_runtime_images.py", timeout=900)


@pytest.fixture(scope="session")
def scan_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("suite-cache")


Portwise = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def portwise() -> Portwise:
    """`portwise("suite", "run", FILE)`: the real command line, run from the repository."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "portwise", *args], capture_output=True, text=True, cwd=REPO
        )

    return run
