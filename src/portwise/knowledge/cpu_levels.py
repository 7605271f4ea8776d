"""x86-64 microarchitecture levels: which ISA extensions each level guarantees.

Source: the x86-64 psABI, "Micro-architecture levels" (https://gitlab.com/x86-psABIs/x86-64-ABI,
x86-64-ABI/low-level-sys-info.tex, table "Micro-architecture levels"). Extension names follow
that table; extensions outside it use Intel SDM CPUID names (AES, SHA, AVX512_VBMI, ...) and
count toward a level only through the table extension they cannot run without (IMPLIES): every
AVX-512 subset needs AVX512F, so v4.
"""

from __future__ import annotations

BASELINE = "x86-64-baseline"
LEVELS: dict[str, tuple[str, ...]] = {
    # x86-64 psABI, "Micro-architecture levels" table (CPUID feature names as there)
    "x86-64-v2": ("CMPXCHG16B", "LAHF-SAHF", "POPCNT", "SSE3", "SSE4.1", "SSE4.2", "SSSE3"),
    "x86-64-v3": ("AVX", "AVX2", "BMI1", "BMI2", "F16C", "FMA", "LZCNT", "MOVBE", "OSXSAVE"),
    "x86-64-v4": ("AVX512F", "AVX512BW", "AVX512CD", "AVX512DQ", "AVX512VL"),
}
LEVEL_ORDER = (BASELINE, "x86-64-v2", "x86-64-v3", "x86-64-v4")
LEVEL_OF = {ext: level for level, exts in LEVELS.items() for ext in exts}
# Extensions outside the table, mapped to the table extension they cannot run without.
IMPLIES = {
    "AVX512_VBMI": "AVX512BW",
    "AVX512_VBMI2": "AVX512BW",
    "AVX512_BITALG": "AVX512BW",
    "AVX512_VNNI": "AVX512F",
    "AVX512_IFMA": "AVX512F",
    "AVX512_VPOPCNTDQ": "AVX512F",
    "AVX512ER": "AVX512F",
    "AVX512PF": "AVX512F",
    "AVX512_4FMAPS": "AVX512F",
    "AVX512_4VNNIW": "AVX512F",
    "VAES": "AVX",
    "VPCLMULQDQ": "AVX",
    "FMA4": "AVX",
    "XOP": "AVX",
    "XSAVEOPT": "OSXSAVE",
    "XSAVEC": "OSXSAVE",
    "XSAVES": "OSXSAVE",
}
# /proc/cpuinfo flag of each extension, so a host's CPU can be compared (Linux
# arch/x86/include/asm/cpufeatures.h; OSXSAVE is hidden there, "xsave" is what the kernel enables).
CPUINFO_FLAG = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "SSE4.1": "sse4_1",
    "SSE4.2": "sse4_2",
    "POPCNT": "popcnt",
    "CMPXCHG16B": "cx16",
    "LAHF-SAHF": "lahf_lm",
    "AVX": "avx",
    "AVX2": "avx2",
    "BMI1": "bmi1",
    "BMI2": "bmi2",
    "F16C": "f16c",
    "FMA": "fma",
    "LZCNT": "abm",
    "MOVBE": "movbe",
    "OSXSAVE": "xsave",
    "AVX512F": "avx512f",
    "AVX512BW": "avx512bw",
    "AVX512CD": "avx512cd",
    "AVX512DQ": "avx512dq",
    "AVX512VL": "avx512vl",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VBMI2": "avx512_vbmi2",
    "AVX512_BITALG": "avx512_bitalg",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_IFMA": "avx512ifma",
    "AVX512_VPOPCNTDQ": "avx512_vpopcntdq",
    "AVX512ER": "avx512er",
    "AVX512PF": "avx512pf",
    "AVX512_4FMAPS": "avx512_4fmaps",
    "AVX512_4VNNIW": "avx512_4vnniw",
    "AES": "aes",
    "PCLMULQDQ": "pclmulqdq",
    "VAES": "vaes",
    "VPCLMULQDQ": "vpclmulqdq",
    "GFNI": "gfni",
    "SHA": "sha_ni",
    "ADX": "adx",
    "RDRAND": "rdrand",
    "RDSEED": "rdseed",
    "RTM": "rtm",
    "SSE4A": "sse4a",
    "XOP": "xop",
    "FMA4": "fma4",
    "TBM": "tbm",
    "XSAVEOPT": "xsaveopt",
    "XSAVEC": "xsavec",
    "XSAVES": "xsaves",
}


def level_of(extensions: set[str] | frozenset[str]) -> str:
    """The lowest psABI level whose table contains every extension (or what it implies)."""
    best = 0
    for ext in extensions:
        level = LEVEL_OF.get(ext) or LEVEL_OF.get(IMPLIES.get(ext, ""))
        if level is not None:
            best = max(best, LEVEL_ORDER.index(level))
    return LEVEL_ORDER[best]
