"""Seccomp: real images and real binaries under the released default profiles of engine versions.

The profiles are the knowledge data derived from moby's and containers/common's released files;
runc's version decides whether numbers above the profile's highest answer ENOSYS (runc#2750),
so each host here states its runc.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hostkit import ScanReal, fact, host_with, unknown
from imagekit import OciLayout, file, layer_tar, symlink

from portwise.image.scan import ScanOptions, scan
from portwise.model.host import HostProfile, Tool
from portwise.model.image import ImageProfile
from portwise.model.verdict import Finding
from portwise.rules import seccomp

OLD_RUNC = "1.0.0-rc2"  # shipped with Docker 17.x: no ENOSYS stub
NEW_RUNC = "1.1.12"


def host(profile: str, runc: str | None, **changes: object) -> HostProfile:
    runtimes = (
        fact([Tool(name="runc", path="/usr/bin/runc", version=fact(runc)).model_dump()])
        if runc
        else unknown("runc not recorded")
    )
    return host_with(
        "debian-12",
        f"{profile}+runc-{runc}",
        engines__seccomp_profile=fact(profile),
        engines__runtimes=runtimes,
        **changes,
    )


def judge(image: ImageProfile, on: HostProfile) -> dict[str, Finding]:
    found = seccomp.judge(seccomp.needs(image), seccomp.offers(on))
    return {f.title.split()[0] if f.id != "seccomp.denied-returned" else f.id: f for f in found}


def test_glibc234_clone3_fails_on_docker_20_10_9(real_profile: ScanReal) -> None:
    """moby/moby#42680: trixie's glibc 2.41 creates threads with clone3; 20.10.9 says EPERM."""
    findings = judge(real_profile("debian-trixie-amd64"), host("docker-20.10.9", NEW_RUNC))
    clone3 = findings["clone3"]
    assert (clone3.id, clone3.severity) == ("seccomp.eperm-no-fallback", "fail")
    assert clone3.incidents[0] == "glibc234-clone3"
    assert any("pthread_create" in e and "only on ENOSYS" in e for e in clone3.evidence.image)
    assert any("docker-20.10.9" in e and "moby/moby/blob" in e for e in clone3.evidence.host)
    assert any("docker-20.10.10" in m for m in clone3.mitigations_host)


def test_glibc234_clone3_passes_on_docker_20_10_10(real_profile: ScanReal) -> None:
    """moby/moby#42836: 20.10.10 answers clone3 with ENOSYS and glibc falls back to clone."""
    findings = judge(real_profile("debian-trixie-amd64"), host("docker-20.10.10", NEW_RUNC))
    assert "clone3" not in findings
    # what remains: calls newer than 20.10.10's profile that trixie's own libraries issue
    # (libmount's statmount and new mount API, setpriv's landlock): the caller model knows
    # util-linux 2.41.5 does not cope, but only under a condition (a program using that API,
    # setpriv's Landlock options); calls of unknown callers stay risks: never passes, never
    # failures
    assert all(f.severity in ("info", "risk") for f in findings.values())
    risks = [f for f in findings.values() if f.severity == "risk"]
    assert {f.id for f in risks} <= {
        "seccomp.denied-direct",
        "seccomp.eperm-no-fallback",
        "seccomp.enosys-no-fallback",
    }
    by_call = {f.subject: f for f in risks}
    for name in ("statmount", "landlock_create_ruleset"):
        (evidence,) = by_call[name].evidence.image
        assert "syscall()" in evidence and "the caller, util-linux 2.41.5" in evidence


def test_unknown_runc_makes_a_stub_dependent_answer_a_risk(real_profile: ScanReal) -> None:
    """fchmodat2 (452) is above 20.10.10's highest named call: only runc's stub saves it."""
    findings = judge(real_profile("debian-trixie-amd64"), host("docker-20.10.10", None))
    assert findings["fchmodat2"].severity == "risk"
    assert findings["fchmodat2"].unknown == ["the OCI runtime in effect and its version"]
    old = judge(real_profile("debian-trixie-amd64"), host("docker-20.10.10", OLD_RUNC))
    assert old["fchmodat2"].severity == "fail"  # lchmod always issues it


def test_statx_fails_under_docker_17_with_its_runc(real_profile: ScanReal) -> None:
    """moby/moby#36417: bullseye's coreutils 8.32 uses statx; Docker 17.x did not name it."""
    bullseye = real_profile("debian-bullseye-amd64")
    findings = judge(bullseye, host("docker-17.12.0", OLD_RUNC))
    assert findings["statx"].severity == "fail"
    assert "statx-old-docker" in findings["statx"].incidents
    assert "statx" not in judge(bullseye, host("docker-18.09.0", OLD_RUNC))


def test_statx_fails_when_libseccomp_does_not_know_the_name(real_profile: ScanReal) -> None:
    """A profile that names statx is not enough: libseccomp < 2.3.3 skips the name."""
    on = host("docker-20.10.0", OLD_RUNC, engines__libseccomp=fact("2.3.1"))
    findings = judge(real_profile("debian-bullseye-amd64"), on)
    assert findings["statx"].severity == "fail"
    assert any("libseccomp 2.3.1" in e for e in findings["statx"].evidence.host)
    # the fix is the library, not an engine whose profile names statx just the same
    fixes = findings["statx"].mitigations_host
    assert fixes[0].startswith("libseccomp 2.3.3 or newer, which resolves statx")
    assert not any(f.startswith("upgrade the engine") for f in fixes)
    assert "file status cannot be read" in findings["statx"].explanation


def test_an_engine_upgrade_is_suggested_only_where_the_answer_changes(
    real_profile: ScanReal,
) -> None:
    """clone3 under docker 20.10.9: 20.10.10 is the first release whose profile answers
    ENOSYS; every release it names must really answer differently from the failing one."""
    findings = judge(real_profile("debian-trixie-amd64"), host("docker-20.10.9", OLD_RUNC))
    (upgrade,) = [f for f in findings["clone3"].mitigations_host if f.startswith("upgrade")]
    assert "docker-20.10.10 or later" in upgrade
    assert "threads and child processes are not created" in findings["clone3"].explanation


def test_glibc_faccessat2_under_docker_19_03(real_profile: ScanReal) -> None:
    """actions/runner-images#2658: glibc >= 2.33 faccessat tries faccessat2 first."""
    findings = judge(real_profile("debian-trixie-amd64"), host("docker-19.03.15", OLD_RUNC))
    assert findings["faccessat2"].severity == "fail"
    assert "glibc233-faccessat2-arch" in findings["faccessat2"].incidents
    assert "faccessat2" not in judge(
        real_profile("debian-bullseye-amd64"), host("docker-19.03.15", OLD_RUNC)
    )


@pytest.fixture(scope="module")
def musl_image(tmp_path_factory: pytest.TempPathFactory, debian_package: object) -> ImageProfile:
    """A real musl program (Debian's musl-gcc) calling euidaccess, on Debian's musl libc."""
    work = tmp_path_factory.mktemp("musl")
    source = work / "probe.c"
    source.write_text(
        "#define _GNU_SOURCE\n#include <unistd.h>\n"
        'int main(int c, char **v) { return euidaccess(c > 1 ? v[1] : "/bin/sh", X_OK); }\n'
    )
    subprocess.run(["musl-gcc", "-O2", "-o", str(work / "probe"), str(source)], check=True)
    musl = Path(debian_package("musl"))  # type: ignore[operator]
    libc = (musl / "lib/x86_64-linux-musl/libc.so").read_bytes()
    layout = OciLayout(work / "oci")
    layout.add_image(
        [
            layer_tar(
                [
                    file("lib/x86_64-linux-musl/libc.so", libc, 0o755),
                    symlink("lib/ld-musl-x86_64.so.1", "/lib/x86_64-linux-musl/libc.so"),
                    file("usr/bin/probe", (work / "probe").read_bytes(), 0o755),
                ]
            )
        ]
    )
    (profile,) = scan(f"oci:{work / 'oci'}:latest", ScanOptions(cache_dir=work / "cache"))
    return profile


def test_musl122_faccessat2_fails_before_docker_20_10(musl_image: ImageProfile) -> None:
    """alpinelinux/docker-alpine#182: musl >= 1.2.2 uses faccessat2, falls back on ENOSYS only."""
    assert [lib.family for lib in musl_image.libc] == ["musl"]
    findings = judge(musl_image, host("docker-19.03.15", OLD_RUNC))
    assert findings["faccessat2"].severity == "fail"
    assert findings["faccessat2"].incidents[0] == "musl122-faccessat2"
    assert any("euidaccess" in e for e in findings["faccessat2"].evidence.image)
    assert "faccessat2" not in judge(musl_image, host("docker-20.10.0", OLD_RUNC))


def test_unknown_profile_is_a_risk_never_a_pass(real_profile: ScanReal) -> None:
    on = host_with("debian-12", engines__seccomp_profile=unknown("no engine config readable"))
    (finding,) = seccomp.judge(
        seccomp.needs(real_profile("debian-bookworm-amd64")), seccomp.offers(on)
    )
    assert (finding.severity, finding.unknown) == ("risk", ["seccomp profile"])


def test_unconfined_engine_has_no_seccomp_finding(real_profile: ScanReal) -> None:
    on = host("unconfined", OLD_RUNC)
    assert judge(real_profile("debian-trixie-amd64"), on) == {}


def test_privileged_operations_are_noted_keyring_calls_stay_risks(real_profile: ScanReal) -> None:
    """hwclock's settimeofday and pivot_root's pivot_root (through syscall()) need CAP_SYS_TIME
    and CAP_SYS_ADMIN, which a default container lacks: the kernel says EPERM on any host, so
    they are noted. libsystemd's add_key needs no capability: docker denies it by policy and
    nobody knows how the caller copes, so it stays a risk."""
    findings = judge(real_profile("debian-bookworm-amd64"), host("docker-20.10.10", NEW_RUNC))
    assert "settimeofday" not in findings and "pivot_root" not in findings
    noted = findings["seccomp.denied-returned"].evidence.image
    assert any(
        e.startswith("settimeofday (EPERM; the kernel also requires CAP_SYS_TIME") for e in noted
    )
    assert any(
        e.startswith("pivot_root (EPERM; the kernel also requires CAP_SYS_ADMIN") for e in noted
    )
    (add_key,) = [f for f in findings.values() if f.subject == "add_key"]
    assert (add_key.id, add_key.severity) == ("seccomp.denied-direct", "risk")


def on_runtime(profile: str, runtime: str, version: str, **changes: object) -> HostProfile:
    tool = Tool(name=runtime, path=f"/usr/bin/{runtime}", version=fact(version))
    return host_with(
        "debian-12",
        f"{profile}+{runtime}-{version}",
        engines__seccomp_profile=fact(profile),
        engines__runtimes=fact([tool.model_dump()]),
        engines__default_runtime=fact(runtime),
        **changes,
    )


def test_crun_has_no_stub_and_the_finding_names_it(real_profile: ScanReal) -> None:
    """crun loads the profile as written (no ENOSYS stub, containers/crun seccomp.c): where
    runc's stub would save fchmodat2 under 20.10.10's profile, crun's EPERM breaks lchmod,
    and the fix names crun, never 'upgrade runc'."""
    trixie = real_profile("debian-trixie-amd64")
    crun = judge(trixie, on_runtime("docker-20.10.10", "crun", "1.8.1"))
    finding = crun["fchmodat2"]
    assert finding.severity == "fail" and finding.unknown == []
    assert any("OCI runtime in effect: crun 1.8.1" in e for e in finding.evidence.host)
    assert any("instead of crun 1.8.1" in m for m in finding.mitigations_host)
    assert not any(m.startswith("runc 1.0.0-rc93 or newer") for m in finding.mitigations_host)
    runc = judge(trixie, on_runtime("docker-20.10.10", "runc", NEW_RUNC))
    assert "fchmodat2" not in runc


def test_a_runtime_release_newer_than_its_source_is_unknown(real_profile: ScanReal) -> None:
    """crun's behaviour is recorded through 1.29.1: a later crun is not assumed to behave alike."""
    findings = judge(
        real_profile("debian-trixie-amd64"), on_runtime("docker-20.10.10", "crun", "9.0")
    )
    assert findings["fchmodat2"].severity == "risk"
    assert "no record of crun 9.0" in findings["fchmodat2"].explanation


def test_a_distribution_backport_in_libseccomp_changes_the_answer(real_profile: ScanReal) -> None:
    """Under crun (no stub) and a profile naming fchmodat2, upstream libseccomp 2.5.4 cannot
    resolve the name, so the rule is skipped and lchmod gets EPERM; Debian's 2.5.4-1+deb12u1
    resolves it (its changelog: syscalls up to Linux 6.7), so the call is allowed."""
    trixie = real_profile("debian-trixie-amd64")
    upstream = on_runtime(
        "docker-27.5.1",
        "crun",
        "1.8.1",
        engines__libseccomp=fact("2.5.4"),
        engines__libseccomp_package=fact("2.5.4"),
    )
    assert judge(trixie, upstream)["fchmodat2"].severity == "fail"
    fixes = judge(trixie, upstream)["fchmodat2"].mitigations_host
    assert fixes[0].startswith("libseccomp 2.5.5 or newer, which resolves fchmodat2")
    debian = on_runtime(
        "docker-27.5.1",
        "crun",
        "1.8.1",
        engines__libseccomp=fact("2.5.4"),
        engines__libseccomp_package=fact("2.5.4-1+deb12u1"),
    )
    assert "fchmodat2" not in judge(trixie, debian)


def test_gvisor_is_a_risk_not_the_profile_s_answers(real_profile: ScanReal) -> None:
    """runsc does not apply the profile by default and answers calls in its own kernel:
    20.10.9's clone3 EPERM does not happen there, and what does happen is not known."""
    findings = judge(
        real_profile("debian-trixie-amd64"), on_runtime("docker-20.10.9", "runsc", "20240212.0")
    )
    (finding,) = findings.values()
    assert (finding.id, finding.severity) == ("seccomp.sandboxed-runtime", "risk")
    assert finding.unknown == ["which calls runsc implements"]


def test_youki_has_no_stub_either(real_profile: ScanReal) -> None:
    findings = judge(
        real_profile("debian-trixie-amd64"), on_runtime("docker-20.10.10", "youki", "0.3.3")
    )
    assert findings["fchmodat2"].severity == "fail"
    assert any("instead of youki 0.3.3" in m for m in findings["fchmodat2"].mitigations_host)


def test_a_foreign_image_under_qemu_meets_the_filter_by_name(real_profile: ScanReal) -> None:
    """qemu-user runs an arm64 image on x86-64 by issuing the image's calls itself: the engine's
    x86-64 filter judges them. Judged as nothing before, a false PASS waiting to happen."""
    arm64 = real_profile("debian-bookworm-arm64")
    findings = judge(arm64, host("docker-17.12.0", OLD_RUNC))
    assert findings, "an old profile must be judged for an emulated image too"
    statx = findings["statx"]
    assert statx.severity in ("risk", "fail")
    assert any("the image is aarch64: qemu-user" in e for e in statx.evidence.host)


def test_qemu_user_itself_meets_the_filter_under_a_foreign_image(real_profile: ScanReal) -> None:
    """Measured by bench/accuracy.py: under docker 20.10.9's profile every program of an arm64
    image dies in qemu-user's own start-up (its call_rcu thread: clone3 EPERM, "qemu:
    qemu_thread_create: Operation not permitted", abort), ls and dash included, whose own code
    issues no clone3. Every process is then at risk, and never on a profile that answers ENOSYS."""
    arm64 = real_profile("debian-bookworm-arm64")
    found = seccomp.judge(seccomp.needs(arm64), seccomp.offers(host("docker-20.10.9", NEW_RUNC)))
    (qemu,) = [f for f in found if f.id == "seccomp.emulator-thread"]
    assert (qemu.subject, qemu.severity) == ("process", "risk")
    assert "EPERM" in qemu.title
    assert any("docker-20.10.10" in m for m in qemu.mitigations_host)
    assert qemu.unknown
    enosys = seccomp.judge(seccomp.needs(arm64), seccomp.offers(host("docker-20.10.10", NEW_RUNC)))
    assert "seccomp.emulator-thread" not in {f.id for f in enosys}
    native = real_profile("debian-bookworm-amd64")
    here = seccomp.judge(seccomp.needs(native), seccomp.offers(host("docker-20.10.9", NEW_RUNC)))
    assert "seccomp.emulator-thread" not in {f.id for f in here}
