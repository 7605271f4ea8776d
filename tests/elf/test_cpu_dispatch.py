"""Run-time CPU dispatch decided per use, on real code: programs compiled here with Debian's
gcc (a stray cpuid beside -mavx2 code, target_clones, __builtin_cpu_supports, stripped and not),
glibc, and libraries from real Debian packages (libcrypto, libzstd) whose dispatch runs through
capability vectors. Issue 12: a cpuid somewhere must not make AVX2 code elsewhere optional.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cprograms import CLONES, STRAY, SUPPORTS, compile_c

from portwise.elf.isa import IsaScan, scan_isa
from portwise.elf.parse import parse_elf

LIB = Path("/usr/lib/x86_64-linux-gnu")


def scan_path(path: Path, *, full: bool = False) -> IsaScan:
    data = path.read_bytes()
    result = scan_isa(parse_elf(data), data, full=full)
    assert result is not None
    return result


def required_uses(scan: IsaScan) -> list[str]:
    return [e for e in scan.evidence if e.split(" ", 1)[0] in scan.required]


@pytest.mark.parametrize("strip", [False, True], ids=["symbols", "stripped"])
def test_stray_cpuid_does_not_excuse_avx2(tmp_path: Path, strip: bool) -> None:
    """-mavx2 code and a cpuid for the cache line: detected CPU, but AVX2 is required."""
    path = compile_c(tmp_path, "stray", STRAY, "-mavx2", *(["-s"] if strip else []))
    scan = scan_path(path)
    assert scan.dispatch  # the cpuid is there...
    assert "AVX2" in scan.required  # ...and vouches for nothing
    assert scan.required_level == "x86-64-v3"
    first = next(e for e in scan.evidence if e.startswith("AVX2 at 0x"))
    assert ", dispatched" not in first
    if not strip:
        assert first.endswith(" in mix") or " in main" in first


@pytest.mark.parametrize("strip", [False, True], ids=["symbols", "stripped"])
def test_target_clones_are_dispatched(tmp_path: Path, strip: bool) -> None:
    path = compile_c(tmp_path, "clones", CLONES, *(["-s"] if strip else []))
    scan = scan_path(path)
    assert "AVX2" in scan.extensions and scan.level == "x86-64-v3"
    assert scan.required_level == "x86-64-baseline", required_uses(scan)
    avx2 = next(e for e in scan.evidence if e.startswith("AVX2 at 0x"))
    assert ", dispatched: " in avx2
    assert ("multi-versioning clone scale.avx2" in avx2) if not strip else ("IFUNC target" in avx2)


@pytest.mark.parametrize("strip", [False, True], ids=["symbols", "stripped"])
def test_builtin_cpu_supports_branch_is_dispatched(tmp_path: Path, strip: bool) -> None:
    """add_avx2 is called only from main, which reads __cpu_model (found by name, or, stripped,
    as the global the cpuid code stores to)."""
    path = compile_c(tmp_path, "supports", SUPPORTS, *(["-s"] if strip else []))
    scan = scan_path(path)
    assert "AVX2" in scan.extensions
    assert scan.required_level == "x86-64-baseline", required_uses(scan)
    avx2 = next(e for e in scan.evidence if e.startswith("AVX2 at 0x"))
    assert "reached only from dispatched code" in avx2


def test_full_sweep_agrees_on_required(tmp_path: Path) -> None:
    """The prefilter and the full decode classify the same uses the same way."""
    for name, source, flags in (
        ("stray", STRAY, ("-mavx2",)),
        ("clones", CLONES, ()),
        ("supports", SUPPORTS, ()),
    ):
        path = compile_c(tmp_path, name, source, *flags)
        fast, full = scan_path(path), scan_path(path, full=True)
        assert (fast.required, fast.extensions) == (full.required, full.extensions), name


def test_glibc_stays_dispatched() -> None:
    """libc.so.6: AVX2 and AVX-512 string functions behind IFUNC; it requires the baseline."""
    scan = scan_path(LIB / "libc.so.6")
    assert scan.level == "x86-64-v4"
    assert scan.required_level == "x86-64-baseline", required_uses(scan)
    avx2 = next(e for e in scan.evidence if e.startswith("AVX2 at 0x"))
    assert "IFUNC target" in avx2


def test_static_glibc_program_stays_baseline(isa_bins: Path) -> None:
    scan = scan_path(isa_bins / "static-hello")
    assert scan.level == "x86-64-v4" and scan.required_level == "x86-64-baseline"


def test_libmvec_is_the_callers_choice() -> None:
    scan = scan_path(LIB / "libmvec.so.1")
    assert scan.level == "x86-64-v4" and scan.required_level == "x86-64-baseline"


def test_fixture_programs(isa_bins: Path) -> None:
    """The fixture set's dispatchers require the baseline; its -march builds their level."""
    for name in ("cpu-supports", "clones", "hwcap"):
        assert scan_path(isa_bins / name).required_level == "x86-64-baseline", name
    for name, level in (("vec-v2", "v2"), ("vec-v3", "v3"), ("vec-v4", "v4")):
        scan = scan_path(isa_bins / name)
        assert not scan.dispatch and scan.required_level == f"x86-64-{level}"


def test_debian_libcrypto(debian_package: Callable[[str], Path]) -> None:
    """OpenSSL picks AES-NI, AVX2, ADX... from OPENSSL_ia32cap_P. Uses reached through
    function tables or stripped assembly are not shown guarded: they stay required, so the
    result is not PASS on an old CPU (the rule makes it a risk, since the library detects its
    CPU). What must hold: the capability vector is recognised, and glibc-style dispatch is not
    claimed where there is none."""
    root = debian_package("libssl3")
    scan = scan_path(root / "usr/lib/x86_64-linux-gnu/libcrypto.so.3")
    assert scan.dispatch
    assert scan.level == "x86-64-v4"
    dispatched = [e for e in scan.evidence if ", dispatched: " in e]
    assert dispatched, scan.evidence
    assert set(scan.required) <= set(scan.extensions)


def test_debian_libzstd(debian_package: Callable[[str], Path]) -> None:
    """zstd decides BMI2 once (ZSTD_cpuid) and keeps the answer in its context on the heap:
    not provable from structure, so BMI2 is required, with the use named."""
    root = debian_package("libzstd1")
    path = next((root / "usr/lib/x86_64-linux-gnu").glob("libzstd.so.1.*"))
    scan = scan_path(path)
    assert scan.dispatch
    assert "BMI2" in scan.required
    assert scan.required_level == "x86-64-v3"
    assert any(e.startswith("BMI2 at 0x") and ", dispatched" not in e for e in scan.evidence)
