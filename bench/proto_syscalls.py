"""A simple capstone prototype of the direct-syscall scan: the speed baseline of issue 11.

    .venv/bin/python bench/proto_syscalls.py BINARY ...

Linear sweep of every executable section with capstone's skipdata; at each `syscall` (x86-64)
or `svc #0` (aarch64) walk back at most WINDOW instructions inside the same basic block (a
branch, call or return ends it) for the constant moved into eax/rax or w8/x8, following plain
register copies. A number that comes from a register unchanged since the block started makes
the block's first instruction a thunk taking the number in that register; thunks are resolved
at their direct callers (call/jmp, bl/b) by the same walk-back, up to DEPTH levels. What it
does not do, and portwise does: function boundaries (pclntab, symbols, .eh_frame), stack
spills, libc's syscall() through the PLT or GOT, data-flow across blocks, counting every
unresolved point. So it resolves fewer calls and its unresolved count is a lower bound.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import capstone

from portwise.elf.parse import parse_elf
from portwise.knowledge import syscalls as table

WINDOW = 8
DEPTH = 4
SHF_EXECINSTR, SHT_NOBITS = 0x4, 8
X86_NUMBER = {"rax", "eax", "ax", "al"}
ARM_NUMBER = {"x8", "w8"}
X86_END = re.compile(r"^(j|call|ret|hlt|ud2|int3|syscall)")
ARM_END = re.compile(r"^(b|bl|br|blr|ret|cbz|cbnz|tbz|tbnz|svc|b\..*)$")
X86_READONLY = {"cmp", "test", "push", "bt", "nop"}
ARM_READONLY = {"cmp", "cmn", "tst", "str", "stp", "strb", "strh", "stur", "nop"}
IMM = re.compile(r"^#?(-?0x[0-9a-f]+|-?\d+)$")


@dataclass
class ProtoScan:
    sites: int = 0
    resolved: Counter[str] = field(default_factory=Counter)
    unresolved: int = 0
    thunks: int = 0


def _canon(reg: str, arm: bool) -> str:
    """One name per register: eax/ax/al -> rax, w8 -> x8, edi -> rdi, r8d -> r8."""
    if arm:
        return "x" + reg[1:] if reg[:1] in "wx" and reg[1:].isdigit() else reg
    if re.fullmatch(r"r\d+[dwb]?", reg):
        return reg.rstrip("dwb")
    base = {
        "eax": "rax",
        "ax": "rax",
        "al": "rax",
        "edi": "rdi",
        "di": "rdi",
        "esi": "rsi",
        "si": "rsi",
        "edx": "rdx",
        "dx": "rdx",
        "ecx": "rcx",
        "cx": "rcx",
        "ebx": "rbx",
        "bx": "rbx",
    }
    return base.get(reg, reg)


def _walk(
    insns: list[tuple[int, int, str, str]], at: int, reg: str, arm: bool
) -> tuple[str, object]:
    """From the instruction before index `at` back: ("const", n), ("entry", reg, start index)
    when the register is unchanged since the block started, or ("unknown", None)."""
    end, readonly = (ARM_END, ARM_READONLY) if arm else (X86_END, X86_READONLY)
    i = at - 1
    while i >= 0 and at - i <= WINDOW:
        _, _, mnemonic, ops = insns[i]
        if end.match(mnemonic) or mnemonic in ("int3", "udf"):
            return "entry", (reg, i + 1)
        parts = [p.strip() for p in ops.split(",")]
        if mnemonic not in readonly and parts and _canon(parts[0], arm) == reg:
            src = parts[1] if len(parts) == 2 else ""
            if mnemonic in ("mov", "movz") and IMM.match(src):
                return "const", int(src.lstrip("#"), 0)
            if mnemonic == "xor" and _canon(src, arm) == reg:
                return "const", 0
            if mnemonic == "mov" and re.fullmatch(r"[a-z]+\d*[a-z]?", src):
                reg = _canon(src, arm)
            else:
                return "unknown", None
        i -= 1
    return ("entry", (reg, 0)) if i < 0 else ("unknown", None)


def scan(path: Path) -> ProtoScan:
    data = path.read_bytes()
    elf = parse_elf(data)
    arm = elf.machine == "aarch64"
    arch = "aarch64" if arm else "x86-64"
    md = (
        capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
        if arm
        else capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    )
    md.skipdata = True
    names = table.table(arch)
    number_reg = "x8" if arm else "rax"
    insns: list[tuple[int, int, str, str]] = []
    for s in elf.sections:
        if s.flags & SHF_EXECINSTR and s.type != SHT_NOBITS and s.size:
            insns.extend(md.disasm_lite(data[s.offset : s.offset + s.size], s.addr))
    out = ProtoScan()
    thunks: dict[int, str] = {}  # entry address -> register holding the number
    for k, (_, _, mnemonic, ops) in enumerate(insns):
        if mnemonic == "syscall" or (arm and mnemonic == "svc" and ops in ("#0", "#0x0")):
            out.sites += 1
            _record(out, _walk(insns, k, number_reg, arm), names, insns, thunks)
    branch = re.compile(r"^(bl|b|call|jmp)$")
    for _ in range(DEPTH):  # callers of thunks, callers' callers...
        targets, thunks = thunks, {}
        if not targets:
            break
        out.thunks += len(targets)
        for k, (_, _, mnemonic, ops) in enumerate(insns):
            if branch.match(mnemonic) and IMM.match(ops.strip()):
                reg = targets.get(int(ops.strip().lstrip("#"), 0))
                if reg is not None:
                    _record(out, _walk(insns, k, reg, arm), names, insns, thunks)
    out.unresolved += len(thunks)  # left after DEPTH levels
    return out


def _record(
    out: ProtoScan,
    found: tuple[str, object],
    names: dict[int, str],
    insns: list[tuple[int, int, str, str]],
    thunks: dict[int, str],
) -> None:
    kind, value = found
    if kind == "const" and isinstance(value, int) and value in names:
        out.resolved[names[value]] += 1
    elif kind == "entry" and isinstance(value, tuple):
        reg, start = value
        thunks[insns[start][0]] = reg
    else:
        out.unresolved += 1


def main() -> int:
    for arg in sys.argv[1:]:
        result = scan(Path(arg))
        print(
            f"{arg}: {result.sites} sites, {len(result.resolved)} names, "
            f"{sum(result.resolved.values())} points, {result.unresolved} unresolved, "
            f"{result.thunks} thunks"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
