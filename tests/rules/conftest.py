"""Real image profiles for the mechanisms' tests: the Debian images, scanned once a session."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostkit import ScanReal

from portwise.image.scan import ScanOptions, scan
from portwise.model.image import ImageProfile


@pytest.fixture(scope="session")
def real_profile(real_images: Path, tmp_path_factory: pytest.TempPathFactory) -> ScanReal:
    """`real_profile("debian-trixie-amd64")`: the ImageProfile of a real fixture image."""
    cache = tmp_path_factory.mktemp("rules-cache")
    seen: dict[str, ImageProfile] = {}

    def get(name: str) -> ImageProfile:
        if name not in seen:
            (seen[name],) = scan(
                f"oci:{real_images}/oci/{name}:latest", ScanOptions(cache_dir=cache)
            )
        return seen[name]

    return get
