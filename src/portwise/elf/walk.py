"""The vocabulary the syscall walker shares with its per-architecture rules.

A walk follows one value backwards through code; each architecture module says, for one
instruction, where that value was before it (an Outcome). Kept apart from the walker so the
walker imports the architecture modules and they import only this.
"""

from __future__ import annotations

from typing import Any

Loc = str | int  # a register family, or a stack slot as an offset from the stack pointer
Op = tuple[str, int]
# ("pass",) | ("move", loc, op | None) | ("const", value) | ("fork", (loc, loc)) | ("unknown", why)
Outcome = tuple[Any, ...]
PASS: Outcome = ("pass",)


def Move(loc: Loc, op: Op | None = None) -> Outcome:
    return ("move", loc, op)


def Const(value: int) -> Outcome:
    return ("const", value)


def Unknown(why: str) -> Outcome:
    return ("unknown", why)


def apply(ops: tuple[Op, ...], value: int) -> int:
    """Replay the arithmetic met while walking back, in program order."""
    for name, imm in ops:
        if name == "movk":
            shift, half = imm >> 16, imm & 0xFFFF
            value = (value & ~(0xFFFF << shift)) | (half << shift)
        elif name == "add":
            value += imm
        elif name == "sub":
            value -= imm
        elif name == "or":
            value |= imm
        elif name == "xor":
            value ^= imm
        elif name == "and":
            value &= imm
        elif name == "shl" and 0 <= imm < 64:
            value <<= imm
        elif name == "low8":
            value = (value & ~0xFF) | (imm & 0xFF)
        value &= 0xFFFFFFFFFFFFFFFF
    return value
