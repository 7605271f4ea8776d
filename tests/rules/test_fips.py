"""fips: RHEL-family crypto follows the host's FIPS mode; Debian's ignores it.

The Debian case is a mini image of the real openssl and libssl3 packages of bookworm. The
RHEL case is hand-written (an rpm openssl-libs on a RHEL 8 os-release, added to the real
Debian profile), because no RHEL package or rpm database can be fetched here.
"""

from __future__ import annotations

from pathlib import Path

from debimage import Unpack, deb_image
from hostkit import ScanReal, fact, host_with, unknown

from portwise.model.image import ImageProfile, OsRelease, Package
from portwise.rules import fips

ON = host_with("rhel-8.10", security__fips=fact(True, "file /proc/sys/crypto/fips_enabled"))
OFF = host_with("rhel-8.10", security__fips=fact(False, "file /proc/sys/crypto/fips_enabled"))
UNKNOWN = host_with("rhel-8.10", security__fips=unknown("FIPS mode is enabled per machine"))


def judge(profile: ImageProfile, host):  # type: ignore[no-untyped-def]
    return fips.judge(fips.needs(profile), fips.offers(host))


def rhel8(base: ImageProfile) -> ImageProfile:
    os = OsRelease(
        id="rhel", version_id="8.10", id_like=["fedora"], path="/etc/os-release", layer=0
    )
    libs = Package(
        manager="rpm", name="openssl-libs", version="1:1.1.1k-12.el8_9", layer=0, database="test"
    )
    return base.model_copy(update={"os_release": os, "packages": [libs]})


def test_rhel_openssl_on_a_fips_host_is_a_risk(real_profile: ScanReal) -> None:
    (finding,) = judge(rhel8(real_profile("debian-bookworm-amd64")), ON)
    assert (finding.id, finding.severity) == ("fips.host-mode-propagates", "risk")
    assert finding.evidence.image == ["rpm package openssl-libs 1:1.1.1k-12.el8_9"]
    assert finding.evidence.host == [
        "FIPS mode True (from test: file /proc/sys/crypto/fips_enabled)"
    ]
    assert finding.incidents == ["fips-host-propagation"]
    assert "MD5" in finding.explanation


def test_rhel_openssl_with_unknown_fips_mode_is_a_risk(real_profile: ScanReal) -> None:
    (finding,) = judge(rhel8(real_profile("debian-bookworm-amd64")), UNKNOWN)
    assert finding.unknown == ["FIPS mode"]
    assert judge(rhel8(real_profile("debian-bookworm-amd64")), OFF) == ()


def test_same_package_name_outside_the_rhel_family_does_not_follow(real_profile: ScanReal) -> None:
    image = rhel8(real_profile("debian-bookworm-amd64"))
    alpine = image.model_copy(
        update={"os_release": image.os_release.model_copy(update={"id": "alpine", "id_like": []})}  # type: ignore[union-attr]
    )
    assert fips.needs(alpine).followers == ()


def test_real_debian_openssl_ignores_the_host_mode(tmp_path: Path, debian_package: Unpack) -> None:
    image = deb_image(tmp_path, debian_package, ["openssl", "libssl3"])
    need = fips.needs(image)
    assert need.followers == ()
    assert any(e.startswith("dpkg package libssl3 3.0") for e in need.ignorers)
    (finding,) = judge(image, ON)
    assert (finding.id, finding.severity) == ("fips.host-mode-ignored", "info")
    assert judge(image, UNKNOWN) == ()
    assert judge(image, OFF) == ()


def test_a_kernel_without_the_fips_sysctl_cannot_be_in_fips_mode(real_profile: ScanReal) -> None:
    """/proc/sys/crypto/fips_enabled exists only with CONFIG_CRYPTO_FIPS (this machine's case)."""
    host = host_with(
        "debian-12", security__fips=unknown("/proc/sys/crypto/fips_enabled does not exist")
    )
    assert fips.offers(host).fips.value is False
    assert judge(rhel8(real_profile("debian-bookworm-amd64")), host) == ()
