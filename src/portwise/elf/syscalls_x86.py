"""x86-64 rules for the direct-syscall scan: what a site and a branch look like, and how one
instruction moves the value the scan follows backwards.

The number of a `syscall` is in eax. Walking back, a location is a register family ("rax" for
rax/eax/ax/al) or an int: a stack slot as an offset from rsp *before* the instruction. Text
from capstone's lite decoder (Intel syntax) is parsed here because detail mode costs ~10x more;
any instruction these rules do not understand and that writes the location gives "unknown",
never a guess.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from itertools import accumulate, compress, count, repeat
from typing import Literal

import capstone  # type: ignore[import-untyped]

from portwise.elf.walk import PASS, Const, Loc, Move, Outcome, Unknown

NAME = "x86-64"
NR: Loc = "rax"
ARG0: Loc = "rdi"  # syscall(long number, ...): the number is the first argument
SLOTS_FROM_BYTES = True  # ff 15 / ff 25 rel32: calls through GOT slots are found from bytes
SITE_BYTES = b"\x0f\x05"
FIRST_STACK_ARG = 8  # above the return address
SHORT_REACH = 130  # rel8 branches reach this far: their sources are decoded around a target

_FAMILIES = {
    "rax": ("rax", "eax", "ax", "al", "ah"),
    "rbx": ("rbx", "ebx", "bx", "bl", "bh"),
    "rcx": ("rcx", "ecx", "cx", "cl", "ch"),
    "rdx": ("rdx", "edx", "dx", "dl", "dh"),
    "rsi": ("rsi", "esi", "si", "sil"),
    "rdi": ("rdi", "edi", "di", "dil"),
    "rbp": ("rbp", "ebp", "bp", "bpl"),
    "rsp": ("rsp", "esp", "sp", "spl"),
    **{f"r{n}": (f"r{n}", f"r{n}d", f"r{n}w", f"r{n}b") for n in range(8, 16)},
}
_REG: dict[str, tuple[str, int]] = {}
for _family, _names in _FAMILIES.items():
    for _name, _size in zip(_names, (8, 4, 2, 1, 1), strict=False):
        _REG[_name] = (_family, _size)
_C_CLOBBERED = frozenset({"rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"})
_GO_KEPT = frozenset({"rsp", "rbp", "r14"})  # Go's ABIInternal: every other register is scratch
_SIZES = {"byte": 1, "word": 2, "dword": 4, "qword": 8}
_MEM = re.compile(r"(?:(\w+) ptr )?(?:\w+:)?\[([^\]]*)\]\Z")
_STACK = re.compile(r"rsp(?: ([+-]) (0x[0-9a-f]+|\d+))?\Z")
_BASE_DISP = re.compile(r"(\w+)(?: ([+-]) (0x[0-9a-f]+|\d+))?\Z")
_IMPLICIT = {
    "syscall": ("rax", "rcx", "r11"),
    "cpuid": ("rax", "rbx", "rcx", "rdx"),
    "rdtsc": ("rax", "rdx"),
    "rdtscp": ("rax", "rdx", "rcx"),
    "xgetbv": ("rax", "rdx"),
    "cqo": ("rdx",),
    "cdq": ("rdx",),
    "cwd": ("rdx",),
    "cdqe": ("rax",),
    "cwde": ("rax",),
    "cbw": ("rax",),
    "cmpxchg": ("rax",),
    "cmpxchg8b": ("rax", "rdx"),
    "cmpxchg16b": ("rax", "rdx"),
    "leave": ("rbp", "rsp"),
}
for _m in ("mul", "div", "idiv"):
    _IMPLICIT[_m] = ("rax", "rdx")
for _m in ("movs", "stos", "lods", "scas", "cmps"):
    for _s in ("b", "w", "d", "q"):
        _IMPLICIT[_m + _s] = ("rax", "rcx", "rsi", "rdi")
_NO_WRITE = frozenset(
    {"cmp", "test", "bt", "nop", "push", "ucomiss", "ucomisd", "comiss", "comisd", "endbr64"}
    | {"prefetcht0", "prefetcht1", "prefetcht2", "prefetchnta", "pause", "lfence", "mfence"}
)
_JCC32 = re.compile(rb"\x0f[\x80-\x8f]")
_RIP_BRANCH = re.compile(rb"\xff[\x15\x25]")
_STOPS = frozenset({"ret", "retf", "hlt", "ud2", "int3", "ud1"})


def disassembler() -> capstone.Cs:
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.skipdata = True
    return md


def _imm(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


def classify(mnemonic: str, op_str: str) -> tuple[str | None, int | None]:
    """("site"|"call"|"jump"|"cjump"|"stop"|"data"|"icall"|None, direct target or None)."""
    m = mnemonic.rsplit(" ", 1)[-1]
    if m == "syscall":
        return "site", None
    if m == "call":
        target = _imm(op_str)
        return ("call", target) if target is not None else ("icall", None)
    if m == "jmp":
        target = _imm(op_str)
        return ("jump", target) if target is not None else ("stop", None)
    if m[0] == "j" or m.startswith("loop"):
        return "cjump", _imm(op_str)
    if m in _STOPS:
        return "stop", None
    if m == ".byte":
        return "data", None
    return None, None


_RIP = re.compile(r"qword ptr (?:\w+:)?\[rip ([+-]) (0x[0-9a-f]+|\d+)\]\Z")


def slot_target(ins: list[tuple[int, int, str, str]], i: int) -> int | None:
    """The GOT slot an indirect `call/jmp qword ptr [rip + d]` goes through, if it is one."""
    addr, size, _mnemonic, op_str = ins[i]
    match = _RIP.match(op_str)
    if match is None:
        return None
    disp = int(match.group(2), 0)
    return addr + size + (-disp if match.group(1) == "-" else disp)


def slot_calls(ins: list[tuple[int, int, str, str]], kinds: list[str | None]) -> dict[int, int]:
    """Indirect calls and jumps through a GOT slot in one region: index -> slot."""
    out: dict[int, int] = {}
    for i, kind in enumerate(kinds):
        if kind in ("icall", "stop"):
            slot = slot_target(ins, i)
            if slot is not None:
                out[i] = slot
    return out


def plt_stubs(ins: list[tuple[int, int, str, str]]) -> dict[int, int]:
    """PLT stub address -> the GOT slot it jumps through (.plt, .plt.sec, .plt.got).

    A stub is `jmp [rip + d]`, preceded by `endbr64` when built for CET: calls target that.
    """
    stubs: dict[int, int] = {}
    for i, (addr, _size, mnemonic, _op) in enumerate(ins):
        if mnemonic.rsplit(" ", 1)[-1] != "jmp":
            continue
        slot = slot_target(ins, i)
        if slot is None:
            continue
        stubs[addr] = slot
        if i and ins[i - 1][2] == "endbr64" and ins[i - 1][0] + ins[i - 1][1] == addr:
            stubs[ins[i - 1][0]] = slot
    return stubs


def caller_loc(loc: Loc, kind: str) -> Loc:
    """A wrapper's entry location as seen before the call (call pushes a return address)."""
    if isinstance(loc, int) and kind == "call":
        return loc - 8
    return loc


def edge_value(
    before: tuple[int, int, str, str] | None,
    branch: tuple[int, int, str, str],
    taken: bool,
    loc: Loc,
) -> int | None:
    """The value a conditional branch proves: after `test r, r; je` (taken) r is 0.

    Compilers reuse that zero as a syscall number (musl's __stdio_read: read is 0).
    """
    equal = (branch[2] in ("je", "jz")) == taken
    if not equal or before is None or branch[2] not in ("je", "jz", "jne", "jnz"):
        return None
    ops = before[3].split(", ")
    if len(ops) != 2 or _REG.get(ops[0], ("", 0))[0] != loc or _REG[ops[0]][1] < 4:
        return None
    if before[2] == "test" and ops[0] == ops[1]:
        return 0
    if before[2] == "cmp" and _imm(ops[1]) is not None:
        return _imm(ops[1])
    return None


def _stack_mem(op: str) -> tuple[int, int] | bool | None:
    """(offset, size) for [rsp + d]; None if not memory; False for any other memory."""
    match = _MEM.match(op)
    if match is None:
        return None
    stack = _STACK.match(match.group(2))
    if stack is None:
        return False
    disp = int(stack.group(2), 0) if stack.group(2) else 0
    return (-disp if stack.group(1) == "-" else disp), _SIZES.get(match.group(1) or "", 8)


def _source(op: str, wide: bool = True) -> Outcome:
    """The value of a mov's source operand, as an outcome."""
    reg = _REG.get(op)
    if reg is not None:
        return Move(reg[0]) if reg[1] >= 4 and reg[0] != "rsp" else Unknown("narrow source")
    mem = _stack_mem(op)
    if mem:
        assert isinstance(mem, tuple)
        return Move(mem[0]) if mem[1] >= 4 else Unknown("narrow load")
    if mem is False:
        return Unknown("loaded from memory")
    value = _imm(op)
    if value is None:
        return Unknown(f"operand {op}")
    return Const(value & (0xFFFFFFFFFFFFFFFF if wide else 0xFFFFFFFF))


def step(mnemonic: str, op_str: str, loc: Loc, go: bool) -> Outcome:
    """Where the value at `loc` after this instruction was before it."""
    m = mnemonic.rsplit(" ", 1)[-1]
    ops = op_str.split(", ") if op_str else []
    if isinstance(loc, int):
        return _step_stack(m, ops, loc)
    if loc in _IMPLICIT.get(m, ()):
        return Unknown(f"{m} writes {loc}")
    if m == "call":
        clobbered = loc not in _GO_KEPT if go else loc in _C_CLOBBERED
        return Unknown(f"{loc} comes from a call") if clobbered else PASS
    if m == "syscall":
        return PASS
    if m == "pop":
        return Move(0) if ops and _REG.get(ops[0], ("",))[0] == loc else PASS
    if m == "xchg" and len(ops) == 2:
        for mine, other in ((ops[0], ops[1]), (ops[1], ops[0])):
            if _REG.get(mine, ("",))[0] == loc:
                return _source(other)
        return PASS
    if not ops:
        return PASS
    dst = _REG.get(ops[0])
    if dst is None or dst[0] != loc:
        if m == "xadd" and len(ops) == 2 and _REG.get(ops[1], ("",))[0] == loc:
            return Unknown("xadd")
        return PASS
    if m in _NO_WRITE or m[0] == "j":
        return PASS
    size = dst[1]
    if size < 4:
        low = _imm(ops[1]) if m == "mov" and len(ops) == 2 and ops[0][-1] != "h" else None
        if size == 1 and low is not None:
            return Move(loc, ("low8", low))  # xor eax, eax; mov al, 0x38 (musl's clone)
        return Unknown(f"partial write {ops[0]}")
    if len(ops) != 2:
        return Unknown(f"{m} writes {loc}")
    src = ops[1]
    if m in ("mov", "movabs"):
        return _source(src, wide=size == 8)
    if m in ("movsxd", "movzx", "movsx"):
        return _source(src) if _imm(src) is None else Unknown(m)
    if m in ("xor", "sub") and _REG.get(src, ("",))[0] == loc:
        return Const(0)
    if m in ("add", "sub", "or", "and", "xor", "shl") and _imm(src) is not None:
        return Move(loc, (m, _imm(src) or 0))
    if m == "lea":
        match = _MEM.match(src)
        inner = _BASE_DISP.match(match.group(2)) if match else None
        if inner and inner.group(1) in _REG and inner.group(1) not in ("rsp", "rip"):
            disp = int(inner.group(3), 0) if inner.group(3) else 0
            base = _REG[inner.group(1)][0]
            return Move(base, ("add", -disp if inner.group(2) == "-" else disp))
        return Unknown("lea of an address")
    if m.startswith("cmov"):
        alternative = _source(src)
        return ("fork", (loc, alternative[1])) if alternative[0] == "move" else alternative
    return Unknown(f"{m} writes {loc}")


def _step_stack(m: str, ops: list[str], off: int) -> Outcome:
    if m == "push":
        if -8 < off < 8:
            if off != 0:
                return Unknown("partial push")
            src = ops[0] if ops else ""
            mem = _stack_mem(src)
            if mem:
                assert isinstance(mem, tuple)
                return Move(mem[0])
            return _source(src)
        return Move(off - 8)
    if m == "pop":
        return Move(off + 8)
    if m in ("call", "syscall") or m in _NO_WRITE or m[0] == "j":
        return PASS
    if m == "leave":
        return Unknown("frame torn down")
    if not ops:
        return PASS
    first = ops[0]
    if _REG.get(first, ("",))[0] == "rsp":
        imm = _imm(ops[1]) if len(ops) == 2 else None
        if m == "sub" and imm is not None:
            return Move(off - imm)
        if m == "add" and imm is not None:
            return Move(off + imm)
        if m == "lea":
            mem = _stack_mem(ops[1])
            if mem:
                assert isinstance(mem, tuple)
                return Move(off + mem[0])
        return Unknown(f"{m} moves rsp")
    mem = _stack_mem(first)
    if not mem:
        return PASS
    assert isinstance(mem, tuple)
    at, size = mem
    if at + size <= off or off + 4 <= at:
        return PASS
    if m == "mov" and at == off and size >= 4 and len(ops) == 2:
        return _source(ops[1], wide=size == 8)
    return Unknown(f"{m} writes the stack slot")


def _positions(buf: bytes, byte: bytes) -> list[int]:
    """Every offset of one byte value in buf, computed at C speed (split + accumulate)."""
    parts = buf.split(byte)
    return list(map(operator.add, accumulate(map(len, parts[:-1])), count()))


def _rel32_keys(buf: bytes, base: int, starts: list[int], after: int) -> list[int]:
    """(base + p + after + rel32) mod 2**32 for a rel32 ending at p + after, one per start p.

    Only C-level iteration (map, operator): a Python loop over ~100k branches costs ~0.15 s.
    """
    at = list(map(operator.add, starts, repeat(after - 4)))
    fields = map(buf.__getitem__, map(slice, at, map(operator.add, at, repeat(4))))
    little: Literal["little"] = "little"
    rels = map(int.from_bytes, fields, repeat(little))
    nexts = map(operator.add, starts, repeat(base + after))
    return list(map(operator.and_, map(operator.add, rels, nexts), repeat(0xFFFFFFFF)))


class BranchIndex:
    """Candidate direct branches (call/jmp/jcc rel32) in one code range, found from raw bytes.

    Built once per scan; `sources(targets)` returns the addresses of every byte that may start
    a rel32 branch to one of the targets. Decoding the regions around those addresses confirms
    them; rel8 branches are covered by decoding SHORT_REACH bytes around each target.
    """

    def __init__(self, buf: bytes, base: int) -> None:
        self.base = base
        self.near = SHORT_REACH
        calls = _positions(buf, b"\xe8") + _positions(buf, b"\xe9")
        jcc = [m.start() for m in _JCC32.finditer(buf)]
        self.starts = calls + jcc
        self.keys = _rel32_keys(buf, base, calls, 5) + _rel32_keys(buf, base, jcc, 6)
        self.buf = buf
        self.slots_indexed = False

    def index_slots(self) -> None:
        """Add `call/jmp qword ptr [rip + d]` (ff 15 / ff 25): calls through a GOT slot."""
        if self.slots_indexed:
            return
        self.slots_indexed = True
        through = [m.start() for m in _RIP_BRANCH.finditer(self.buf)]
        self.starts = self.starts + through
        self.keys = self.keys + _rel32_keys(self.buf, self.base, through, 6)

    def sources(self, targets: Iterable[int]) -> list[int]:
        wanted = {t & 0xFFFFFFFF for t in targets}
        return [self.base + p for p in compress(self.starts, map(wanted.__contains__, self.keys))]


def call_targets(buf: bytes, base: int) -> list[int]:
    """Targets of every byte pattern that reads as `call rel32` (false ones included)."""
    calls = _positions(buf, b"\xe8")
    keys = _rel32_keys(buf, base, calls, 5)
    # keys are mod 2**32: undo the wrap for targets near base
    return [k - (1 << 32) if k - base > 1 << 31 else k for k in keys]


def raw_sites(buf: bytes) -> list[int]:
    """Offsets of every `0f 05` byte pair: a superset of the syscall instructions."""
    out, at = [], buf.find(SITE_BYTES)
    while at >= 0:
        out.append(at)
        at = buf.find(SITE_BYTES, at + 1)
    return out
