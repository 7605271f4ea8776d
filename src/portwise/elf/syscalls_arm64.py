"""AArch64 rules for the direct-syscall scan: `svc #0` takes its number in x8.

Walking back, a location is a register family ("x8" for x8/w8) or an int: a stack slot as an
offset from sp before the instruction. Operands come from capstone's lite decoder text; an
instruction these rules do not understand and that writes the location gives "unknown".
"""

from __future__ import annotations

import operator
import re
from array import array
from collections.abc import Iterable
from itertools import accumulate, compress, count, repeat

import capstone  # type: ignore[import-untyped]

from portwise.elf.walk import PASS, Const, Loc, Move, Outcome, Unknown

NAME = "aarch64"
NR: Loc = "x8"
ARG0: Loc = "x0"  # syscall(long number, ...): the number is the first argument
SLOTS_FROM_BYTES = False  # adrp/ldr/blr cannot be found from raw bytes: decode everything
SITE_BYTES = b"\x01\x00\x00\xd4"  # svc #0
FIRST_STACK_ARG = 0
SHORT_REACH = 0  # every direct branch form is found from raw bytes

_C_CLOBBERED = frozenset({f"x{n}" for n in range(19)} | {"x30"})
_GO_KEPT = frozenset({"sp", "x28", "x29"})  # Go: every other register is scratch across calls
_ALIASES = {"fp": "x29", "lr": "x30", "wsp": "sp", "sp": "sp"}
_NO_WRITE = frozenset(
    {"cmp", "cmn", "tst", "fcmp", "ccmp", "ccmn", "prfm", "prfum", "dmb", "dsb", "isb", "nop"}
    | {"hint", "yield", "paciasp", "autiasp", "pacibsp", "autibsp", "bti", "msr", "clrex"}
    | {"b", "bl", "br", "blr", "ret", "cbz", "cbnz", "tbz", "tbnz", "svc", "brk", "udf"}
)
_STOPS = frozenset({"ret", "br", "brk", "udf", "hlt", "eret", "retaa", "retab", "braaz"})
_MEM = re.compile(r"\[(\w+)(?:, #(-?(?:0x[0-9a-f]+|\d+)))?\](!?)\Z")
_LOADS = {"ldr": 0, "ldur": 0, "ldrsw": 4, "ldar": 0, "ldapr": 0}
_STORES = {"str": 0, "stur": 0, "stlr": 0, "strb": 1, "sturb": 1, "strh": 2, "sturh": 2}
_SPLIT = re.compile(r",\s*(?![^\[]*\])")


def disassembler() -> capstone.Cs:
    md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    md.skipdata = True
    return md


def _reg(name: str) -> tuple[str, int] | None:
    """(family, size) of a general register; ("zr", size) for the zero register."""
    if name in _ALIASES:
        return _ALIASES[name], 8 if name != "wsp" else 4
    if len(name) >= 2 and name[0] in "xw" and name[1:].isdigit() and int(name[1:]) <= 30:
        return "x" + name[1:], 8 if name[0] == "x" else 4
    if name in ("xzr", "wzr"):
        return "zr", 8 if name[0] == "x" else 4
    return None


def _imm(text: str) -> int | None:
    if not text.startswith("#"):
        return None
    try:
        return int(text[1:], 0)
    except ValueError:
        return None


def _shifted(ops: list[str], index: int) -> int | None:
    """An immediate operand with an optional `lsl #n` after it."""
    value = _imm(ops[index]) if index < len(ops) else None
    if value is None:
        return None
    if index + 1 < len(ops):
        shift = re.fullmatch(r"lsl #(\d+)", ops[index + 1])
        if shift is None:
            return None
        value <<= int(shift.group(1))
    return value


def classify(mnemonic: str, op_str: str) -> tuple[str | None, int | None]:
    """("site"|"call"|"jump"|"cjump"|"stop"|"data"|"icall"|None, direct target or None)."""
    if mnemonic == "svc":
        return ("site", None) if op_str == "#0" else (None, None)
    if mnemonic == "bl":
        return "call", _imm(op_str)
    if mnemonic == "b":
        return "jump", _imm(op_str)
    if mnemonic.startswith("b.") or mnemonic in ("cbz", "cbnz", "tbz", "tbnz"):
        return "cjump", _imm(op_str.rsplit(", ", 1)[-1])
    if mnemonic in ("blr", "blraa", "blraaz", "blrab", "blrabz"):
        return "icall", None
    if mnemonic in _STOPS:
        return "stop", None
    if mnemonic == ".byte":
        return "data", None
    return None, None


_LDR_SLOT = re.compile(r"(x\d+), \[(x\d+), #(0x[0-9a-f]+|\d+)\]\Z")
_ADRP = re.compile(r"(x\d+), #(0x[0-9a-f]+|\d+)\Z")


def _slot_load(ins: list[tuple[int, int, str, str]], i: int, reg: str) -> int | None:
    """The slot `reg` was loaded from by `adrp xM, page; ldr reg, [xM, #off]` just before i."""
    for j in range(i - 1, max(i - 5, -1), -1):
        _addr, _size, mnemonic, op_str = ins[j]
        load = _LDR_SLOT.match(op_str) if mnemonic == "ldr" else None
        if load is None or load.group(1) != reg:
            if op_str.split(", ", 1)[0] == reg:
                return None  # reg written some other way
            continue
        for k in range(j - 1, max(j - 4, -1), -1):
            page = _ADRP.match(ins[k][3]) if ins[k][2] == "adrp" else None
            if page is not None and page.group(1) == load.group(2):
                return int(page.group(2), 0) + int(load.group(3), 0)
        return None
    return None


def slot_calls(ins: list[tuple[int, int, str, str]], kinds: list[str | None]) -> dict[int, int]:
    """`blr/br xN` whose xN holds a GOT slot's content in one region: index -> slot.

    -fno-plt code loads the slot once (`adrp x19, page; ldr x19, [x19, #off]`) and calls
    through the callee-saved register many times, so registers are followed in address
    order until something else writes them (a region is one function: good enough for
    compiler output; a wrong guess only makes a call look like one more syscall() call).
    """
    pages: dict[str, int] = {}
    holds: dict[str, int] = {}
    out: dict[int, int] = {}
    for i, (_addr, _size, mnemonic, op_str) in enumerate(ins):
        if mnemonic in ("blr", "br"):
            reg = _reg(op_str)
            if reg is not None and reg[0] in holds:
                out[i] = holds[reg[0]]
            if mnemonic == "blr":  # the call clobbers the caller-saved registers
                for name in [r for r in holds if r in _C_CLOBBERED]:
                    del holds[name]
                for name in [r for r in pages if r in _C_CLOBBERED]:
                    del pages[name]
            continue
        first = op_str.split(", ", 1)[0]
        dst = _reg(first)
        if dst is None or mnemonic in _NO_WRITE or mnemonic in _STORES or mnemonic == "stp":
            continue
        holds.pop(dst[0], None)
        page = _ADRP.match(op_str) if mnemonic == "adrp" else None
        load = _LDR_SLOT.match(op_str) if mnemonic == "ldr" else None
        if page is not None:
            pages[dst[0]] = int(page.group(2), 0)
            continue
        if load is not None and load.group(2) in pages:
            holds[dst[0]] = pages[load.group(2)] + int(load.group(3), 0)
        pages.pop(dst[0], None)
    return out


def plt_stubs(ins: list[tuple[int, int, str, str]]) -> dict[int, int]:
    """PLT stub address -> GOT slot: `adrp x16, page; ldr x17, [x16, #off]; ...; br x17`."""
    stubs: dict[int, int] = {}
    for i, (_addr, _size, mnemonic, op_str) in enumerate(ins):
        if mnemonic != "br":
            continue
        slot = _slot_load(ins, i, op_str)
        if slot is None:
            continue
        start = next((j for j in range(i - 1, max(i - 5, -1), -1) if ins[j][2] == "adrp"), None)
        if start is None:
            continue
        stubs[ins[start][0]] = slot
        if start and ins[start - 1][2] in ("bti", "hint"):
            stubs[ins[start - 1][0]] = slot
    return stubs


def caller_loc(loc: Loc, kind: str) -> Loc:
    """bl does not move sp: a wrapper's entry location is the same at the call."""
    return loc


def edge_value(
    before: tuple[int, int, str, str] | None,
    branch: tuple[int, int, str, str],
    taken: bool,
    loc: Loc,
) -> int | None:
    """The value a branch proves: cbz x8 taken (or cbnz not taken) means x8 is 0."""
    ops = branch[3].split(", ")
    reg = _reg(ops[0]) if ops else None
    if reg is None or reg[0] != loc or reg[1] < 4:
        return None
    if (branch[2] == "cbz" and taken) or (branch[2] == "cbnz" and not taken):
        return 0
    return None


def _mem(ops: list[str], at: int) -> tuple[str, int, int] | None:
    """(base, address offset from the base before, writeback) of a memory operand at ops[at].

    Offset form [b, #d]: address b+d, no writeback. Pre-index [b, #d]!: address b+d, b += d.
    Post-index [b], #d: address b, b += d.
    """
    match = _MEM.match(ops[at]) if at < len(ops) else None
    if match is None:
        return None
    base = _reg(match.group(1))
    disp = int(match.group(2), 0) if match.group(2) else 0
    family = base[0] if base else match.group(1)
    if match.group(3):
        return family, disp, disp
    post = _imm(ops[at + 1]) if at + 1 < len(ops) else None
    if post is not None:
        return family, 0, post
    return family, disp, 0


def _value(op: str) -> Outcome:
    reg = _reg(op)
    if reg is None:
        return Unknown(f"operand {op}")
    if reg[0] == "zr":
        return Const(0)
    if reg[0] == "sp" or reg[1] < 4:
        return Unknown("address or narrow register")
    return Move(reg[0])


def step(mnemonic: str, op_str: str, loc: Loc, go: bool) -> Outcome:
    """Where the value at `loc` after this instruction was before it."""
    m = mnemonic
    ops = _SPLIT.split(op_str) if op_str else []
    if m in _LOADS or m in _STORES or m in ("ldp", "ldnp", "ldpsw", "stp", "stnp"):
        return _memory(m, ops, loc)
    if isinstance(loc, int):
        first = _reg(ops[0]) if ops else None
        if first is None or first[0] != "sp" or m in _NO_WRITE:
            return PASS
        imm = _shifted(ops, 2) if len(ops) >= 3 and _reg(ops[1]) == ("sp", 8) else None
        if m == "sub" and imm is not None:
            return Move(loc - imm)
        if m == "add" and imm is not None:
            return Move(loc + imm)
        return Unknown(f"{m} moves sp")
    if m in ("bl", "blr", "svc") or m.startswith("blr"):
        clobbered = loc not in _GO_KEPT if go else loc in _C_CLOBBERED
        if m == "svc":
            clobbered = loc == "x0"
        return Unknown(f"{loc} comes from a {m}") if clobbered else PASS
    dst = _reg(ops[0]) if ops else None
    if dst is None or dst[0] != loc or m in _NO_WRITE or m.startswith("b."):
        if m.startswith("st") and m.endswith(("xr", "xp")) and dst and dst[0] == loc:
            return Unknown("store-exclusive status")
        return PASS
    wide = dst[1] == 8
    mask = 0xFFFFFFFFFFFFFFFF if wide else 0xFFFFFFFF
    if m in ("mov", "movz") and len(ops) >= 2:
        imm = _shifted(ops, 1)
        return Const(imm & mask) if imm is not None else _value(ops[1])
    if m == "movn":
        imm = _shifted(ops, 1)
        return Const(~imm & mask) if imm is not None else Unknown("movn")
    if m == "movk":
        imm = _imm(ops[1]) if len(ops) >= 2 else None
        shift = re.fullmatch(r"lsl #(\d+)", ops[2]) if len(ops) == 3 else None
        if imm is None:
            return Unknown("movk")
        return Move(loc, ("movk", (int(shift.group(1)) if shift else 0) << 16 | imm))
    if m in ("orr", "add", "sub", "eor", "and") and len(ops) >= 3:
        imm = _shifted(ops, 2)
        src = _reg(ops[1])
        if imm is None or src is None or src[0] == "sp":
            return Unknown(f"{m} of registers")
        if src[0] == "zr":
            return Const(imm & mask) if m in ("orr", "add", "eor") else Unknown(m)
        return Move(src[0], ({"orr": "or", "eor": "xor"}.get(m, m), imm))
    if m == "csel" and len(ops) >= 3:
        first, second = _value(ops[1]), _value(ops[2])
        if first[0] == "move" and second[0] == "move":
            return ("fork", (first[1], second[1]))
        return Unknown("csel")
    return Unknown(f"{m} writes {loc}")


def _memory(m: str, ops: list[str], loc: Loc) -> Outcome:
    pair = m in ("ldp", "ldnp", "ldpsw", "stp", "stnp")
    regs = [_reg(op) for op in ops[: 2 if pair else 1]]
    mem = _mem(ops, 2 if pair else 1)
    if mem is None or any(r is None for r in regs):
        written = m.startswith("ld") and any(r is not None and r[0] == loc for r in regs)
        return Unknown("loaded from memory") if written else PASS
    base, at, writeback = mem
    load = m.startswith("ld")
    if isinstance(loc, str):
        if base == loc and writeback:
            return Unknown("base register written back")
        if not load:
            return PASS
        for index, reg in enumerate(regs):
            assert reg is not None
            if reg[0] != loc:
                continue
            size = reg[1] if m != "ldpsw" else 4
            if base != "sp" or size < 4 or _LOADS.get(m, 0) not in (0, 4):
                return Unknown("loaded from memory")
            return Move(at + index * size)
        return PASS
    before = loc + writeback if base == "sp" else loc
    if load or base != "sp":
        return Move(before)
    for index, reg in enumerate(regs):
        assert reg is not None
        size = _STORES.get(m, 0) or reg[1]
        slot = at + index * size
        if slot + size <= before or before + 4 <= slot:
            continue
        if slot == before and size >= 4:
            return _value(ops[index])
        return Unknown("partial store to the slot")
    return Move(before)


def call_targets(buf: bytes, base: int) -> list[int]:
    """Targets of every aligned word that reads as `bl` (false ones included)."""
    words = array("I")
    words.frombytes(buf[: len(buf) // 4 * 4])
    classes = buf[3 : len(buf) // 4 * 4 : 4].translate(_BL)
    parts = classes.split(b"a")
    index = list(map(operator.add, accumulate(map(len, parts[:-1])), count()))
    out = []
    for i in index:
        imm = words[i] & 0x3FFFFFF
        out.append(base + 4 * (i + (imm - (1 << 26) if imm & (1 << 25) else imm)))
    return out


def raw_sites(buf: bytes) -> list[int]:
    """Offsets of every aligned `svc #0` word."""
    out, at = [], buf.find(SITE_BYTES)
    while at >= 0:
        if at % 4 == 0:
            out.append(at)
        at = buf.find(SITE_BYTES, at + 1)
    return out


# top byte of an instruction word -> branch immediate form
_CLASS = bytes(
    ord("a")
    if top in (0x14, 0x15, 0x16, 0x17, 0x94, 0x95, 0x96, 0x97)
    else ord("c")
    if top in (0x54, 0x34, 0x35, 0xB4, 0xB5)
    else ord("t")
    if top in (0x36, 0x37, 0xB6, 0xB7)
    else ord(".")
    for top in range(256)
)
_BL = bytes(ord("a") if top in (0x94, 0x95, 0x96, 0x97) else ord(".") for top in range(256))
_FORMS = {b"a": (0, 0x3FFFFFF), b"c": (5, 0x7FFFF), b"t": (5, 0x3FFF)}


class BranchIndex:
    """Candidate direct branches (b, bl, b.cond, cbz/cbnz, tbz/tbnz) in one code range.

    Built once per scan from raw words at C speed; `sources(targets)` returns the addresses of
    words whose immediate may reach a target. Decoding their regions confirms them.
    """

    def __init__(self, buf: bytes, base: int) -> None:
        self.base = base
        self.near = SHORT_REACH
        words = array("I")
        words.frombytes(buf[: len(buf) // 4 * 4])
        if array("I", b"\x01\x00\x00\x00")[0] != 1:
            words.byteswap()
        classes = buf[3 : len(buf) // 4 * 4 : 4].translate(_CLASS)
        self.forms: list[tuple[int, list[int], list[int]]] = []
        for form, (shift, mask) in _FORMS.items():
            parts = classes.split(form)
            index = list(map(operator.add, accumulate(map(len, parts[:-1])), count()))
            imms = map(
                operator.and_,
                map(operator.rshift, map(words.__getitem__, index), repeat(shift)),
                repeat(mask),
            )
            keys = list(map(operator.and_, map(operator.add, imms, index), repeat(mask)))
            self.forms.append((mask, index, keys))

    def index_slots(self) -> None:
        """Calls through GOT slots are not found from bytes here (SLOTS_FROM_BYTES)."""

    def sources(self, targets: Iterable[int]) -> list[int]:
        out: list[int] = []
        offsets = [(t - self.base) // 4 for t in targets if (t - self.base) % 4 == 0]
        for mask, index, keys in self.forms:
            wanted = {o & mask for o in offsets}
            out.extend(self.base + 4 * i for i in compress(index, map(wanted.__contains__, keys)))
        return out
