"""Which x86-64 ISA extension an instruction needs: knowledge, kept apart from decoding so the
full sweep and the fast prefilter share one answer. Names: knowledge/cpu_levels.py.

Why mnemonics and not capstone's instruction groups: capstone 5 gives no group for vpternlogd,
vpconflictd, FMA, POPCNT, LZCNT, MOVBE, palignr or pabsb, and calls tzcnt BMI (checked by
tests/elf/test_isa.py). Deliberate choices, each a real-world case:
- tzcnt (F3 0F BC) is not counted: without BMI1 it executes as bsf, identical for non-zero
  input, and GCC emits `rep bsf` at the baseline level for that reason. lzcnt (F3 0F BD) is
  counted: without LZCNT it executes as bsr and returns a different number.
- endbr64, prefetchw and other hint-space encodings are NOPs on older CPUs: not counted.
- The baseline (SSE, SSE2, MMX, x87, CMOV, CMPXCHG8B, FXSR) is never listed.
"""

from __future__ import annotations

import re
from functools import lru_cache


def _names(ext: str, words: str) -> dict[str, str]:
    return dict.fromkeys(words.split(), ext)


def _words(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Legacy (non-VEX) encodings: mnemonic -> extension.
LEGACY: dict[str, str] = {
    **_names(
        "SSE3",
        "addsubpd addsubps haddpd haddps hsubpd hsubps lddqu movddup movshdup movsldup fisttp",
    ),
    **_names(
        "SSSE3",
        "pabsb pabsd pabsw palignr phaddd phaddsw phaddw phsubd phsubsw phsubw pmaddubsw "
        "pmulhrsw pshufb psignb psignd psignw",
    ),
    **_names(
        "SSE4.1",
        "blendpd blendps blendvpd blendvps dppd dpps extractps insertps movntdqa mpsadbw "
        "packusdw pblendvb pblendw pcmpeqq pextrb pextrd pextrq phminposuw pinsrb pinsrd pinsrq "
        "pmaxsb pmaxsd pmaxud pmaxuw pminsb pminsd pminud pminuw pmovsxbd pmovsxbq pmovsxbw "
        "pmovsxdq pmovsxwd pmovsxwq pmovzxbd pmovzxbq pmovzxbw pmovzxdq pmovzxwd pmovzxwq "
        "pmuldq pmulld ptest roundpd roundps roundsd roundss",
    ),
    **_names("SSE4.2", "crc32 pcmpestri pcmpestrm pcmpistri pcmpistrm pcmpgtq"),
    "popcnt": "POPCNT",
    "lzcnt": "LZCNT",
    "movbe": "MOVBE",
    "cmpxchg16b": "CMPXCHG16B",
    "lahf": "LAHF-SAHF",
    "sahf": "LAHF-SAHF",
    **_names("OSXSAVE", "xgetbv xsave xsave64 xrstor xrstor64"),
    **_names("XSAVEOPT", "xsaveopt xsaveopt64"),
    **_names("XSAVEC", "xsavec xsavec64"),
    **_names("XSAVES", "xsaves xsaves64 xrstors xrstors64"),
    **_names("AES", "aesdec aesdeclast aesenc aesenclast aesimc aeskeygenassist"),
    **_names("PCLMULQDQ", "pclmulqdq pclmullqlqdq pclmulhqlqdq pclmullqhqdq pclmulhqhqdq"),
    **_names("SHA", "sha1msg1 sha1msg2 sha1nexte sha1rnds4 sha256msg1 sha256msg2 sha256rnds2"),
    **_names("ADX", "adcx adox"),
    "rdrand": "RDRAND",
    "rdseed": "RDSEED",
    **_names("RTM", "xabort xbegin xend xtest"),
    **_names("GFNI", "gf2p8affineinvqb gf2p8affineqb gf2p8mulb"),
    **_names("SSE4A", "extrq insertq movntsd movntss"),
}
TBM = _words("bextr blcfill blci blcic blcmsk blcs blsfill blsic t1mskc tzmsk")
BMI1 = _words("andn bextr blsi blsmsk blsr")
BMI2 = _words("bzhi mulx pdep pext rorx sarx shlx shrx")
# VEX forms that need AVX2 even on xmm registers, or that are new in AVX2.
AVX2_ALWAYS = _words(
    "vpbroadcastb vpbroadcastw vpbroadcastd vpbroadcastq vbroadcasti128 vinserti128 "
    "vextracti128 vperm2i128 vpermd vpermq vpermps vpermpd vpmaskmovd vpmaskmovq vpsllvd "
    "vpsllvq vpsrlvd vpsrlvq vpsravd vpblendd vgatherdpd vgatherdps vgatherqpd vgatherqps "
    "vpgatherdd vpgatherdq vpgatherqd vpgatherqq"
)
# "vp" mnemonics that stay AVX on ymm registers; and non-"vp" ones that are AVX2 on ymm.
AVX_YMM_VP = _words("vptest vpermilps vpermilpd vperm2f128")
AVX2_YMM_OTHER = _words("vmovntdqa vmpsadbw")
FMA3 = re.compile(r"vf(?:n?m(?:add|sub)|maddsub|msubadd)(?:132|213|231)[ps][sd]")
FMA4 = re.compile(r"vf(?:n?m(?:add|sub)|maddsub|msubadd)[ps][sd]")
# EVEX: the AVX-512 subset beyond AVX512F, by mnemonic (Intel SDM, each instruction's CPUID column).
EVEX_SUBSETS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (ext, re.compile("|".join(patterns)))
    for ext, patterns in (
        (
            "AVX512BW",
            (
                r"vp(?:add|sub)(?:s|us)?[bw]",
                r"vp(?:avg|abs)[bw]",
                r"vpcmp[a-z]*[bw]",
                r"vp(?:min|max)[su][bw]",
                r"vpack(?:ss|us)(?:wb|dw)",
                r"vpalignr",
                r"vpblendm[bw]",
                r"vpbroadcast[bw]",
                r"vperm(?:i2|t2)?w",
                r"vp(?:extr|insr)[bw]",
                r"vpmaddubsw|vpmaddwd|vpsadbw|vdbpsadbw|vpshufb|vpshuf[hl]w",
                r"vpmov[bw]2m|vpmovm2[bw]|vpmov[sz]xbw|vpmov(?:s|us)?wb",
                r"vpmulh(?:rs|u)?w|vpmullw",
                r"vps(?:ll|ra|rl)v?w|vp(?:sll|srl)dq",
                r"vptestn?m[bw]",
                r"vpunpck[hl](?:bw|wd)",
                r"vmovdqu(?:8|16)",
            ),
        ),
        (
            "AVX512DQ",
            (
                r"vpmullq",
                r"vcvtt?(?:pd|ps)2u?qq|vcvtu?qq2(?:pd|ps)",
                r"v(?:range|reduce|fpclass)[ps][sd]",
                r"v(?:extract|insert)[fi](?:32x8|64x2)",
                r"vbroadcast[fi](?:32x2|32x8|64x2)",
                r"vpmovm2[dq]|vpmov[dq]2m",
                r"v(?:and|andn|or|xor)p[sd]",
                r"vp(?:extr|insr)[dq]",
            ),
        ),
        ("AVX512CD", (r"vpconflict[dq]", r"vplzcnt[dq]", r"vpbroadcastm(?:b2q|w2d)")),
        ("AVX512_VBMI", (r"vperm(?:i2|t2)?b", r"vpmultishiftqb")),
        ("AVX512_VBMI2", (r"vp(?:compress|expand)[bw]", r"vpsh[lr]dv?[wdq]")),
        ("AVX512_VNNI", (r"vpdp(?:bus|wss)ds?",)),
        ("AVX512_IFMA", (r"vpmadd52[lh]uq",)),
        ("AVX512_BITALG", (r"vpopcnt[bw]", r"vpshufbitqmb")),
        ("AVX512_VPOPCNTDQ", (r"vpopcnt[dq]",)),
        ("AVX512ER", (r"vexp2p[sd]", r"vrcp28[ps][sd]", r"vrsqrt28[ps][sd]")),
        ("AVX512PF", (r"v(?:gather|scatter)pf[01][dq]p[sd]",)),
        ("AVX512_4FMAPS", (r"v4f(?:n)?madd[ps]s",)),
        ("AVX512_4VNNIW", (r"vp4dpwssds?",)),
    )
)
# EVEX forms that take no AVX512VL even on xmm registers: scalars and element moves.
EVEX_NO_VL = _words(
    "vmovd vmovq vextractps vinsertps vmovhps vmovlps vmovhpd vmovlpd vmovhlps vmovlhps "
    "vpextrb vpextrw vpextrd vpextrq vpinsrb vpinsrw vpinsrd vpinsrq"
)
EVEX_SCALAR = re.compile(r"v(?!p|broadcast)[a-z0-9]*(?:ss|sd)|vcvtt?s[sd]2u?si")
LEGACY_PREFIXES = frozenset(b"\x26\x2e\x36\x3e\x64\x65\x66\x67\xf0\xf2\xf3")
CPUID = "cpuid"  # not an extension: a dispatch signal, found by the same machinery


def encoding(raw: bytes) -> str:
    """ "legacy", "vex", "evex" or "xop": the instruction's encoding, from its first bytes."""
    at = 0
    while at < len(raw) and raw[at] in LEGACY_PREFIXES:
        at += 1
    if at < len(raw) and 0x40 <= raw[at] <= 0x4F:
        at += 1
    if at >= len(raw):
        return "legacy"
    lead = raw[at]
    if lead in (0xC4, 0xC5):
        return "vex"  # LES/LDS do not exist in 64-bit mode
    if lead == 0x62:
        return "evex"  # nor does BOUND
    if lead == 0x8F and at + 1 < len(raw) and raw[at + 1] & 0x1F >= 8:
        return "xop"  # 8F /0 is POP; XOP map select is 8..10
    return "legacy"


def maybe_extension(mnemonic: str) -> bool:
    """Cheap first test for the full sweep: can this mnemonic need an extension at all?"""
    return (
        mnemonic[0] in "vk"
        or mnemonic in LEGACY
        or mnemonic in TBM
        or mnemonic
        in (
            "pextrw",
            "andn",
            "blsi",
            "blsmsk",
            "blsr",
            CPUID,
        )
        or mnemonic in BMI2
    )


def classify(mnemonic: str, op_str: str, raw: bytes) -> frozenset[str]:
    """Extensions the instruction needs (empty for baseline ones); CPUID for cpuid itself."""
    enc = encoding(raw)
    if enc == "legacy" and mnemonic == "pextrw":
        # 66 0F 3A 15 (to memory or a register) is SSE4.1; 66 0F C5 is SSE2
        return frozenset({"SSE4.1"}) if b"\x0f\x3a\x15" in raw[:6] else frozenset()
    wide = "ymm" in op_str, "zmm" in op_str
    reg_source = mnemonic.startswith("vbroadcasts") and op_str.partition(", ")[2][:3] == "xmm"
    return _classify(mnemonic, enc, *wide, reg_source)


@lru_cache(maxsize=8192)
def _classify(mnemonic: str, enc: str, ymm: bool, zmm: bool, reg_source: bool) -> frozenset[str]:
    if enc == "legacy":
        if mnemonic == CPUID:
            return frozenset({CPUID})
        ext = LEGACY.get(mnemonic)
        return frozenset({ext}) if ext else frozenset()
    if enc == "xop":
        return frozenset({"TBM" if mnemonic in TBM else "XOP"})
    if enc == "evex":
        return _evex(mnemonic, zmm)
    return _vex(mnemonic, ymm, reg_source)


def _vex(m: str, ymm: bool, reg_source: bool) -> frozenset[str]:
    if m in BMI1:
        return frozenset({"BMI1"})
    if m in BMI2:
        return frozenset({"BMI2"})
    if m[0] == "k":
        return frozenset({_mask_op(m)})
    if FMA3.fullmatch(m):
        return frozenset({"FMA"})
    if FMA4.fullmatch(m):
        return frozenset({"FMA4"})
    if m in ("vcvtph2ps", "vcvtps2ph"):
        return frozenset({"F16C"})
    if m.startswith("vaes"):
        return frozenset({"VAES"} if ymm else {"AES", "AVX"})
    if m.startswith("vpclmul"):
        return frozenset({"VPCLMULQDQ"} if ymm else {"PCLMULQDQ", "AVX"})
    if m.startswith("vgf2p8"):
        return frozenset({"GFNI", "AVX"})
    if m in AVX2_ALWAYS or reg_source:
        return frozenset({"AVX2"})
    if ymm and ((m.startswith("vp") and m not in AVX_YMM_VP) or m in AVX2_YMM_OTHER):
        return frozenset({"AVX2"})
    return frozenset({"AVX"})


def _mask_op(m: str) -> str:
    """Opmask instructions (VEX-encoded): the subset is in the operand-size suffix."""
    if m == "kunpckbw":
        return "AVX512F"
    if m in ("kunpckwd", "kunpckdq") or m[-1] in "dq":
        return "AVX512BW"
    if m[-1] == "b" or m in ("kaddw", "ktestw"):
        return "AVX512DQ"
    return "AVX512F"


def _evex(m: str, zmm: bool) -> frozenset[str]:
    """The AVX-512 subset (AVX512F when none other applies), plus AVX512VL below 512 bits."""
    out = {next((ext for ext, pattern in EVEX_SUBSETS if pattern.fullmatch(m)), "AVX512F")}
    for prefix, ext in (("vaes", "VAES"), ("vpclmul", "VPCLMULQDQ"), ("vgf2p8", "GFNI")):
        if m.startswith(prefix):
            out.add(ext)  # the EVEX forms of these need AVX512F as well
    if not zmm and m not in EVEX_NO_VL and not EVEX_SCALAR.fullmatch(m):
        out.add("AVX512VL")
    return frozenset(out)
