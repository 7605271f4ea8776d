"""CPU level: real binaries (Debian's gcc and ld) in mini images, real Debian images, hosts
whose CPU flags are set to a real processor generation's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cprograms import CLONES, STRAY, compile_c
from hostkit import ScanReal, fact, host_with
from imagekit import OciLayout, file, layer_tar

from portwise.image.analyzers import with_options
from portwise.image.scan import ScanOptions, scan
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.rules import cpu
from portwise.verdict import check

# /proc/cpuinfo flags of a pre-Nehalem Core 2 (no SSE4.2, no POPCNT) and of a Nehalem (v2).
CORE2 = ["fpu", "cx8", "cmov", "mmx", "sse", "sse2", "pni", "ssse3", "sse4_1", "cx16", "lahf_lm"]
NEHALEM = [*CORE2, "sse4_2", "popcnt"]
V3 = [*NEHALEM, "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"]


def cpu_host(flags: list[str], level: str, missing: list[str]) -> HostProfile:
    return host_with(
        "debian-12",
        f"cpu-{level}",
        cpu__flags=fact(flags, "a CPU of that generation"),
        cpu__x86_64_level=fact(level, "flags against the psABI levels"),
        cpu__missing_for_next_level=missing,
    )


BASELINE_HOST = cpu_host(CORE2, "x86-64-baseline", ["POPCNT", "SSE4.2"])
V2_HOST = cpu_host(NEHALEM, "x86-64-v2", ["AVX", "AVX2", "BMI1", "BMI2", "F16C", "FMA"])
V3_HOST = cpu_host(V3, "x86-64-v3", ["AVX512F"])


def judge(profile: ImageProfile, host: HostProfile):  # type: ignore[no-untyped-def]
    return cpu.judge(cpu.needs(profile), cpu.offers(host))


def mini_image(tmp: Path, files: dict[str, bytes], *, cpu_scan: bool = False) -> ImageProfile:
    layout = OciLayout(tmp / "img")
    layout.add_image([layer_tar([file(p, data, mode=0o755) for p, data in files.items()])])
    options = ScanOptions(cache_dir=tmp / "cache", analyzers=with_options(cpu_scan=cpu_scan))
    (profile,) = scan(f"oci:{tmp / 'img'}:latest", options)
    return profile


def marked_libc(tmp: Path, level: str) -> bytes:
    """A libc.so.6 whose GNU property note says `level`, as glibc's isa-level.c writes it."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    (tmp / "m.c").write_text("int pw_marker(void) { return 1; }\n")
    out = tmp / "libc.so.6"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O2",
            f"-Wl,-z,{level}",
            "-Wl,-soname,libc.so.6",
            "-o",
            str(out),
            str(tmp / "m.c"),
        ],
        check=True,
    )
    return out.read_bytes()


@pytest.fixture
def rhel9_like(tmp_path: Path) -> ImageProfile:
    return mini_image(tmp_path, {"usr/lib64/libc.so.6": marked_libc(tmp_path, "x86-64-v2")})


def test_glibc_built_for_v2_fails_on_a_cpu_without_sse42(rhel9_like: ImageProfile) -> None:
    (finding,) = judge(rhel9_like, BASELINE_HOST)
    assert (finding.id, finding.severity) == ("cpu.libc-level", "fail")
    assert "Fatal glibc error: CPU does not support x86-64-v2" in finding.explanation
    assert finding.incidents == ["x86-64-v2-rhel9"]
    assert any("/usr/lib64/libc.so.6" in e for e in finding.evidence.image)
    assert "missing: POPCNT, SSE4.2" in finding.evidence.host


def test_glibc_built_for_v2_runs_on_a_v2_cpu(rhel9_like: ImageProfile) -> None:
    assert judge(rhel9_like, V2_HOST) == ()


def test_catalog_host_with_unknown_cpu_is_a_risk_naming_the_fact(
    rhel9_like: ImageProfile,
) -> None:
    """Catalog hosts record the CPU as unknown (it varies by machine): never a pass."""
    (finding,) = judge(rhel9_like, host_with("rhel-9.4"))
    assert (finding.id, finding.severity) == ("cpu.host-unknown", "risk")
    assert finding.unknown == ["CPU x86-64 level"]
    assert "x86-64-v2-rhel9" in finding.incidents
    assert "varies by machine" in finding.explanation


def test_glibc_built_for_v3_fails_on_a_v2_cpu(tmp_path: Path) -> None:
    profile = mini_image(tmp_path, {"usr/lib64/libc.so.6": marked_libc(tmp_path, "x86-64-v3")})
    (finding,) = judge(profile, V2_HOST)
    assert finding.id == "cpu.libc-level"
    assert finding.incidents == ["x86-64-v3-rhel10"]
    assert "AVX2" in finding.explanation and "x86-64-v3" in finding.explanation


def test_avx_code_without_a_note_is_found_by_disassembly(isa_bins: Path, tmp_path: Path) -> None:
    """TensorFlow's case: AVX code with no note; --cpu-scan finds it, SIGILL on a v2 CPU."""
    profile = mini_image(
        tmp_path, {"opt/app/vec": (isa_bins / "vec-v3").read_bytes()}, cpu_scan=True
    )
    (finding,) = judge(profile, V2_HOST)
    assert (finding.id, finding.severity) == ("cpu.instructions", "fail")
    assert "Illegal instruction" in finding.explanation
    assert "avx-tensorflow" in finding.incidents
    assert any("/opt/app/vec" in e for e in finding.evidence.image)
    assert judge(profile, V3_HOST) == ()


def test_unexamined_binaries_are_a_risk_on_an_old_cpu(isa_bins: Path, tmp_path: Path) -> None:
    """Without --cpu-scan the same AVX program is unexamined: a risk below v3, not a pass."""
    profile = mini_image(tmp_path, {"opt/app/vec": (isa_bins / "vec-v3").read_bytes()})
    assert profile.binary_summary.cpu_unknown == 1
    (finding,) = judge(profile, V2_HOST)
    assert (finding.id, finding.severity) == ("cpu.unexamined", "risk")
    assert "--cpu-scan" in " ".join(finding.mitigations_image)


def test_debian_image_is_silent_on_catalog_hosts_and_named_on_old_cpus(
    real_profile: ScanReal,
) -> None:
    trixie = real_profile("debian-trixie-amd64")
    assert judge(trixie, host_with("debian-12")) == ()
    (risk,) = judge(trixie, BASELINE_HOST)
    assert (risk.id, risk.severity) == ("cpu.unexamined", "risk")
    assert str(trixie.binary_summary.cpu_unknown) in risk.title
    (info,) = judge(trixie, V3_HOST)
    assert info.severity == "info"


def test_arm64_image_has_no_cpu_finding(real_profile: ScanReal) -> None:
    assert judge(real_profile("debian-bookworm-arm64"), BASELINE_HOST) == ()


def test_matrix_groups_hosts_by_cpu(rhel9_like: ImageProfile) -> None:
    hosts = [BASELINE_HOST, V2_HOST, host_with("rhel-9.4"), host_with("debian-12")]
    matrix = check([rhel9_like], hosts, mechanisms=(cpu.MECHANISM,))
    assert [matrix.status(0, h) for h in range(4)] == ["FAIL", "PASS", "RISK", "RISK"]


def test_a_stray_cpuid_is_no_excuse_and_a_clone_is(tmp_path: Path) -> None:
    """Issue 12: any cpuid once counted as dispatch, so -mavx2 code PASSed on a v2 CPU. Now the
    unguarded use is a risk naming the function; target_clones code is dispatched: no finding."""
    stray = compile_c(tmp_path, "stray", STRAY, "-mavx2")
    profile = mini_image(tmp_path / "a", {"opt/app/stray": stray.read_bytes()}, cpu_scan=True)
    (finding,) = judge(profile, V2_HOST)
    assert (finding.id, finding.severity) == ("cpu.unguarded-instructions", "risk")
    assert any(
        "/opt/app/stray: AVX" in e and "no CPU check shown" in e for e in finding.evidence.image
    )
    clones = compile_c(tmp_path, "clones", CLONES)
    dispatched = mini_image(tmp_path / "b", {"opt/app/clones": clones.read_bytes()}, cpu_scan=True)
    assert judge(dispatched, V2_HOST) == ()
