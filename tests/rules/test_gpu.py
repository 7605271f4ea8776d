"""gpu: the CUDA release an image is built for against the host's NVIDIA driver.

The CUDA images are mini OCI images whose config carries the variables NVIDIA's nvidia/cuda
11.0.3 images set (the CUDA libraries themselves are not redistributable, so the bundled-runtime
case is an empty file at the path NVIDIA's pip wheel uses); they are scanned by portwise.
"""

from __future__ import annotations

from pathlib import Path

from hostkit import ScanReal, fact, host_with, unknown
from imagekit import OciLayout, file, layer_tar

from portwise.image.scan import ScanOptions, scan
from portwise.model.image import ImageProfile
from portwise.rules import gpu

REQUIRE_11 = "cuda>=11.0 brand=tesla,driver>=418,driver<419"
WHEEL = "usr/lib/python3/dist-packages/nvidia/cuda_runtime/lib/libcudart.so.{}"


def image(tmp: Path, env: list[str], *paths: str) -> ImageProfile:
    layout = OciLayout(tmp / "layout")
    items = [file("etc/os-release", "ID=ubuntu\n"), *(file(p) for p in paths)]
    layout.add_image([layer_tar(items)], config_extra={"config": {"Env": env}})
    (profile,) = scan(f"oci:{tmp / 'layout'}:latest", ScanOptions(cache_dir=tmp / "cache"))
    return profile


def driver(version: str):  # type: ignore[no-untyped-def]
    return host_with(
        "debian-12", gpu__nvidia_driver=fact(version, "file /proc/driver/nvidia/version")
    )


def judge(profile: ImageProfile, host):  # type: ignore[no-untyped-def]
    return gpu.judge(gpu.needs(profile), gpu.offers(host))


def cuda11(tmp: Path, *extra: str) -> ImageProfile:
    return image(tmp, [f"NVIDIA_REQUIRE_CUDA={REQUIRE_11}", "CUDA_VERSION=11.0.3", *extra])


def test_cuda_11_on_driver_440_fails(tmp_path: Path) -> None:
    (finding,) = judge(cuda11(tmp_path), driver("440.33.01"))
    assert (finding.id, finding.severity) == ("gpu.driver-too-old", "fail")
    assert finding.incidents == ["cuda-image-vs-driver"]
    assert finding.evidence.image == [f"env NVIDIA_REQUIRE_CUDA={REQUIRE_11}"]
    assert "440.33.01" in finding.evidence.host[0]
    assert "450.36.06" in finding.explanation


def test_cuda_11_on_a_450_driver_passes(tmp_path: Path) -> None:
    assert judge(cuda11(tmp_path), driver("450.80.02")) == ()
    assert judge(cuda11(tmp_path), driver("535.104.05")) == ()


def test_brand_alternative_admits_an_old_datacentre_driver_as_a_risk(tmp_path: Path) -> None:
    (finding,) = judge(cuda11(tmp_path), driver("418.87.01"))
    assert (finding.id, finding.severity) == ("gpu.forward-compat-only", "risk")


def test_disabled_requirement_is_no_excuse_for_an_old_driver(tmp_path: Path) -> None:
    (finding,) = judge(cuda11(tmp_path, "NVIDIA_DISABLE_REQUIRE=true"), driver("418.87.01"))
    assert finding.severity == "fail"


def test_bundled_runtime_runs_on_an_older_driver_of_its_family(tmp_path: Path) -> None:
    wheel = image(tmp_path, ["PATH=/usr/bin"], WHEEL.format("12.4.127"))
    assert gpu.needs(wheel).cuda == "12.4"  # type: ignore[union-attr]
    (finding,) = judge(wheel, driver("535.104.05"))
    assert (finding.id, finding.severity) == ("gpu.minor-version-compat", "risk")
    (old,) = judge(wheel, driver("470.82.01"))
    assert old.id == "gpu.driver-too-old"


def test_pip_wheel_major_only_name(tmp_path: Path) -> None:
    wheel = image(tmp_path, ["PATH=/usr/bin"], WHEEL.format("12"))
    assert gpu.needs(wheel).cuda == "12.0"  # type: ignore[union-attr]
    assert judge(wheel, driver("550.54.15")) == ()


def test_no_driver_on_the_host(tmp_path: Path) -> None:
    none = host_with(
        "debian-12",
        gpu__nvidia_driver=unknown("no NVIDIA driver loaded (no /proc/driver/nvidia/version)"),
    )
    (finding,) = judge(cuda11(tmp_path), none)
    assert (finding.id, finding.severity) == ("gpu.no-driver", "fail")
    wheel = image(tmp_path / "w", ["PATH=/usr/bin"], WHEEL.format("12"))
    (bundled,) = judge(wheel, none)
    assert bundled.severity == "risk"


def test_unread_driver_is_a_risk_naming_it(tmp_path: Path) -> None:
    (finding,) = judge(cuda11(tmp_path), host_with("debian-12"))
    assert finding.unknown == ["NVIDIA driver version"]


def test_same_branch_older_build_is_a_risk(tmp_path: Path) -> None:
    """The table keeps the newest update's minimum for 12.2 (535.104): 535.54 is the GA's."""
    twelve = image(tmp_path, ["NVIDIA_REQUIRE_CUDA=cuda>=12.2", "CUDA_VERSION=12.2.0"])
    (finding,) = judge(twelve, driver("535.54.03"))
    assert (finding.id, finding.severity) == ("gpu.driver-branch-boundary", "risk")


def test_images_without_cuda_have_no_gpu_finding(real_profile: ScanReal) -> None:
    assert gpu.needs(real_profile("debian-bookworm-amd64")) is None
    assert judge(real_profile("debian-bookworm-amd64"), host_with("debian-12")) == ()
