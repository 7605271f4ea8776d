"""hostconfig: user namespaces switched off, overlay on xfs without d_type, huge nofile limits.

The rootless case is Debian bookworm's real uidmap package (newuidmap/newgidmap). The rpm fd
loop case is hand-written: CentOS 7's rpm 4.11.3 added to the real Debian profile, because no
CentOS 7 rpm database can be built here. Storage facts are host properties set on catalog hosts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from debimage import Unpack, deb_image
from hostkit import ScanReal, fact, host_with, unknown

from portwise.model.image import ImageProfile, Package
from portwise.rules import hostconfig

EL7 = "rhel-7.9"


def judge(profile: ImageProfile, host):  # type: ignore[no-untyped-def]
    return hostconfig.judge(hostconfig.needs(profile), hostconfig.offers(host))


def sysctls(**values: str) -> dict[str, object]:
    return {k.replace("__", "."): fact(v, "file /proc/sys/...") for k, v in values.items()}


@pytest.fixture
def rootless(tmp_path: Path, debian_package: Unpack) -> ImageProfile:
    return deb_image(tmp_path, debian_package, ["uidmap"])


def test_rootless_tools_on_el7_without_user_namespaces_fail(rootless: ImageProfile) -> None:
    host = host_with(EL7, security__sysctls=sysctls(user__max_user_namespaces="0"))
    (finding,) = judge(rootless, host)
    assert (finding.id, finding.severity) == ("hostconfig.userns-disabled", "fail")
    assert finding.evidence.image[0].startswith("dpkg package uidmap 1:4.13")
    assert finding.evidence.host[0].startswith("user.max_user_namespaces 0")
    assert finding.incidents == ["userns-disabled-el7"]


def test_debian_switch_also_refuses(rootless: ImageProfile) -> None:
    host = host_with(
        "debian-12",
        security__sysctls=sysctls(
            user__max_user_namespaces="63229", kernel__unprivileged_userns_clone="0"
        ),
    )
    (finding,) = judge(rootless, host)
    assert finding.evidence.host[0].startswith("kernel.unprivileged_userns_clone 0")


def test_enabled_namespaces_pass_and_an_absent_debian_switch_is_no_restriction(
    rootless: ImageProfile,
) -> None:
    host = host_with(
        "rhel-9.4",
        security__sysctls={
            "user.max_user_namespaces": fact("15000"),
            "kernel.unprivileged_userns_clone": unknown(
                "/proc/sys/kernel/unprivileged_userns_clone does not exist"
            ),
        },
    )
    assert judge(rootless, host) == ()


def test_unrecorded_sysctls_are_risks_naming_them(rootless: ImageProfile) -> None:
    findings = judge(rootless, host_with(EL7))
    assert {f.unknown[0] for f in findings} == {
        "user.max_user_namespaces",
        "kernel.unprivileged_userns_clone",
    }
    assert all(f.severity == "risk" for f in findings)


def test_images_without_rootless_tools_ignore_user_namespaces(real_profile: ScanReal) -> None:
    host = host_with(EL7, security__sysctls=sysctls(user__max_user_namespaces="0"))
    assert judge(real_profile("debian-bookworm-amd64"), host) == ()


def overlay_on(filesystem: str, **more: object):  # type: ignore[no-untyped-def]
    return host_with(
        EL7,
        engines__storage_driver=fact("overlay", "storage.conf"),
        engines__storage_filesystem=fact(filesystem, "file /proc/mounts"),
        **more,
    )


def test_overlay_on_xfs_with_unknown_ftype_is_a_risk_for_any_image(real_profile: ScanReal) -> None:
    host = overlay_on("xfs", engines__storage_d_type=unknown("xfs_info not run"))
    (finding,) = judge(real_profile("debian-bookworm-amd64"), host)
    assert (finding.id, finding.severity) == ("hostconfig.overlay-xfs-ftype-unknown", "risk")
    assert finding.incidents == ["overlay-xfs-ftype0"]
    assert judge(real_profile("debian-bookworm-amd64"), overlay_on("ext4")) == ()


def test_overlay_without_d_type_fails(real_profile: ScanReal) -> None:
    host = overlay_on("xfs", engines__storage_d_type=fact(False, "xfs_info: ftype=0"))
    (finding,) = judge(real_profile("debian-bookworm-amd64"), host)
    assert (finding.id, finding.severity) == ("hostconfig.overlay-no-d-type", "fail")
    ok = overlay_on("xfs", engines__storage_d_type=fact(True, "xfs_info: ftype=1"))
    assert judge(real_profile("debian-bookworm-amd64"), ok) == ()


def el7_rpm(base: ImageProfile, version: str = "4.11.3-45.el7") -> ImageProfile:
    rpm = Package(manager="rpm", name="rpm", version=version, layer=0, database="test")
    return base.model_copy(update={"packages": [rpm]})


def test_centos7_rpm_under_a_huge_nofile_limit_is_a_risk(real_profile: ScanReal) -> None:
    image = el7_rpm(real_profile("debian-bookworm-amd64"))
    huge = host_with(EL7, engines__default_ulimits=fact(["nofile=1073741816:1073741816"]))
    (finding,) = judge(image, huge)
    assert (finding.id, finding.severity) == ("hostconfig.nofile-huge", "risk")
    assert finding.evidence.image == ["rpm package rpm 4.11.3-45.el7"]
    assert "1073741816" in finding.evidence.host[0]
    assert finding.incidents == ["rlimit-nofile-infinity"]
    sane = host_with(EL7, engines__default_ulimits=fact(["nofile=1024:524288"]))
    assert judge(image, sane) == ()
    (unread,) = judge(image, host_with(EL7))
    assert unread.unknown == ["default open-files limit"]


def test_fixed_rpm_and_debian_images_do_not_care(real_profile: ScanReal) -> None:
    huge = host_with(EL7, engines__default_ulimits=fact(["nofile=1073741816:1073741816"]))
    assert judge(el7_rpm(real_profile("debian-bookworm-amd64"), "4.14.3-4.el8"), huge) == ()
    assert judge(real_profile("debian-bookworm-amd64"), huge) == ()
