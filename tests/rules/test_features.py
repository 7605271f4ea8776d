"""features: kernel features a host switched off (config, sysctl, LSM) against the calls an
image issues.

Images are real: Debian trixie and bookworm from the fixtures (keyctl in pam_keyinit and
libsystemd, request_key in libsystemd, landlock_* in setpriv, seccomp in libseccomp, kcmp in
lsfd, bpf looked up by libmount) and Debian bookworm's liburing2 package (io_uring_* issued
directly). Hosts are catalog hosts with the switches changed through hostkit.host_with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from debimage import Unpack, deb_image
from hostkit import ScanReal, fact, host_with, unknown

from portwise.knowledge import kernel_features
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Finding
from portwise.rules import MECHANISMS, features

ALL_ON = {
    "CONFIG_IO_URING": "y",
    "CONFIG_KEYS": "y",
    "CONFIG_BPF_SYSCALL": "y",
    "CONFIG_USERFAULTFD": "y",
    "CONFIG_SECURITY_LANDLOCK": "y",
    "CONFIG_SECCOMP": "y",
    "CONFIG_SECCOMP_FILTER": "y",
    "CONFIG_CHECKPOINT_RESTORE": "y",
    "CONFIG_KCMP": "y",
}
SYSCTLS_ON = {
    "kernel.io_uring_disabled": "0",
    "kernel.unprivileged_bpf_disabled": "0",
    "vm.unprivileged_userfaultfd": "1",
}
LSMS = ["lockdown", "capability", "landlock", "yama", "apparmor"]


def host(
    base: str = "debian-13",
    *,
    config: dict[str, str | None] | None = None,
    sysctls: dict[str, str] | None = None,
    lsms: list[str] | None = None,
    **changes: Any,
) -> HostProfile:
    """A catalog host whose every feature switch is on, except what the test changes (a None
    config value drops the option from the recorded config)."""
    options = {k: v for k, v in {**ALL_ON, **(config or {})}.items() if v is not None}
    values = {**SYSCTLS_ON, **(sysctls or {})}
    facts = {
        "kernel__config": fact(options, "file /proc/config.gz"),
        "security__sysctls": {
            k: fact(v, f"file /proc/sys/{k}").model_dump() for k, v in values.items()
        },
        "security__lsms": fact(LSMS if lsms is None else lsms, "file /sys/kernel/security/lsm"),
        # unconfined, so every call reaches the kernel (a profile that refuses one makes its
        # switch moot: test_a_call_the_profile_refuses_never_reaches_the_switch)
        "engines__seccomp_profile": fact("unconfined", "the container runs unconfined"),
    }
    return host_with(base, **{**facts, **changes})


def judge(image: ImageProfile, on: HostProfile) -> tuple[Finding, ...]:
    return features.judge(features.needs(image), features.offers(on))


def by_subject(found: tuple[Finding, ...]) -> dict[str | None, Finding]:
    return {f.subject: f for f in found}


@pytest.fixture
def uring(tmp_path: Path, debian_package: Unpack) -> ImageProfile:
    return deb_image(tmp_path, debian_package, ["liburing2"])


def test_registered_after_seccomp() -> None:
    ids = [m.id for m in MECHANISMS]
    assert ids.index("features") == ids.index("seccomp") + 1


def test_knowledge_names_a_source_for_every_switch() -> None:
    for feature in kernel_features.features():
        for switch in feature.switches:
            assert switch.source.url.startswith("https://")
            assert (
                "v6.12" in switch.source.url
                or "man7.org" in switch.source.url
                or ("commit/?id=" in switch.source.url)
            )
    assert {f.id for f in kernel_features.features()} >= {
        "io_uring",
        "keys",
        "bpf",
        "userfaultfd",
        "landlock",
        "seccomp-filter",
        "kcmp",
    }


def test_every_switch_on_gives_nothing(real_profile: ScanReal) -> None:
    assert judge(real_profile("debian-trixie-amd64"), host()) == ()
    assert judge(real_profile("debian-bookworm-amd64"), host("debian-12")) == ()


def test_io_uring_disabled_2_refuses_liburing(uring: ImageProfile) -> None:
    (finding,) = judge(uring, host(sysctls={"kernel.io_uring_disabled": "2"}))
    assert (finding.id, finding.subject, finding.severity) == (
        "features.io_uring-off",
        "io_uring_setup",
        "risk",  # liburing returns the error to its caller; what the program does is unknown
    )
    assert "EPERM" in finding.title
    assert finding.evidence.image[0].startswith("io_uring_setup issued directly")
    assert "liburing.so.2.3" in finding.evidence.image[0]
    assert finding.evidence.host[0] == (
        "kernel.io_uring_disabled 2 (from test: file /proc/sys/kernel.io_uring_disabled)"
    )
    assert "Documentation/admin-guide/sysctl/kernel.rst?h=v6.12" in finding.evidence.host[-1]
    assert finding.mitigations_host == ["sysctl kernel.io_uring_disabled=0"]


def test_io_uring_disabled_1_names_the_group_way_out(uring: ImageProfile) -> None:
    (finding,) = judge(uring, host(sysctls={"kernel.io_uring_disabled": "1"}))
    assert "io_uring_group" in finding.explanation and "CAP_SYS_ADMIN" in finding.explanation


def test_io_uring_built_out_refuses_every_call_with_enosys(uring: ImageProfile) -> None:
    found = by_subject(judge(uring, host(config={"CONFIG_IO_URING": "n"})))
    assert set(found) == {"io_uring_setup", "io_uring_enter", "io_uring_register"}
    assert all("ENOSYS" in f.title for f in found.values())
    assert found["io_uring_setup"].evidence.host[0].startswith("CONFIG_IO_URING=n (from ")


def test_io_uring_switch_unrecorded_is_unknown_on_6_6_and_moot_before(
    uring: ImageProfile,
) -> None:
    on_612 = host_with(host(), security__sysctls={})
    (finding,) = judge(uring, on_612)
    assert (finding.id, finding.severity) == ("features.io_uring-unknown", "risk")
    assert finding.unknown == ["sysctl kernel.io_uring_disabled"]
    assert "check `sysctl kernel.io_uring_disabled`" in finding.mitigations_host
    # Debian 12's 6.1 has no io_uring_disabled: nothing to switch off
    assert judge(uring, host_with(host("debian-12"), security__sysctls={})) == ()


def test_a_sysctl_the_kernel_lacks_is_no_switch(uring: ImageProfile) -> None:
    absent = unknown("/proc/sys/kernel/io_uring_disabled does not exist")
    on = host(security__sysctls={"kernel.io_uring_disabled": absent.model_dump()})
    assert judge(uring, on) == ()
    not_mounted = unknown("/proc/sys/kernel/io_uring_disabled: /proc/sys is not mounted")
    on = host(security__sysctls={"kernel.io_uring_disabled": not_mounted.model_dump()})
    assert [f.id for f in judge(uring, on)] == ["features.io_uring-unknown"]


def test_keys_built_out(real_profile: ScanReal) -> None:
    found = by_subject(
        judge(real_profile("debian-trixie-amd64"), host(config={"CONFIG_KEYS": "n"}))
    )
    # libsystemd's sd_id128_get_invocation falls back on ENOSYS from request_key (caller model)
    assert found["request_key"].id == "features.keys-off-fallback"
    assert found["request_key"].severity == "info"
    # keyctl: pam_keyinit's reaction is unknown, libsystemd's only on a conditional path
    keyctl = found["keyctl"]
    assert (keyctl.id, keyctl.severity) == ("features.keys-off", "risk")
    assert "ENOSYS" in keyctl.title
    assert any("pam_keyinit.so" in line for line in keyctl.evidence.image)
    assert keyctl.mitigations_host == ["a kernel built with CONFIG_KEYS=y"]


def test_landlock_left_out_of_the_lsm_list(real_profile: ScanReal) -> None:
    trixie = real_profile("debian-trixie-amd64")
    found = by_subject(judge(trixie, host(lsms=["lockdown", "capability", "yama", "apparmor"])))
    finding = found["landlock_create_ruleset"]
    assert finding.id == "features.landlock-off" and "EOPNOTSUPP" in finding.title
    # setpriv dies without landlock, but only when run with --landlock-access: RISK, not FAIL
    assert finding.severity == "risk"
    assert "/usr/bin/setpriv" in finding.evidence.image[0] and "fatal" in finding.evidence.image[0]
    assert finding.evidence.host[0].startswith("active LSMs lockdown, capability, yama, apparmor")
    assert "man7.org/linux/man-pages/man2/landlock_create_ruleset.2" in finding.evidence.host[-1]
    assert "lsm=" in finding.mitigations_host[0]


def test_landlock_not_built_answers_enosys_before_the_lsm_list(real_profile: ScanReal) -> None:
    on = host(config={"CONFIG_SECURITY_LANDLOCK": "n"}, lsms=["lockdown", "apparmor"])
    found = by_subject(judge(real_profile("debian-trixie-amd64"), on))
    assert "ENOSYS" in found["landlock_create_ruleset"].title


def test_landlock_lsm_list_unknown_is_a_risk(real_profile: ScanReal) -> None:
    on = host(security__lsms=unknown("/sys/kernel/security/lsm does not exist"))
    (finding,) = judge(real_profile("debian-trixie-amd64"), on)
    assert (finding.id, finding.severity) == ("features.landlock-unknown", "risk")
    assert finding.unknown == ["active LSM list"]


def test_seccomp_filter_built_out_gives_einval(real_profile: ScanReal) -> None:
    on = host(config={"CONFIG_SECCOMP_FILTER": "n"})
    (finding,) = judge(real_profile("debian-bookworm-amd64"), on)
    assert (finding.id, finding.subject) == ("features.seccomp-filter-off", "seccomp")
    assert "EINVAL" in finding.title and finding.severity == "risk"
    assert "libseccomp.so.2.5.4" in finding.evidence.image[0]
    assert "kernel/seccomp.c?h=v6.12" in finding.evidence.host[-1]


def test_unprivileged_bpf_disabled_refuses_libmount_lookup(real_profile: ScanReal) -> None:
    bookworm = real_profile("debian-bookworm-amd64")
    (finding,) = judge(
        bookworm, host("debian-12", sysctls={"kernel.unprivileged_bpf_disabled": "2"})
    )
    assert (finding.id, finding.subject) == ("features.bpf-off", "bpf")
    # a name in libmount's read-only data: possible, not certain
    assert finding.severity == "risk" and "CAP_BPF" in finding.explanation
    assert "libmount" in finding.evidence.image[0]


def test_kcmp_follows_the_option_of_the_kernel_release(real_profile: ScanReal) -> None:
    bookworm = real_profile("debian-bookworm-amd64")
    # 5.10: kcmp needs CHECKPOINT_RESTORE
    old = host("debian-11", config={"CONFIG_CHECKPOINT_RESTORE": "n", "CONFIG_KCMP": None})
    (finding,) = judge(bookworm, old)
    assert (finding.id, finding.subject) == ("features.kcmp-off", "kcmp")
    assert "/usr/bin/lsfd" in finding.evidence.image[0]
    # 6.1: CONFIG_KCMP alone builds it (DRM selects it)
    new = host("debian-12", config={"CONFIG_CHECKPOINT_RESTORE": "n", "CONFIG_KCMP": "y"})
    assert judge(bookworm, new) == ()
    # 6.1 with CONFIG_KCMP not recorded: unknown, not off
    unrecorded = host("debian-12", config={"CONFIG_CHECKPOINT_RESTORE": "n", "CONFIG_KCMP": None})
    assert [f.id for f in judge(bookworm, unrecorded)] == ["features.kcmp-unknown"]


def test_an_unrecorded_config_is_a_risk_naming_the_option(real_profile: ScanReal) -> None:
    on = host_with(host("debian-12"), kernel__config=unknown("kernel config not read"))
    found = {f.id: f for f in judge(real_profile("debian-bookworm-amd64"), on)}
    assert set(found) == {
        "features.keys-unknown",
        "features.bpf-unknown",
        "features.seccomp-filter-unknown",
        "features.kcmp-unknown",
    }
    assert all(f.severity == "risk" for f in found.values())
    keys = found["features.keys-unknown"]
    assert keys.title == "unknown host fact: kernel config CONFIG_KEYS"
    assert any("CONFIG_KEYS" in m and "/proc/config.gz" in m for m in keys.mitigations_host)


@pytest.mark.parametrize(
    ("release", "value", "state", "conditional"),
    [
        ("5.10.0-35-amd64", "0", "off", False),  # before 5.11: refused outright
        ("6.1.0-37-amd64", "0", "off", True),  # UFFD_USER_MODE_ONLY still works
        ("6.1.0-37-amd64", "1", "on", False),
        ("4.19.0-26-amd64", None, "on", False),  # no such sysctl before 5.2
        ("6.1.0-37-amd64", None, "unknown", False),
    ],
)
def test_userfaultfd_sysctl_by_kernel_release(
    release: str, value: str | None, state: str, conditional: bool
) -> None:
    (feature,) = [f for f in kernel_features.features() if f.id == "userfaultfd"]
    sysctls = dict(SYSCTLS_ON)
    on = host(kernel__release=fact(release))
    if value is None:
        del sysctls["vm.unprivileged_userfaultfd"]
    else:
        sysctls["vm.unprivileged_userfaultfd"] = value
    on = host_with(on, security__sysctls={k: fact(v).model_dump() for k, v in sysctls.items()})
    states = features.host_states(feature, features.offers(on))
    last = states[-1]
    assert last.value == state
    if state == "off":
        assert last.switch.conditional is conditional and last.switch.errno == "EPERM"


def test_a_call_the_profile_refuses_never_reaches_the_switch(real_profile: ScanReal) -> None:
    """Docker's profile refuses the keyring calls (and bpf, kcmp without the capability) and
    loads a filter, so CONFIG_KEYS, CONFIG_BPF_SYSCALL, CONFIG_KCMP and CONFIG_SECCOMP_FILTER
    cannot change what the container sees; podman's allows keyctl, so CONFIG_KEYS still matters."""
    bookworm = real_profile("debian-bookworm-amd64")
    unrecorded = {"kernel__config": unknown("test: no kernel config")}
    docker = host("debian-12", engines__seccomp_profile=fact("docker-20.10.18"), **unrecorded)
    assert judge(bookworm, docker) == ()
    podman = host("debian-12", engines__seccomp_profile=fact("podman-common-0.50.1"), **unrecorded)
    assert {f.id for f in judge(bookworm, podman)} == {"features.keys-unknown"}
    unconfined = host("debian-12", **unrecorded)
    assert "features.seccomp-filter-unknown" in {f.id for f in judge(bookworm, unconfined)}
