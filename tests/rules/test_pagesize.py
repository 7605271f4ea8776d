"""Page size: a real arm64 binary linked for 4 KiB pages, Debian's real libjemalloc2, and the
real Debian arm64 image (64 KiB-aligned), against hosts with 4, 16 and 64 KiB pages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hostkit import ScanReal, fact, host_with, unknown
from imagekit import OciLayout, file, layer_tar

from portwise.image.scan import ScanOptions, scan
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.rules import pagesize


def arm_host(page: Any) -> HostProfile:
    value = page if not isinstance(page, int) else fact(page, f"a {page // 1024} KiB kernel")
    return host_with("debian-12", kernel__architecture=fact("aarch64"), kernel__page_size=value)


def judge(profile: ImageProfile, host: HostProfile):  # type: ignore[no-untyped-def]
    return pagesize.judge(pagesize.needs(profile), pagesize.offers(host))


def arm64_image(tmp: Path, items: list[Any]) -> ImageProfile:
    layout = OciLayout(tmp / "img")
    layout.add_image([layer_tar(items)], arch="arm64")
    (profile,) = scan(f"oci:{tmp / 'img'}:latest", ScanOptions(cache_dir=tmp / "cache"))
    return profile


@pytest.fixture
def aligned_4k(tmp_path: Path) -> ImageProfile:
    """An aarch64 program linked by Debian's cross gcc with -z max-page-size=4096."""
    if shutil.which("aarch64-linux-gnu-gcc") is None:
        pytest.skip("gcc-aarch64-linux-gnu is not installed")
    (tmp_path / "h.c").write_text("int main(void) { return 0; }\n")
    out = tmp_path / "app"
    subprocess.run(
        [
            "aarch64-linux-gnu-gcc",
            "-O2",
            "-Wl,-z,max-page-size=4096",
            "-o",
            str(out),
            str(tmp_path / "h.c"),
        ],
        check=True,
    )
    return arm64_image(tmp_path, [file("usr/local/bin/app", out.read_bytes(), mode=0o755)])


def test_binary_linked_for_4k_pages_fails_on_a_16k_kernel(aligned_4k: ImageProfile) -> None:
    (finding,) = judge(aligned_4k, arm_host(16384))
    assert (finding.id, finding.severity) == ("pagesize.load-align", "fail")
    assert "not page-aligned" in finding.explanation
    assert finding.evidence.image == [
        "1 binaries with largest PT_LOAD alignment 4096, e.g. /usr/local/bin/app"
    ]
    assert any("16384" in e for e in finding.evidence.host)


def test_binary_linked_for_4k_pages_runs_on_a_4k_kernel(aligned_4k: ImageProfile) -> None:
    assert judge(aligned_4k, arm_host(4096)) == ()


def test_unknown_page_size_is_a_risk_for_page_bound_arm64_code(
    aligned_4k: ImageProfile,
) -> None:
    (finding,) = judge(aligned_4k, arm_host(unknown("test: getconf not run")))
    assert (finding.id, finding.severity) == ("pagesize.page-size-unknown", "risk")
    assert finding.unknown == ["kernel page size"]


def test_debian_arm64_is_64k_aligned_and_runs_on_every_page_size(
    real_profile: ScanReal,
) -> None:
    arm = real_profile("debian-bookworm-arm64")
    assert arm.binary_summary.smallest_load_align is not None
    assert arm.binary_summary.smallest_load_align.value == "65536"
    for page in (4096, 16384, 65536):
        assert judge(arm, arm_host(page)) == ()
    assert judge(arm, arm_host(unknown())) == ()


def test_x86_64_image_never_depends_on_the_page_size(real_profile: ScanReal) -> None:
    """x86-64 pages are 4 KiB by architecture: an unknown value there is no risk."""
    host = host_with("debian-12", kernel__page_size=unknown())
    assert judge(real_profile("debian-trixie-amd64"), host) == ()


@pytest.fixture
def with_jemalloc(tmp_path: Path, debian_package: Any) -> ImageProfile:
    """Debian's real libjemalloc2 and its dpkg record, in an arm64-tagged image (the amd64
    build: no arm64 dpkg architecture is configured here; the rule reads names, not code)."""
    root: Path = debian_package("libjemalloc2")
    deb = next(root.parent.glob("libjemalloc2_*.deb"))
    control = subprocess.run(
        ["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True
    ).stdout
    status = control.rstrip("\n") + "\nStatus: install ok installed\n"
    (library,) = root.glob("usr/lib/*/libjemalloc.so.2")
    return arm64_image(
        tmp_path,
        [
            file("var/lib/dpkg/status", status),
            file("usr/lib/aarch64-linux-gnu/libjemalloc.so.2", library.read_bytes()),
        ],
    )


def test_jemalloc_on_a_16k_kernel_is_a_risk_citing_the_incident(
    with_jemalloc: ImageProfile,
) -> None:
    findings = judge(with_jemalloc, arm_host(16384))
    finding = next(f for f in findings if f.id == "pagesize.jemalloc")
    assert finding.severity == "risk"
    assert finding.incidents == ["arm64-pagesize-jemalloc"]
    assert "<jemalloc>: Unsupported system page size" in finding.explanation
    assert any(e.startswith("package libjemalloc2 5.3.0") for e in finding.evidence.image)
    assert "library /usr/lib/aarch64-linux-gnu/libjemalloc.so.2" in finding.evidence.image


def test_jemalloc_on_a_4k_kernel_is_fine(with_jemalloc: ImageProfile) -> None:
    assert [f.id for f in judge(with_jemalloc, arm_host(4096))] == []
