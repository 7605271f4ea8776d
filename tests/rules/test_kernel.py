"""Kernel version: real Debian images against old host kernels (catalog hosts, release changed)."""

from __future__ import annotations

from hostkit import ScanReal, fact, host_with, unknown

from portwise.model.host import HostProfile
from portwise.model.verdict import Finding
from portwise.rules import kernel


def on(release: str) -> HostProfile:
    return host_with("debian-11", f"kernel-{release}", kernel__release=fact(release))


def judge(real_profile: ScanReal, image: str, host: HostProfile) -> list[Finding]:
    profile = real_profile(image)
    return list(kernel.judge(kernel.needs(profile), kernel.offers(host)))


def test_bullseye_glibc_2_31_refuses_a_2_6_32_kernel(real_profile: ScanReal) -> None:
    """vgteam/vg#2458: glibc before 2.36 aborts with 'FATAL: kernel too old'."""
    findings = judge(real_profile, "debian-bullseye-amd64", on("2.6.32-754.el6.x86_64"))
    too_old = [f for f in findings if f.id == "kernel.too-old-for-libc" and f.severity == "fail"]
    assert len(too_old) == 1
    assert "libc-2.31.so" in too_old[0].title and "3.2.0" in too_old[0].title
    assert too_old[0].incidents == ["glibc-kernel-too-old"]
    assert any("2.6.32" in e for e in too_old[0].evidence.host)


def test_bookworm_glibc_2_36_no_longer_checks(real_profile: ScanReal) -> None:
    """glibc 2.36 removed the check: below the minimum is a risk, not a startup abort."""
    findings = judge(real_profile, "debian-bookworm-amd64", on("2.6.32-754.el6.x86_64"))
    libc = [
        f for f in findings if "libc" in f.evidence.image[0] and "ABI-tag" in f.evidence.image[0]
    ]
    assert [f.id for f in libc] == ["kernel.below-libc-minimum"]
    assert libc[0].severity == "risk"


def test_same_image_on_a_new_enough_kernel_has_no_failure(real_profile: ScanReal) -> None:
    findings = judge(real_profile, "debian-bullseye-amd64", on("5.10.0-26-amd64"))
    assert [f.severity for f in findings] in ([], ["info"])


def test_newer_syscalls_with_enosys_fallbacks_are_noted_not_failed(real_profile: ScanReal) -> None:
    """trixie's glibc uses clone3 (5.3) and statx (4.11); on 5.4 clone3 falls back to clone."""
    findings = judge(real_profile, "debian-trixie-amd64", on("4.19.0-27-amd64"))
    handled = next(f for f in findings if f.id == "kernel.newer-syscalls-handled")
    assert any(
        e.startswith("clone3 (Linux 5.3) via pthread_create: ok") for e in handled.evidence.image
    )
    assert not any(f.severity == "fail" for f in findings)


def test_unknown_release_is_a_risk(real_profile: ScanReal) -> None:
    host = host_with("debian-11", kernel__release=unknown("uname not recorded"))
    (finding,) = judge(real_profile, "debian-bookworm-amd64", host)
    assert (finding.severity, finding.unknown) == ("risk", ["kernel release"])
