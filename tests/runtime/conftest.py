"""Real images for the real-engine tests: small Debian roots with the programs that break."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
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


QEMU_ARM = Path("/proc/sys/fs/binfmt_misc/qemu-arm")


def _qemu_arm_state() -> str:
    """absent | enabled | disabled: this machine's qemu-arm binfmt_misc handler."""
    if not QEMU_ARM.exists():
        return "absent"
    return QEMU_ARM.read_text().splitlines()[0]


def _set_qemu_arm(state: str) -> None:
    now = _qemu_arm_state()
    if now == state:
        return
    if state == "absent":
        subprocess.run(["update-binfmts", "--disable", "qemu-arm"], check=True)
    elif now == "absent":
        subprocess.run(["update-binfmts", "--enable", "qemu-arm"], check=True)
        if state == "disabled":
            QEMU_ARM.write_text("0")
    else:
        QEMU_ARM.write_text("1" if state == "enabled" else "0")
    assert _qemu_arm_state() == state


@pytest.fixture
def qemu_arm(runtime_images: Path) -> Iterator[Callable[[str], None]]:
    """The machine's qemu-arm handler, held for this test alone and restored afterwards.

    The binfmt set-up tests remove, disable and register it for real. Every test that touches
    it takes this exclusive lock (a file beside the shared fixture images, so test runs of other
    checkouts wait too), which keeps them apart under pytest -n 2. The machine's own image
    fixtures only need qemu-aarch64, which no test changes. `qemu_arm("absent")` sets a state.
    """
    if os.geteuid() != 0 or shutil.which("update-binfmts") is None:
        pytest.skip("changing binfmt_misc handlers needs root and binfmt-support")
    with (runtime_images / ".qemu-arm.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = _qemu_arm_state()
        try:
            yield _set_qemu_arm
        finally:
            _set_qemu_arm(before)
