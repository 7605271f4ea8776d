"""vsyscall: a CentOS 6 profile (hand-written: that user space cannot be built here) and the
real Debian images, against hosts with vsyscall none, xonly and unknown."""

from __future__ import annotations

import pytest
from hostkit import ScanReal, fact, host_with, unknown

from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile, Libc, OsRelease
from portwise.rules import vsyscall
from portwise.verdict import check

NONE = host_with("debian-12", "vsyscall-none", kernel__vsyscall=fact("none", "vsyscall=none"))
XONLY = host_with("debian-12", "vsyscall-xonly", kernel__vsyscall=fact("xonly", "default"))
UNKNOWN = host_with("debian-12", "vsyscall-unknown", kernel__vsyscall=unknown("not recorded"))


def judge(profile: ImageProfile, host: HostProfile):  # type: ignore[no-untyped-def]
    return vsyscall.judge(vsyscall.needs(profile), vsyscall.offers(host))


@pytest.fixture
def centos6(real_profile: ScanReal) -> ImageProfile:
    """The real bookworm profile with CentOS 6's glibc 2.12 and os-release put in its place."""
    base = real_profile("debian-bookworm-amd64")
    return base.model_copy(
        update={
            "reference": "hand-written:centos6",
            "libc": [
                Libc(
                    family="glibc",
                    version="2.12",
                    path="/lib64/libc-2.12.so",
                    layer=0,
                    evidence="hand-written: CentOS 6 ships glibc 2.12",
                )
            ],
            "os_release": OsRelease(id="centos", version_id="6", path="/etc/os-release", layer=0),
        }
    )


def test_centos6_glibc_fails_on_a_vsyscall_none_kernel(centos6: ImageProfile) -> None:
    (finding,) = judge(centos6, NONE)
    assert (finding.id, finding.severity) == ("vsyscall.none", "fail")
    assert finding.incidents == ["vsyscall-none-centos6"]
    assert "exit code 139" in finding.explanation
    assert finding.evidence.image == ["glibc 2.12 (/lib64/libc-2.12.so) calls the vsyscall page"]
    assert any("none" in e for e in finding.evidence.host)


def test_centos6_glibc_runs_with_xonly(centos6: ImageProfile) -> None:
    assert judge(centos6, XONLY) == ()


def test_unknown_vsyscall_mode_is_a_risk_for_old_glibc(centos6: ImageProfile) -> None:
    (finding,) = judge(centos6, UNKNOWN)
    assert (finding.id, finding.severity) == ("vsyscall.mode-unknown", "risk")
    assert finding.unknown == ["kernel vsyscall mode"]


def test_modern_glibc_never_needs_the_page(real_profile: ScanReal) -> None:
    for name in ("debian-bullseye-amd64", "debian-trixie-amd64", "debian-bookworm-arm64"):
        for host in (NONE, UNKNOWN):
            assert judge(real_profile(name), host) == ()


def test_matrix_over_the_three_modes(centos6: ImageProfile, real_profile: ScanReal) -> None:
    images = [centos6, real_profile("debian-bookworm-amd64")]
    matrix = check(images, [NONE, XONLY, UNKNOWN], mechanisms=(vsyscall.MECHANISM,))
    assert [matrix.status(0, h) for h in range(3)] == ["FAIL", "PASS", "RISK"]
    assert [matrix.status(1, h) for h in range(3)] == ["PASS", "PASS", "PASS"]


def test_unknown_glibc_version_on_a_vsyscall_none_host_is_a_risk(real_profile: ScanReal) -> None:
    """No false PASS: a glibc whose version could not be read may be one that needs the page."""
    real = real_profile("debian-bookworm-amd64")
    blind = real.model_copy(
        update={"libc": [lib.model_copy(update={"version": None}) for lib in real.libc]}
    )
    none = host_with("debian-12", kernel__vsyscall=fact("none", "vsyscall=none"))
    (finding,) = judge(blind, none)
    assert (finding.id, finding.severity, finding.unknown) == (
        "vsyscall.glibc-version-unknown",
        "risk",
        ["glibc version"],
    )
    assert judge(blind, host_with("debian-12", kernel__vsyscall=fact("xonly"))) == ()
