"""Foreign images for real: a Debian armhf image on this x86-64 machine runs through qemu-arm, or
the run says plainly that it cannot and what would make it run. The handler is removed,
disabled and registered for real (tests/runtime/conftest.py's `qemu_arm` holds a lock and
restores the machine's state); binfmt_misc is unmounted only in a private mount namespace."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from portwise.host.catalog import load_catalog_host
from portwise.image.scan import ScanOptions, scan
from portwise.model.image import ImageProfile
from portwise.runtime.run import RunOptions, run_test

SetQemuArm = Callable[[str], None]
QEMU_ARM = Path("/proc/sys/fs/binfmt_misc/qemu-arm")


def armhf(runtime_images: Path) -> str:
    return f"oci:{runtime_images}/oci/debian-bookworm-armhf:latest"


def portwise(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "portwise", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_no_handler_and_no_setup_is_not_run_with_the_command(
    runtime_images: Path, qemu_arm: SetQemuArm, tmp_path: Path
) -> None:
    qemu_arm("absent")
    done = portwise(
        "test",
        armhf(runtime_images),
        "--host",
        "debian-12",
        "--no-binfmt-setup",
        "--json",
        "--cache-dir",
        str(tmp_path),
    )
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert (report["status"], report["outcome"], report["agreement"]) == (
        "NOT RUN",
        "NOT RUN",
        "inconclusive",
    )
    assert report["not_run_why"] == (
        "this machine cannot run arm code: no binfmt_misc handler runs arm code here, "
        "and --no-binfmt-setup forbids changing this machine"
    )
    assert report["not_run_hint"] == "update-binfmts --enable qemu-arm"
    assert report["host_changes"] == []
    assert {p["outcome"] for p in report["probes"]} == {"skipped"}
    assert all(p["exit_code"] is None for p in report["probes"])  # nothing was started
    assert "arm code: no usable binfmt_misc handler on this machine" in report["not_emulated"]
    assert not any("qemu-user" in e for e in report["emulated"])
    assert "to run it: update-binfmts --enable qemu-arm" in done.stderr
    assert not QEMU_ARM.exists()  # portwise changed nothing


def test_as_root_it_registers_qemu_arm_says_so_and_runs(
    runtime_images: Path, qemu_arm: SetQemuArm, tmp_path: Path
) -> None:
    qemu_arm("absent")
    done = portwise(
        "test",
        armhf(runtime_images),
        "--host",
        "debian-12",
        "--probe",
        "uname -m",
        "--probe",
        "echo portwise | xz -T2 >/dev/null",
        "--json",
        "--cache-dir",
        str(tmp_path),
    )
    report = json.loads(done.stdout)
    assert report["host_changes"] == [
        "registered the binfmt_misc handler qemu-arm with update-binfmts --enable qemu-arm "
        "(undo: update-binfmts --disable qemu-arm)"
    ]
    assert "changed this machine: registered the binfmt_misc handler qemu-arm" in done.stderr
    machine, threads = report["probes"]
    assert (machine["outcome"], machine["stdout"]) == ("pass", "armv7l\n")
    assert threads["outcome"] == "pass"
    assert done.returncode == 0, done.stderr
    (line,) = (e for e in report["emulated"] if "qemu-user" in e)
    assert "binfmt_misc handler qemu-arm, flags PF" in line  # F: works inside the container
    assert QEMU_ARM.read_text().startswith("enabled\n")


def test_a_disabled_handler_is_switched_on_only_when_allowed(
    runtime_images: Path, qemu_arm: SetQemuArm, tmp_path: Path
) -> None:
    qemu_arm("disabled")
    (image,) = scan(armhf(runtime_images), ScanOptions(cache_dir=tmp_path))
    host = load_catalog_host("debian-12")
    refused = run_test(image, host, RunOptions(commands=["true"], binfmt_setup=False))
    assert refused.status == "NOT RUN"
    assert refused.not_run_hint == f"echo 1 > {QEMU_ARM}"
    assert "the binfmt_misc handler qemu-arm is disabled" in (refused.not_run_why or "")
    assert QEMU_ARM.read_text().startswith("disabled\n")
    ran = run_test(image, host, RunOptions(commands=["true"]))
    assert ran.status == "PASS"
    assert ran.host_changes == [
        f"enabled the disabled binfmt_misc handler qemu-arm (undo: echo 0 > {QEMU_ARM})"
    ]


@pytest.fixture(scope="module")
def amd64_with_an_arm_program(
    runtime_images: Path, tmp_path_factory: pytest.TempPathFactory
) -> ImageProfile:
    """trixie (amd64) plus armhf's static busybox: a foreign program in a native image, which
    no platform check sees coming; only the kernel's ENOEXEC says it cannot run."""
    work = tmp_path_factory.mktemp("mixed")
    armhf_layout = runtime_images / "oci" / "debian-bookworm-armhf"
    index = json.loads((armhf_layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((armhf_layout / "blobs/sha256" / digest).read_text())
    (layer,) = manifest["layers"]
    blob = armhf_layout / "blobs/sha256" / layer["digest"].split(":")[1]
    with tarfile.open(blob) as tar:
        member = next(m for m in tar if m.name.lstrip("./") == "bin/busybox")
        data = tar.extractfile(member)
        assert data is not None
        program = work / "busybox-armhf"
        program.write_bytes(data.read())
    layout = work / "layout"
    shutil.copytree(runtime_images / "oci" / "debian-trixie", layout)
    added = work / "layer.tar"
    with tarfile.open(added, "w") as tar:
        info = tar.gettarinfo(program, arcname="usr/local/bin/busybox-armhf")
        info.mode = 0o755
        with program.open("rb") as handle:
            tar.addfile(info, handle)
    subprocess.run(
        ["umoci", "raw", "add-layer", "--image", f"{layout}:latest", str(added)], check=True
    )
    (profile,) = scan(f"oci:{layout}:latest", ScanOptions(cache_dir=work / "cache"))
    return profile


def test_exec_format_error_is_never_a_failure(
    amd64_with_an_arm_program: ImageProfile, qemu_arm: SetQemuArm
) -> None:
    qemu_arm("absent")
    report = run_test(
        amd64_with_an_arm_program,
        load_catalog_host("debian-12"),
        RunOptions(commands=["/usr/local/bin/busybox-armhf true", "true"]),
    )
    foreign, native = report.probes
    assert foreign.outcome == "skipped"
    assert foreign.exit_code is not None  # it was started: the kernel refused it
    assert (foreign.why or "").startswith("exec format error:")
    assert foreign.agreement == "inconclusive"
    assert native.outcome == "pass"
    assert report.status == "PASS"  # the native probe ran; the foreign one counts for nothing


def test_binfmt_misc_not_mounted_is_mounted_or_named(runtime_images: Path, tmp_path: Path) -> None:
    """In a private mount namespace binfmt_misc is unmounted for real, without touching the
    machine: portwise names the mount command, or (allowed) mounts it and runs arm64."""
    if shutil.which("unshare") is None:
        pytest.skip("util-linux unshare is needed")
    image = f"oci:{runtime_images}/oci/debian-bookworm-arm64:latest"
    private = ("unshare", "--mount", "--propagation", "private", "sh", "-c")
    unmounted = 'umount /proc/sys/fs/binfmt_misc && exec "$@"'
    args = ("test", image, "--host", "debian-12", "--probe", "uname -m", "--json")
    refused = portwise(
        *args,
        "--no-binfmt-setup",
        "--cache-dir",
        str(tmp_path),
        prefix=(*private, unmounted, "sh"),
    )
    assert refused.returncode == 3, refused.stderr
    report = json.loads(refused.stdout)
    assert report["not_run_why"].startswith(
        "this machine cannot run aarch64 code: binfmt_misc is not mounted at "
        "/proc/sys/fs/binfmt_misc, and --no-binfmt-setup forbids changing this machine"
    )
    assert report["not_run_hint"].startswith(
        "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && "
    )
    mounted = portwise(*args, "--cache-dir", str(tmp_path), prefix=(*private, unmounted, "sh"))
    assert mounted.returncode == 0, mounted.stderr
    report = json.loads(mounted.stdout)
    assert report["host_changes"][0] == (
        "mounted binfmt_misc at /proc/sys/fs/binfmt_misc (undo: umount /proc/sys/fs/binfmt_misc)"
    )
    assert report["probes"][0]["stdout"] == "aarch64\n"
