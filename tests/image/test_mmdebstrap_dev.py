"""Issue 13: a real base image as mmdebstrap writes it, /dev nodes included (no --skip=output/dev),
scans and checks. It used to be refused outright ("device node"), and `check` had no way round.

Only base-files is extracted (about 3 s from the mirror): its /etc/os-release is the real
`../usr/lib/os-release` link.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from imagekit import OciLayout

from portwise.image.scan import ScanOptions, scan


def mirror() -> list[str]:
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return [line.split()[1]]
    return []


@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("mmdebstrap") / "bookworm.tar"
    options = ["-q", "--variant=extract", "--include=base-files", "--format=tar"]
    subprocess.run(["mmdebstrap", *options, "bookworm", str(target), *mirror()], check=True)
    return target


EXPECTED_DEV = {
    "/dev/console": (5, 1),
    "/dev/full": (1, 7),
    "/dev/null": (1, 3),
    "/dev/ptmx": (5, 2),
    "/dev/random": (1, 8),
    "/dev/tty": (5, 0),
    "/dev/urandom": (1, 9),
    "/dev/zero": (1, 5),
}


@pytest.mark.parametrize("source", ["oci", "rootfs-tar"])
def test_mmdebstrap_image_with_dev_nodes_scans(
    rootfs_tar: Path, tmp_path: Path, source: str
) -> None:
    if source == "oci":
        layout = OciLayout(tmp_path / "img")
        layout.add_image([rootfs_tar.read_bytes()])
        ref = f"oci:{layout.root}"
    else:
        ref = f"rootfs:{rootfs_tar}"
    (profile,) = scan(ref, ScanOptions(cache_dir=tmp_path / "cache"))
    devices = {f.path: f.device for f in profile.files if f.kind == "chardev"}
    assert devices == EXPECTED_DEV
    assert profile.os_release is not None and profile.os_release.id == "debian"
    assert profile.os_release.path == "/usr/lib/os-release"  # through the real symlink


def test_check_accepts_the_image(rootfs_tar: Path, tmp_path: Path) -> None:
    args = ["check", f"rootfs:{rootfs_tar}", "--host", "debian-12", "-f", "json"]
    done = subprocess.run(
        [sys.executable, "-m", "portwise", *args, "--cache-dir", str(tmp_path / "c")],
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 2), done.stderr
    assert "device node" not in done.stderr and "Traceback" not in done.stderr
    (verdict,) = json.loads(done.stdout)["verdicts"]
    assert verdict["host"] == "debian-12"
