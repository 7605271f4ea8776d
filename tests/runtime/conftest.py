"""Real images for the real-engine tests: small Debian roots with the programs that break."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from buildkit import built_fixture

from portwise.image.scan import ScanOptions, scan
from portwise.model.image import ImageProfile


@pytest.fixture(scope="session")
def runtime_images() -> Path:
    return built_fixture("tests/fixtures/runtime/build_runtime_images.py", timeout=900)


@pytest.fixture(scope="session")
def runtime_profile(
    runtime_images: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], ImageProfile]:
    """`runtime_profile("debian-trixie")`: the scanned profile of a runtime fixture image."""
    cache = tmp_path_factory.mktemp("runtime-cache")
    seen: dict[str, ImageProfile] = {}

    def get(name: str) -> ImageProfile:
        if name not in seen:
            ref = f"oci:{runtime_images}/oci/{name}:latest"
            (seen[name],) = scan(ref, ScanOptions(cache_dir=cache))
        return seen[name]

    return get
