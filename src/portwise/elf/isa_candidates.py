"""The raw-byte prefilter's first step: which bytes can open an instruction that needs an ISA
extension (or is cpuid), found with regular expressions at C speed.

Every filter here only drops byte runs that capstone cannot decode as such an instruction
(checked exhaustively by tests/elf/test_isa.py), so the prefilter and the full sweep see
the same extension-bearing instructions.
"""

from __future__ import annotations

import re


def _cls(values: set[int]) -> bytes:
    return b"[" + b"".join(re.escape(bytes([v])) for v in sorted(values)) + b"]"


_VEX3 = {b for b in range(256) if b & 0x1F in (1, 2, 3)}
_XOP = {b for b in range(256) if b & 0x1F in (8, 9, 10)}
_EVEX_P0 = {b for b in range(256) if b & 0x0F in (1, 2, 3)}
_EVEX_P1 = {b for b in range(256) if b & 0x04}
_MEM_REG = {m for m in range(256) if m >> 6 != 3}
_FISTTP = {m for m in _MEM_REG if (m >> 3) & 7 == 1}
_XSAVE = {m for m in _MEM_REG if (m >> 3) & 7 in (4, 5, 6)}  # xsave, xrstor, xsaveopt
_GROUP9 = {m for m in range(256) if (m >> 3) & 7 not in (0, 2)}  # cmpxchg16b, xsavec, rdrand...
_AFTER_0F = {0x38, 0x3A, 0xB8, 0xBD, 0x7C, 0x7D, 0xD0, 0xF0, 0x12, 0x16, 0xA2, 0x78, 0x79, 0x2B}
# One regex per opening byte: a literal first byte lets the regex engine skip ahead at C speed
# (a single alternation of them all was measured 10x slower).
CANDIDATE_PATTERNS = tuple(
    re.compile(pattern, re.DOTALL)
    for pattern in (
        rb"\xc5",
        rb"\xc4(?=" + _cls(_VEX3) + rb")",
        rb"\x62(?=" + _cls(_EVEX_P0) + _cls(_EVEX_P1) + rb")",
        rb"\x8f(?=" + _cls(_XOP) + rb")",
        rb"\x0f(?="
        + _cls(_AFTER_0F)
        + rb"|\xc7"
        + _cls(_GROUP9)
        + rb"|\xae"
        + _cls(_XSAVE)
        + rb"|\x01[\xd0\xd5\xd6])",
        rb"\x9e",
        rb"\x9f",
        *(bytes([lead]) + rb"(?=" + _cls(_FISTTP) + rb")" for lead in (0xDB, 0xDD, 0xDF)),
        rb"\xc6\xf8",
        rb"\xc7\xf8",
    )
)
# Two-byte VEX (C5): opcodes capstone accepts for some operand, per (pp, L); bit n = opcode n.
# Derived from capstone 5 by enumeration; tests/elf/test_isa.py checks it still covers
# every opcode capstone decodes, so the table can only skip bytes the full sweep cannot decode.
VEX2_OPCODES = (
    0x000000000000004400004000030F000000800000FFFF00100000CB0000FF0000,  # pp=0 L=0
    0x0000000000000044000000000000000000800000FFFF0CE60000CB0000330000,  # pp=0 L=1
    0x7FFEFFFFFFFF007400000000030F0000F07FFFFFFFF300100000CB0000FF0000,  # pp=1 L=0
    0x7F7EFFFFFFBF00440000000000000000B07FBFFFFFF30CE60000CB0000330000,  # pp=1 L=1
    0x00000040000000040000000000000000C0018000FF0E00000000340000470000,  # pp=2 L=0
    0x0000004000000004000000000000000080018000FF0E00000000340000470000,  # pp=2 L=1
    0x000100400001000400000000000C000030010000F70200000000340000070000,  # pp=3 L=0
    0x0001004000010004000000000000000030010000F70200000000340000070000,  # pp=3 L=1
)


def vex2_possible(payload: int, opcode: int) -> bool:
    """Can C5 <payload> <opcode> be a valid instruction (per VEX2_OPCODES)?"""
    return bool(VEX2_OPCODES[(payload & 3) * 2 + ((payload >> 2) & 1)] >> opcode & 1)


def candidates(code: bytes) -> list[int]:
    """Offsets of every byte that may open an extension-bearing instruction, in order."""
    found: list[int] = []
    for pattern in CANDIDATE_PATTERNS:
        found.extend(map(re.Match.start, pattern.finditer(code)))
    found.sort()
    return found


# After 0F: the mandatory prefix without which the opcode needs no extension (a cheap skip).
NEEDS_PREFIX = {
    0xB8: b"\xf3",  # popcnt (0F B8 alone is JMPE, invalid)
    0xBD: b"\xf3",  # lzcnt (else bsr)
    0x12: b"\xf2\xf3",  # movddup, movsldup (else movlps/movlpd)
    0x16: b"\xf3",  # movshdup
    0x7C: b"\x66\xf2",
    0x7D: b"\x66\xf2",
    0xD0: b"\x66\xf2",
    0xF0: b"\xf2",  # lddqu
    0x78: b"\x66\xf2",  # extrq/insertq (else vmread)
    0x79: b"\x66\xf2",
    0x2B: b"\xf2\xf3",  # movntsd/movntss (else movntps/movntpd)
}


# Opcodes of the opmask instructions in VEX map 1 (kand/kor/kxor/kadd/kunpck 41-4B, kmov 90-93,
# kortest 98, ktest 99). Every other map-1 VEX instruction is AVX or AVX2, so once both are
# found a map-1 VEX candidate cannot add anything (tests check this on every valid encoding).
MASK_OPCODES = frozenset(range(0x41, 0x4C)) | {0x90, 0x91, 0x92, 0x93, 0x98, 0x99}
VEX_MAP1 = frozenset({"AVX", "AVX2"})
VEX_MAP1_MASK = frozenset({"AVX512F", "AVX512BW", "AVX512DQ"})


def vex_map1_bound(code: bytes, p: int) -> frozenset[str] | None:
    """What a VEX map-1 instruction at p can need at most; None when p is not one."""
    lead = code[p]
    if lead == 0xC5:
        opcode_at = p + 2
    elif lead == 0xC4 and code[p + 1] & 0x1F == 1:
        opcode_at = p + 3
    else:
        return None
    if opcode_at >= len(code):
        return None
    return VEX_MAP1_MASK if code[opcode_at] in MASK_OPCODES else VEX_MAP1
