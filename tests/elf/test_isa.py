"""ISA extensions and x86-64 level of real code: programs compiled here at each level, system
binaries, hand-encoded instructions, and hostile bytes.

The full capstone sweep is the oracle: the fast prefilter must find the same extensions on every
real binary. Capstone's own instruction groups are shown to be unreliable, which is why the
classifier works from mnemonics and encodings.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import capstone  # type: ignore[import-untyped]
import pytest
from capstone import x86 as cs_x86
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portwise.elf.isa import IsaScan, scan_isa
from portwise.elf.isa_candidates import (
    MASK_OPCODES,
    VEX_MAP1,
    VEX_MAP1_MASK,
    candidates,
    vex2_possible,
)
from portwise.elf.isa_table import CPUID, classify, encoding
from portwise.elf.parse import ElfError, parse_elf
from portwise.knowledge.cpu_levels import CPUINFO_FLAG, IMPLIES, LEVEL_OF, LEVELS, level_of

BUILDER = Path(__file__).resolve().parents[2] / "fixtures" / "isa" / "build_isa_fixtures.py"
LIB = Path("/usr/lib/x86_64-linux-gnu")
SYSTEM = [
    LIB / "libc.so.6",
    Path("/usr/bin/ls"),
    Path("/usr/bin/python3.11"),
    LIB / "ld-linux-x86-64.so.2",
    LIB / "libm.so.6",
    LIB / "libstdc++.so.6",
    LIB / "libcrypto.so.3",
    LIB / "libz.so.1",
    Path("/usr/bin/bash"),
    LIB / "libicui18n.so.72",  # once gave the prefilter a false fisttp inside `mov rdi, rbx`
]


def scan_file(path: Path, *, full: bool = False) -> IsaScan:
    data = path.read_bytes()
    result = scan_isa(parse_elf(data), data, full=full)
    assert result is not None
    return result


# --- programs compiled here -------------------------------------------------------------------

V3 = ("AVX", "AVX2", "FMA", "LZCNT", "POPCNT", "SSE3")
EXPECTED = {
    # name: (extensions, level, dispatch) -- gcc 12 (Debian bookworm) output, read with objdump
    "vec-baseline": ((), "x86-64-baseline", False),
    "vec-v2": (("POPCNT", "SSE3", "SSE4.1"), "x86-64-v2", False),
    "vec-v3": (V3, "x86-64-v3", False),
    "vec-v3-stripped": (V3, "x86-64-v3", False),
    "vec-v4": (
        ("AVX", "AVX512DQ", "AVX512F", "AVX512VL", "LZCNT", "POPCNT", "SSE3"),
        "x86-64-v4",
        False,
    ),
    "popcnt-asm": (("POPCNT",), "x86-64-v2", False),
    "cpu-supports": (("AVX", "AVX2", "OSXSAVE"), "x86-64-v3", True),
    "clones": (("AVX", "AVX2", "OSXSAVE"), "x86-64-v3", True),
    "hwcap": ((), "x86-64-baseline", True),
    "fmod-v2": (("LAHF-SAHF", "SSE3"), "x86-64-v2", False),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_compiled_programs(isa_bins: Path, name: str) -> None:
    extensions, level, dispatch = EXPECTED[name]
    result = scan_file(isa_bins / name)
    assert (result.extensions, result.level, result.dispatch) == (extensions, level, dispatch)
    assert not result.problems
    for ext in extensions:
        assert any(e.startswith(f"{ext} at 0x") for e in result.evidence)


def test_level_matches_march(isa_bins: Path) -> None:
    """Each vec build needs exactly the level it was compiled for."""
    manifest = json.loads((isa_bins / "manifest.json").read_text())["programs"]
    for name in ("vec-baseline", "vec-v2", "vec-v3", "vec-v4"):
        march = next(f for f in manifest[name]["flags"] if f.startswith("-march="))[7:]
        expected = "x86-64-baseline" if march == "x86-64" else march
        assert scan_file(isa_bins / name).level == expected


def test_dispatch_reasons(isa_bins: Path) -> None:
    supports = scan_file(isa_bins / "cpu-supports").evidence
    assert any(e.startswith("dispatch: cpuid at 0x") for e in supports)
    assert any("libgcc CPU detection" in e and "__cpu_model" in e for e in supports)
    clones = scan_file(isa_bins / "clones").evidence
    assert "dispatch: defines IFUNC symbols" in clones
    assert any("IRELATIVE" in e for e in clones)
    assert any(
        e.startswith("dispatch: getauxval(AT_HWCAP) at 0x")
        for e in scan_file(isa_bins / "hwcap").evidence
    )
    static = scan_file(isa_bins / "static-hello")
    assert static.dispatch and "AVX2" in static.extensions and static.level == "x86-64-v4"
    assert any("IRELATIVE" in e for e in static.evidence)


def test_glibc_dispatches_to_avx2() -> None:
    result = scan_file(LIB / "libc.so.6")
    assert result.dispatch
    assert "AVX2" in result.extensions
    assert "dispatch: defines IFUNC symbols" in result.evidence


def fixture_paths() -> list[Path]:
    cache = Path(os.environ.get("PORTWISE_ISA", "/var/cache/portwise-fixtures/isa-v1"))
    return [cache / name for name in [*EXPECTED, "static-hello"]]


@pytest.mark.parametrize("path", [*SYSTEM, *fixture_paths()], ids=lambda p: p.name)
def test_fast_equals_full_sweep(isa_bins: Path, path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not on this machine")
    fast, full = scan_file(path), scan_file(path, full=True)
    assert (fast.extensions, fast.level, fast.dispatch) == (
        full.extensions,
        full.level,
        full.dispatch,
    )
    assert fast.instructions < full.instructions


# --- capstone quirks and the classifier ----------------------------------------------------------

CS = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


def decode(hexbytes: str) -> tuple[str, str, bytes]:
    raw = bytes.fromhex(hexbytes)
    ((_, size, mnemonic, op_str),) = list(CS.disasm_lite(raw, 0, 1))
    assert size == len(raw), (hexbytes, size)
    return mnemonic, op_str, raw


def test_capstone_groups_are_not_trusted() -> None:
    """Why the classifier ignores capstone 5's groups: missing for AVX-512/FMA/POPCNT, and tzcnt
    (which runs as bsf on older CPUs) is put in BMI."""
    detail = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    detail.detail = True

    def groups(hexbytes: str) -> set[int]:
        return set(next(detail.disasm(bytes.fromhex(hexbytes), 0)).groups)

    assert groups("62f3754825c1ff") == set()  # vpternlogd zmm: no AVX512 group
    assert groups("c4e271b8c2") == set()  # vfmadd231ps: no FMA group
    assert groups("f30fb8c1") == set()  # popcnt: none
    assert cs_x86.X86_GRP_BMI in groups("c4e278f2c1")  # andn: BMI, right
    assert cs_x86.X86_GRP_BMI in groups("f30fbcc1")  # tzcnt: BMI, misleading
    assert classify(*decode("f30fbcc1")) == frozenset()
    assert classify(*decode("62f3754825c1ff")) == {"AVX512F"}
    assert classify(*decode("c4e278f2c1")) == {"BMI1"}


CASES = [
    # psABI v2
    ("480fc70f", {"CMPXCHG16B"}),
    ("0fc70f", set()),  # cmpxchg8b: baseline
    ("9f", {"LAHF-SAHF"}),
    ("9e", {"LAHF-SAHF"}),
    ("f30fb8c1", {"POPCNT"}),
    ("f20f7cc1", {"SSE3"}),  # haddps
    ("db08", {"SSE3"}),  # fisttp
    ("660f3800c1", {"SSSE3"}),  # pshufb xmm
    ("0f3800c1", {"SSSE3"}),  # pshufb mm
    ("660f3a0fc101", {"SSSE3"}),  # palignr (no capstone group)
    ("660f3817c1", {"SSE4.1"}),  # ptest
    ("660f3a150100", {"SSE4.1"}),  # pextrw to memory
    ("660fc5c100", set()),  # pextrw 0F C5: SSE2
    ("f20f38f1c1", {"SSE4.2"}),  # crc32
    ("660f3837c1", {"SSE4.2"}),  # pcmpgtq
    # psABI v3
    ("c5f458c2", {"AVX"}),  # vaddps ymm
    ("c5f5fec2", {"AVX2"}),  # vpaddd ymm
    ("c5f1fec2", {"AVX"}),  # vpaddd xmm
    ("c4e27d18c1", {"AVX2"}),  # vbroadcastss ymm, xmm
    ("c4e27d1801", {"AVX"}),  # vbroadcastss ymm, [mem]
    ("c4e27d17c1", {"AVX"}),  # vptest ymm
    ("c4e27d58c1", {"AVX2"}),  # vpbroadcastd
    ("c5f877", {"AVX"}),  # vzeroupper
    ("c4e278f2c1", {"BMI1"}),  # andn
    ("c4e2f9f7c1", {"BMI2"}),  # shlx
    ("c4e3fbf0c105", {"BMI2"}),  # rorx
    ("f30fbcc1", set()),  # tzcnt: runs as bsf without BMI1
    ("c4e27913c1", {"F16C"}),  # vcvtph2ps
    ("c4e271b8c2", {"FMA"}),  # vfmadd231ps
    ("f30fbdc1", {"LZCNT"}),
    ("0f38f001", {"MOVBE"}),
    ("0f01d0", {"OSXSAVE"}),  # xgetbv
    ("0fae20", {"OSXSAVE"}),  # xsave
    # psABI v4
    ("62f17d48fec2", {"AVX512F"}),  # vpaddd zmm
    ("62f3750825c1ff", {"AVX512F", "AVX512VL"}),  # vpternlogd xmm
    ("62f17528dac2", {"AVX512BW", "AVX512VL"}),  # vpminub ymm
    ("c4e1fb93c1", {"AVX512BW"}),  # kmovq
    ("c5f893c1", {"AVX512F"}),  # kmovw
    ("62a17c0057c0", {"AVX512DQ", "AVX512VL"}),  # vxorps xmm16
    ("62f27d48c4c1", {"AVX512CD"}),  # vpconflictd
    ("62f17e0858c2", {"AVX512F"}),  # vaddss: scalar, no VL
    ("62f17d086ec0", {"AVX512F"}),  # vmovd: no VL
    ("62f17c5858c2", {"AVX512F"}),  # vaddps zmm with rounding
    # outside the level table
    ("62f2fd4855c1", {"AVX512_VPOPCNTDQ"}),
    ("62f27d288dc2", {"AVX512_VBMI", "AVX512VL"}),  # vpermb ymm
    ("62f2fd48b4c2", {"AVX512_IFMA"}),
    ("660f38dcc1", {"AES"}),
    ("c4e271dcc2", {"AES", "AVX"}),  # vaesenc xmm
    ("c4e275dcc2", {"VAES"}),  # vaesenc ymm
    ("660f3a44c100", {"PCLMULQDQ"}),
    ("0f38c9c1", {"SHA"}),
    ("660f38f6c1", {"ADX"}),
    ("0fc7f0", {"RDRAND"}),
    ("0fc7f8", {"RDSEED"}),
    ("c7f800000000", {"RTM"}),
    ("660f3acec100", {"GFNI"}),
    ("f20f79c1", {"SSE4A"}),
    ("8fe97880c1", {"XOP"}),
    ("8fe97801c9", {"TBM"}),
    ("c4e3f95cc220", {"FMA4"}),
    ("0fc720", {"XSAVEC"}),
    ("0fa2", {CPUID}),
    ("f30f1efa", set()),  # endbr64: a NOP before CET
]


@pytest.mark.parametrize(("hexbytes", "expected"), CASES, ids=[c[0] for c in CASES])
def test_classify(hexbytes: str, expected: set[str]) -> None:
    assert classify(*decode(hexbytes)) == expected


def make_elf(
    code: bytes, machine: int = 62, text_offset: int | None = None, size: int | None = None
) -> bytes:
    """A minimal ELF64 executable: one executable .text section and .shstrtab."""
    names = b"\0.text\0.shstrtab\0"
    text_at = 64
    names_at = text_at + len(code)
    shoff = (names_at + len(names) + 7) // 8 * 8
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack(
        "<HHIQQQIHHHHHH", 2, machine, 1, 0x401000, 0, shoff, 0, 64, 56, 0, 64, 3, 2
    )
    sections = bytes(64)
    sections += struct.pack(
        "<IIQQQQIIQQ",
        1,
        1,
        0x6,
        0x401000,
        text_at if text_offset is None else text_offset,
        len(code) if size is None else size,
        0,
        0,
        16,
        0,
    )
    sections += struct.pack("<IIQQQQIIQQ", 7, 3, 0, 0, names_at, len(names), 0, 0, 1, 0)
    body = header + code + names
    return body + bytes(shoff - len(body)) + sections


def test_every_case_is_a_candidate() -> None:
    """All hand-encoded instructions back to back: the prefilter finds what the sweep finds."""
    code = b"".join(bytes.fromhex(h) for h, _ in CASES) + b"\xc3"
    data = make_elf(code)
    fast, full = scan_isa(parse_elf(data), data), scan_isa(parse_elf(data), data, full=True)
    assert fast is not None and full is not None
    expected = set().union(*(e for _, e in CASES)) - {CPUID}
    assert set(full.extensions) == expected
    assert fast.extensions == full.extensions
    assert fast.dispatch and full.dispatch  # the cpuid
    offsets, at = set(candidates(code)), 0
    for hexbytes, exts in CASES:
        raw = bytes.fromhex(hexbytes)
        if exts:
            assert any(at <= p < at + len(raw) for p in offsets), hexbytes
        at += len(raw)


# --- the prefilter's byte filters only drop what capstone cannot decode ---------------------------


def accepts(raw: bytes) -> bool:
    return bool(list(CS.disasm_lite(raw + bytes(12), 0, 1)))


MODRMS = [(mod << 6) | (reg << 3) | 1 for mod in range(4) for reg in range(8)]


def test_vex2_table_covers_capstone() -> None:
    """Every C5 (pp, L, opcode) capstone decodes for some operand is in VEX2_OPCODES, and every
    instruction it decodes to needs at most the VEX map-1 bound."""
    for pp in range(4):
        for length in range(2):
            for opcode in range(256):
                listed = vex2_possible(pp | length << 2, opcode)
                bound = VEX_MAP1_MASK if opcode in MASK_OPCODES else VEX_MAP1
                for payload in (
                    pp | length << 2 | r | v << 3 for r in (0, 0x80) for v in (0xF, 0, 7)
                ):
                    for modrm in MODRMS:
                        raw = bytes([0xC5, payload, opcode, modrm])
                        found = list(CS.disasm_lite(raw + bytes(11), 0, 1))
                        if not found:
                            continue
                        assert listed, raw.hex()
                        _, size, mnemonic, op_str = found[0]
                        assert classify(mnemonic, op_str, (raw + bytes(11))[:size]) <= bound
                        if not listed:
                            break


def test_vex3_xop_evex_filters_cover_capstone() -> None:
    """C4 needs map 1-3, EVEX needs P0[3:2] = 0 with map 1-3 and P1[2] = 1: capstone agrees."""
    for byte1 in range(256):
        if byte1 & 0x1F not in (1, 2, 3):
            assert not any(accepts(bytes([0xC4, byte1, 0x7D, op, 0xC1])) for op in range(256))
    for p0 in range(256):
        if p0 & 0x0F not in (1, 2, 3):
            assert not any(accepts(bytes([0x62, p0, 0x7D, 0x48, op, 0xC1])) for op in range(256))
    for p1 in range(0, 256, 3):
        if not p1 & 0x04:
            assert not any(accepts(bytes([0x62, 0xF1, p1, 0x48, op, 0xC1])) for op in range(256))
    # 8F with map select below 8 is POP, a baseline instruction
    assert encoding(bytes([0x8F, 0xC0])) == "legacy"


# --- levels ---------------------------------------------------------------------------------------


def test_levels() -> None:
    assert level_of(set()) == "x86-64-baseline"
    assert level_of({"SSE3"}) == "x86-64-v2"
    assert level_of({"POPCNT", "FMA"}) == "x86-64-v3"
    assert level_of({"AVX512_VBMI"}) == "x86-64-v4"
    assert level_of({"VAES"}) == "x86-64-v3"
    assert level_of({"AES", "SHA"}) == "x86-64-baseline"  # outside the table, implying nothing
    every = {ext for exts in LEVELS.values() for ext in exts}
    assert every <= CPUINFO_FLAG.keys()
    assert set(IMPLIES.values()) <= LEVEL_OF.keys()
    assert set(IMPLIES) <= CPUINFO_FLAG.keys()


# --- hostile input --------------------------------------------------------------------------------

HOSTILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HOSTILE
@given(st.binary(min_size=0, max_size=3000))
def test_random_code(code: bytes) -> None:
    data = make_elf(code)
    for full in (False, True):
        result = scan_isa(parse_elf(data), data, full=full)
        assert result is not None
        assert result.level in ("x86-64-baseline", "x86-64-v2", "x86-64-v3", "x86-64-v4")
        assert list(result.extensions) == sorted(result.extensions)


@HOSTILE
@given(st.integers(0, 1 << 40), st.integers(0, 1 << 40))
def test_sections_outside_the_file(offset: int, size: int) -> None:
    data = make_elf(b"\x90" * 32, text_offset=offset, size=size)
    try:
        elf = parse_elf(data)
    except ElfError:
        return
    result = scan_isa(elf, data)
    assert result is not None
    if size and offset + size > len(data):
        assert result.problems  # empty sections are skipped silently


@HOSTILE
@given(st.data())
def test_mutated_real_binary(isa_bins: Path, data: st.DataObject) -> None:
    original = bytearray((isa_bins / "clones").read_bytes())
    for _ in range(data.draw(st.integers(1, 20))):
        at = data.draw(st.integers(0, len(original) - 1))
        original[at] = data.draw(st.integers(0, 255))
    blob = bytes(original)
    try:
        elf = parse_elf(blob)
    except ElfError:
        return
    # a mutation of e_machine makes it another architecture's file, which is not scanned
    assert (scan_isa(elf, blob) is not None) == (elf.machine == "x86-64")


def test_other_machines_are_not_scanned() -> None:
    data = make_elf(b"\x1f\x20\x03\xd5", machine=183)
    assert scan_isa(parse_elf(data), data) is None
