"""Architecture: the real arm64 Debian image on x86-64 hosts with and without an emulator."""

from __future__ import annotations

from pathlib import Path

from hostkit import ScanReal, fact, host_with, unknown

from portwise.host.collect import collect_host
from portwise.model.host import BinfmtHandler
from portwise.rules import arch
from portwise.verdict import check

QEMU = BinfmtHandler(
    name="qemu-aarch64",
    enabled=True,
    interpreter="/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
    flags="PF",
)


def judge(profile, host):  # type: ignore[no-untyped-def]
    return arch.judge(arch.needs(profile), arch.offers(host))


def test_arm64_image_without_emulator_fails_with_exec_format_error(real_profile: ScanReal) -> None:
    host = host_with("debian-12", security__binfmt=fact([], "no handlers registered"))
    (finding,) = judge(real_profile("debian-bookworm-arm64"), host)
    assert finding.id == "arch.exec-format-error"
    assert finding.severity == "fail"
    assert "exec-format-error-arch" in finding.incidents
    assert any("aarch64 executable" in e for e in finding.evidence.image)
    assert any("x86-64" in e for e in finding.evidence.host)


def test_arm64_image_under_qemu_with_fix_binary_is_a_risk(real_profile: ScanReal) -> None:
    host = host_with("debian-12", security__binfmt=fact([QEMU.model_dump()]))
    (finding,) = judge(real_profile("debian-bookworm-arm64"), host)
    assert (finding.id, finding.severity) == ("arch.emulated", "risk")
    assert finding.incidents == ["qemu-emulation-crash"]


def test_emulator_without_f_flag_fails(real_profile: ScanReal) -> None:
    no_f = QEMU.model_copy(update={"flags": "P"})
    host = host_with("debian-12", security__binfmt=fact([no_f.model_dump()]))
    (finding,) = judge(real_profile("debian-bookworm-arm64"), host)
    assert (finding.id, finding.severity) == ("arch.emulator-not-fixed", "fail")


def test_unknown_binfmt_is_never_a_pass(real_profile: ScanReal) -> None:
    host = host_with("debian-12", security__binfmt=unknown("binfmt_misc not mounted"))
    (finding,) = judge(real_profile("debian-bookworm-arm64"), host)
    assert finding.severity == "risk"
    assert finding.unknown == ["binfmt_misc handlers"]
    assert "binfmt_misc not mounted" in finding.explanation


def test_native_image_has_no_arch_finding(real_profile: ScanReal) -> None:
    host = host_with("debian-12", security__binfmt=fact([]))
    assert judge(real_profile("debian-bookworm-amd64"), host) == ()


def test_this_machine_runs_the_arm64_image_through_its_registered_qemu(
    real_profile: ScanReal,
) -> None:
    """The live host: setup.sh installs qemu-user-static and binfmt-support."""
    local = collect_host(Path("/"), "local")
    handlers = {h.name: h for h in local.security.binfmt.value or []}
    (finding,) = judge(real_profile("debian-bookworm-arm64"), local)
    if "qemu-aarch64" in handlers and "F" in handlers["qemu-aarch64"].flags:
        assert finding.id == "arch.emulated"
    else:
        assert finding.severity == "fail"


def test_x86_64_executable_in_an_arm64_tagged_image_is_named(real_profile: ScanReal) -> None:
    """kubernetes/node-problem-detector#797: the tag says arm64, the binary is x86-64."""
    arm = real_profile("debian-bookworm-arm64")
    amd = real_profile("debian-bookworm-amd64")
    mixed = arm.model_copy(update={"binaries": [*arm.binaries, amd.binaries[0]]})
    host = host_with("debian-12", kernel__architecture=fact("aarch64"), security__binfmt=fact([]))
    (finding,) = judge(mixed, host)
    assert finding.severity == "fail"
    assert any("although the image declares platform aarch64" in e for e in finding.evidence.image)


def test_matrix_judges_each_distinct_interface_once(real_profile: ScanReal) -> None:
    hosts = [host_with("debian-12", f"h{i}", security__binfmt=fact([])) for i in range(5)]
    images = [real_profile("debian-bookworm-arm64"), real_profile("debian-bookworm-amd64")]
    matrix = check(images, hosts)
    assert len(set(matrix.host_group)) == 1
    assert [matrix.status(0, h) for h in range(5)] == ["FAIL"] * 5
    assert matrix.verdict(1, 3).host == "h3"
