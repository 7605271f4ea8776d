"""Find the ISA extensions code uses: a full capstone sweep (the oracle) and a raw-byte prefilter
that decodes only around candidate encodings (the default: 2.5-6x faster on large binaries,
bench/isa_speed.py).

Both report, per extension, the first instruction found that needs it, classified by the same
function (isa_table.classify), so they can only differ in which instruction boundaries they see.

The prefilter, in address order over each executable region:
1. a regex finds every byte that can open an extension-bearing instruction (VEX C4/C5, EVEX 62,
   XOP 8F, the 0F escapes of SSE3..SSE4.2/POPCNT/LZCNT/MOVBE/CRC32/CMPXCHG16B/XSAVE/RDRAND/
   cpuid, lahf/sahf, x87 fisttp, xbegin/xabort); the filters on the following bytes are the
   ones capstone itself enforces (checked by the tests);
2. the instruction that would start there (or a few prefix bytes earlier) is decoded alone and
   classified; if it could add nothing new the candidate costs nothing more;
3. otherwise the real instruction boundary is established by decoding up to it: from a sure
   start within WINDOW bytes (a function start from symbols or .eh_frame_hdr, the region start,
   the end of the previous sure decode); else from the last probable instruction start within
   WINDOW bytes (a call to a known function, a RIP-relative lea/mov into loaded memory; a
   candidate inside the latter is dropped at once); else from WINDOW bytes earlier. x86
   decoding re-synchronises within a few instructions (measured on libc and python3.11: 0.05%
   of real boundaries missed from 64 bytes back), and a hit found from a start that is not sure
   is decoded again from a sure start up to RECHECK_REACH back (else 4 * WINDOW) before it
   counts.
Cost is dominated by capstone: ~4 us per call in C plus ~1 us per instruction in its Python
binding, so the one-byte candidates (lahf/sahf 9E/9F, fisttp DB/DD/DF), which need a window
each, bound the speed-up on baseline code.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import capstone  # type: ignore[import-untyped]

from portwise.elf.isa_candidates import (
    NEEDS_PREFIX,
    candidates,
    vex2_possible,
    vex_map1_bound,
)
from portwise.elf.isa_elf import Region
from portwise.elf.isa_table import CPUID, LEGACY_PREFIXES, classify, maybe_extension

WINDOW = 64  # bytes decoded before a candidate when no known boundary is near
RECHECK_REACH = 4096  # a hit not decoded from a sure start is decoded again from this far
MAX_PREFIXES = 14  # an x86 instruction is at most 15 bytes


_FIXED = {0x9E: frozenset({"LAHF-SAHF"}), 0x9F: frozenset({"LAHF-SAHF"})}
_SSE3 = frozenset({"SSE3"})
_CPUID = frozenset({CPUID})


def new_disassembler() -> capstone.Cs:
    """64-bit x86, skipping undecodable bytes one at a time as a linear sweep must."""
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.skipdata = True
    return cs


# Why an instruction at an address, needing an extension, runs only after the CPU was checked
# (isa_dispatch.Structure.why); None: not shown, so it is required.
Why = Callable[[int, str], str | None]


@dataclass
class Found:
    """Per extension, the first use not shown to be dispatched (`hits`: required) and the first
    dispatched use with why (`dispatched`); an extension may be in both."""

    hits: dict[str, tuple[int, str]] = field(default_factory=dict)  # ext -> (address, mnemonic)
    dispatched: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # ... + why
    instructions: int = 0
    why: Why | None = None

    def wanted(self, extensions: frozenset[str], address: int) -> frozenset[str]:
        """The extensions of a use at address that would tell something new."""
        new = [e for e in extensions if e not in self.hits]
        if not new or self.why is None:
            return frozenset(new)
        why = self.why
        return frozenset(e for e in new if e not in self.dispatched or why(address, e) is None)

    def add(self, extensions: frozenset[str], address: int, mnemonic: str) -> None:
        for ext in extensions:
            reason = self.why(address, ext) if self.why is not None else None
            if reason is None:
                self.hits.setdefault(ext, (address, mnemonic))
            else:
                self.dispatched.setdefault(ext, (address, mnemonic, reason))


def full_sweep(cs: capstone.Cs, regions: list[Region], why: Why | None = None) -> Found:
    """Decode every byte of every region: slow, the reference the prefilter must match."""
    found = Found(why=why)
    interesting: dict[str, bool] = {}
    for region in regions:
        code, base = region.code, region.addr
        for address, size, mnemonic, op_str in cs.disasm_lite(code, base):
            found.instructions += 1
            maybe = interesting.get(mnemonic)
            if maybe is None:
                maybe = interesting[mnemonic] = maybe_extension(mnemonic)
            if maybe:
                at = address - base
                exts = classify(mnemonic, op_str, code[at : at + size])
                if exts:
                    found.add(found.wanted(exts, address), address, mnemonic)
    return found


def fast_scan(
    cs: capstone.Cs,
    regions: list[Region],
    starts: list[int],
    span: tuple[int, int],
    why: Why | None = None,
) -> Found:
    """Decode only around candidate encodings; same extensions as full_sweep.

    starts: function start addresses; span: the lowest and highest loaded address, which
    RIP-relative operands of real instructions point into; why: which uses are dispatched
    (then a candidate whose extensions are all known is still decoded unless it lies in a
    dispatched function: a required use of them may remain to be found).
    """
    found = Found(why=why)
    for region in regions:
        _RegionScan(cs, region, starts, span, found).run()
    return found


# Probable instruction starts found from bytes alone, to begin decoding close to a candidate: a
# call to a known function start, a RIP-relative lea/mov of a 64-bit register whose target is
# loaded memory. Bytes inside another instruction match only when a 32-bit field also happens to
# hit a function start or the loaded range.
_ANCHORS = re.compile(rb"\xe8|[\x48\x4c][\x8d\x8b][\x05\x0d\x15\x1d\x25\x2d\x35\x3d]")


# Bits of VEX/EVEX/XOP payload bytes that can change the mnemonic or operand widths (map,
# W, L/L'L, pp, EVEX.b); the rest only number registers.
_PAYLOAD_MASKS = {
    0xC5: (0x07,),
    0xC4: (0x1F, 0x87),
    0x8F: (0x1F, 0x87),
    0x62: (0x0F, 0x87, 0x70),
}


def _shape(code: bytes, p: int) -> bytes:
    """What decides an instruction's class from p on, with register numbers masked out: the
    memo key that lets one decode stand for every instruction of the same shape.

    The ModRM byte keeps mod and reg (reg selects group members, mod register or memory
    forms); legacy 0F encodings keep it whole (0F 01 D0/D5/D6 differ only in rm).
    """
    masks = _PAYLOAD_MASKS.get(code[p])
    if masks is None:
        return code[p : p + 4]
    at = p + 1 + len(masks)
    payload = bytes(b & m for b, m in zip(code[p + 1 : at], masks, strict=False))
    return (
        bytes([code[p]])
        + payload
        + code[at : at + 1]
        + bytes([code[at + 1] & 0xF8 if at + 1 < len(code) else 0])
    )


class _RegionScan:
    def __init__(
        self,
        cs: capstone.Cs,
        region: Region,
        starts: list[int],
        span: tuple[int, int],
        found: Found,
    ):
        self.cs, self.region, self.found = cs, region, found
        self.code = region.code
        lo = bisect.bisect_left(starts, region.addr)
        hi = bisect.bisect_left(starts, region.addr + len(region.code))
        self.anchors = [0] + [a - region.addr for a in starts[lo:hi]]
        self.functions = frozenset(starts)
        self.span = span
        self.cursor = 0  # end of the last instruction decoded from a sure start
        self.covered = 0  # candidates before this offset sit inside a surely decoded instruction
        self.memo: dict[bytes, frozenset[str]] = {}

    def run(self) -> None:
        code = self.code
        hits = self.found.hits.keys()  # a live, set-like view: `possible <= hits` runs in C
        dispatched = self.found.dispatched.keys()
        why, base = self.found.why, self.region.addr
        end = len(code)
        for p in candidates(code):
            if p < self.covered:
                continue
            lead = code[p]
            if lead in (0xC4, 0xC5):
                if lead == 0xC5 and (p + 2 >= end or not vex2_possible(code[p + 1], code[p + 2])):
                    continue
                bound = vex_map1_bound(code, p)
                if bound is not None and bound <= hits:
                    continue
                possible = self._possible(p)
            elif lead in _FIXED:
                possible = _FIXED[lead]
            elif lead in (0xDB, 0xDD, 0xDF):
                possible = _SSE3
            elif lead == 0x0F and code[p + 1] == 0xA2:
                possible = _CPUID
            else:
                possible = self._possible(p)
            if possible <= hits:
                continue
            if (
                why is not None
                and all(e in hits or e in dispatched for e in possible)
                and why(base + p, "") is not None
            ):
                continue
            self._confirm(p)

    def _prefix_starts(self, p: int) -> list[int]:
        code, c = self.code, p
        while (
            c > 0
            and p - c < MAX_PREFIXES
            and (code[c - 1] in LEGACY_PREFIXES or 0x40 <= code[c - 1] <= 0x4F)
        ):
            c -= 1
        return list(range(p, c - 1, -1))

    def _possible(self, p: int) -> frozenset[str]:
        """Union of what the instruction could need, decoding it alone from each possible start."""
        code = self.code
        starts = self._prefix_starts(p)
        if code[p] == 0x0F:
            need = NEEDS_PREFIX.get(code[p + 1])
            if need is not None and not any(code[c] in need for c in starts[1:]):
                return frozenset()
            rex_w = any(0x48 <= code[c] <= 0x4F for c in starts[1:])
            if code[p + 1] == 0xC7 and (code[p + 2] >> 3) & 7 == 1 and not rex_w:
                return frozenset()  # cmpxchg8b: CMPXCHG16B needs REX.W
        out: frozenset[str] = frozenset()
        shape = _shape(code, p)
        for c in starts:
            key = code[c:p] + shape
            exts = self.memo.get(key)
            if exts is None:
                self.found.instructions += 1
                for _, size, mnemonic, op_str in self.cs.disasm_lite(code[c : c + 15], 0, 1):
                    if c + size > p and mnemonic != ".byte":
                        exts = self.memo[key] = classify(mnemonic, op_str, code[c : c + size])
            out |= exts or frozenset()
        return out

    def _confirm(self, p: int) -> None:
        """Decode up to p from a boundary; classify the instruction that really covers p."""
        start, sure = self._start(p, WINDOW, WINDOW, probable=True)
        if start < 0:
            return  # p lies inside a RIP-relative lea/mov
        insn = self._covering(p, start)
        if insn is None:
            return
        at, size, mnemonic, op_str = insn
        if sure:
            self.cursor = self.covered = at + size
        if not maybe_extension(mnemonic):
            return
        exts = classify(mnemonic, op_str, self.code[at : at + size])
        new = self.found.wanted(exts, self.region.addr + at) if exts else exts
        if not new:
            return
        if not sure:  # the start may have been mid-instruction: check from a sure or far start
            start, _ = self._start(p, RECHECK_REACH, 4 * WINDOW, probable=False)
            if self._covering(p, start) != insn:
                return
        self.found.add(new, self.region.addr + at, mnemonic)

    def _start(self, p: int, reach: int, window: int, probable: bool) -> tuple[int, bool]:
        """Where to decode from for p, and whether that is surely an instruction boundary.

        A function start, the region start or the end of the last sure decode within reach is
        sure. Else, if probable, the last near-certain instruction within window (not sure: a
        call's E8 is often a ModRM byte, as in `mov r8, rbp` = 49 89 E8, and a short rel32 can
        hit a function start by chance; seen once in 2,000 system files). Else p - window.
        (-1, True) when p lies inside a RIP-relative lea/mov, so cannot start an instruction.
        """
        index = bisect.bisect_right(self.anchors, p) - 1
        best = max(self.anchors[index], self.cursor if self.cursor <= p else 0)
        if p - best <= min(reach, 16) or not probable:
            return (best, True) if p - best <= reach else (max(0, p - window), False)
        if p - best <= reach:
            return best, True
        code, base = self.code, self.region.addr
        lo, hi = self.span
        found = -1
        for match in _ANCHORS.finditer(code, max(best, p - window), p):
            q = match.start()
            if code[q] == 0xE8:
                rel = int.from_bytes(code[q + 1 : q + 5], "little", signed=True)
                if q + 5 <= p and base + q + 5 + rel in self.functions:
                    found = q
            elif q + 7 <= len(code):
                rel = int.from_bytes(code[q + 3 : q + 7], "little", signed=True)
                if lo <= base + q + 7 + rel < hi:
                    if q + 7 > p:
                        return -1, True
                    found = q
        if found >= 0:
            return found, False
        return max(0, p - window), False

    def _covering(self, p: int, start: int) -> tuple[int, int, str, str] | None:
        code, base = self.code, self.region.addr
        end = min(len(code), p + 16)
        for address, size, mnemonic, op_str in self.cs.disasm_lite(code[start:end], base + start):
            self.found.instructions += 1
            at = address - base
            if at + size > p:
                return (at, size, mnemonic, op_str) if at <= p else None
        return None
