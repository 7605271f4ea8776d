"""Debian trixie's own system libraries and tools on an Ubuntu 20.04 kernel (5.4): the calls
they issue through libc's syscall() are judged by what util-linux, libbsd and libsystemd do
when the call fails (knowledge/callers), no longer as callers of unknown behaviour.

What the sources say decides the verdicts: util-linux's openat2 helper and libbsd's closefrom
fall back on ENOSYS, so a 5.4 kernel is fine for them; libmount 2.41 hands a missing statmount
or listmount back to the program that asked for it (findmnt --kernel=listmount), so those stay
a risk, now named and conditional; setpriv's Landlock options fail on 5.4.
"""

from __future__ import annotations

from hostkit import ScanReal, fact, host_with

from portwise.image.langruntimes import runtimes_for
from portwise.model.verdict import Finding
from portwise.rules import kernel

UNKNOWN_CALLER = "how the caller handles failure is unknown"


def on_ubuntu_20_04_kernel(real_profile: ScanReal) -> list[Finding]:
    host = host_with("debian-11", "kernel-5.4", kernel__release=fact("5.4.0-26-generic"))
    profile = real_profile("debian-trixie-amd64")
    return list(kernel.judge(kernel.needs(profile), kernel.offers(host)))


def test_libmount_statmount_listmount_are_named_conditional_risks(real_profile: ScanReal) -> None:
    findings = on_ubuntu_20_04_kernel(real_profile)
    by_call = {f.subject: f for f in findings if f.id == "kernel.missing-syscall"}
    for name in ("statmount", "listmount"):
        finding = by_call[name]
        assert finding.severity == "risk"  # conditional: only programs using the API
        (evidence,) = finding.evidence.image
        assert "libmount.so.1" in evidence and UNKNOWN_CALLER not in evidence
        assert "util-linux 2.41.5" in evidence and "findmnt --kernel=listmount" in evidence
        assert finding.unknown == []


def test_util_linux_openat2_and_libbsd_close_range_fall_back_on_5_4(
    real_profile: ScanReal,
) -> None:
    findings = on_ubuntu_20_04_kernel(real_profile)
    handled = next(f for f in findings if f.id == "kernel.newer-syscalls-handled")
    assert "openat2 (Linux 5.6) via syscall(): ok" in handled.evidence.image
    assert "close_range (Linux 5.9) via syscall(): ok" in handled.evidence.image
    missing = {f.subject for f in findings if f.id == "kernel.missing-syscall"}
    assert "openat2" not in missing and "close_range" not in missing
    assert not any(UNKNOWN_CALLER in e for f in findings for e in f.evidence.image)
    assert not any(f.severity == "fail" for f in findings)


def test_setpriv_landlock_fails_only_with_its_options(real_profile: ScanReal) -> None:
    findings = on_ubuntu_20_04_kernel(real_profile)
    landlock = [f for f in findings if (f.subject or "").startswith("landlock_")]
    assert {f.subject for f in landlock} == {
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
    }
    for finding in landlock:
        assert finding.severity == "risk"
        assert "/usr/bin/setpriv" in finding.evidence.image[0]
        assert "--landlock-access" in finding.evidence.image[0]


def test_a_program_linking_a_system_library_does_not_inherit_its_callers(
    real_profile: ScanReal,
) -> None:
    """agetty links libsystemd.so.0; its own calls are util-linux's, never libsystemd's."""
    profile = real_profile("debian-trixie-amd64")
    assert {r.component for r in runtimes_for(profile, "/usr/sbin/agetty")} == {"util-linux"}
    # trixie's login package is built from util-linux (bookworm's from shadow)
    assert {r.component for r in runtimes_for(profile, "/usr/bin/login")} == {"util-linux"}
    library = "/usr/lib/x86_64-linux-gnu/libsystemd.so.0.40.0"
    (own,) = runtimes_for(profile, library)
    assert (own.component, own.version) == ("libsystemd", "257.13")
