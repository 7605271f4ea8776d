"""Where the code of an ELF file lies, cut into functions and the gaps between them.

The syscall walk decodes one region at a time: a function (boundaries from .gopclntab, .symtab
or .eh_frame, see gofunc) or a gap between functions. Regions are kept as parallel lists in
address order, so finding the one that holds an address is one bisection.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from portwise.elf.gofunc import Functions, in_file
from portwise.elf.parse import ElfFile

SHF_EXECINSTR, SHT_NOBITS, PF_X, PT_LOAD = 0x4, 8, 0x1, 1


@dataclass(frozen=True, slots=True)
class CodeRange:
    addr: int
    offset: int
    size: int


def code_ranges(elf: ElfFile, data: bytes) -> tuple[list[CodeRange], list[str]]:
    problems: list[str] = []
    found = [
        CodeRange(s.addr, s.offset, s.size)
        for s in elf.sections
        if s.flags & SHF_EXECINSTR and s.type != SHT_NOBITS and s.size
    ]
    if not found:
        found = [
            CodeRange(s.vaddr, s.offset, s.filesz)
            for s in elf.segments
            if s.type == PT_LOAD and s.flags & PF_X and s.filesz
        ]
    ranges: list[CodeRange] = []
    for r in sorted(found, key=lambda r: r.addr):
        if not in_file(data, r.offset, r.size):
            problems.append(f"code at {r.addr:#x} lies outside the file")
        elif ranges and r.addr < ranges[-1].addr + ranges[-1].size:
            problems.append(f"code at {r.addr:#x} overlaps other code")
        else:
            ranges.append(r)
    return ranges, problems


class Regions:
    """Functions and the gaps between them, in address order, inside the code ranges."""

    def __init__(self, ranges: list[CodeRange], funcs: Functions) -> None:
        self.inferred = funcs.inferred
        self.ranges = ranges
        # plain local appends: this runs over every function of every scanned file
        starts: list[int] = []
        ends: list[int] = []
        is_func: list[bool] = []
        range_of: list[int] = []
        sizes = funcs.starts
        ordered = sorted(sizes)
        for number, r in enumerate(ranges):
            top = r.addr + r.size
            inside = ordered[bisect_left(ordered, r.addr) : bisect_left(ordered, top)]
            cursor = r.addr
            nexts = [*inside[1:], top] if inside else []
            for start, nxt in zip(inside, nexts, strict=True):
                if start > cursor:
                    starts.append(cursor)
                    ends.append(start)
                    is_func.append(False)
                    range_of.append(number)
                size = sizes[start]
                end = min(start + size, nxt) if size else nxt
                starts.append(start)
                ends.append(end)
                is_func.append(True)
                range_of.append(number)
                cursor = end
            if cursor < top:
                starts.append(cursor)
                ends.append(top)
                is_func.append(False)
                range_of.append(number)
        self.starts, self.ends, self.is_func, self.range_of = starts, ends, is_func, range_of
        inferred = self.inferred
        self.trusted = [f and s not in inferred for s, f in zip(starts, is_func, strict=True)]

    def find(self, addr: int) -> int | None:
        i = bisect_right(self.starts, addr) - 1
        return i if i >= 0 and addr < self.ends[i] else None

    def overlapping(self, lo: int, hi: int) -> Iterator[int]:
        i = max(bisect_right(self.starts, lo) - 1, 0)
        while i < len(self.starts) and self.starts[i] < hi:
            if self.ends[i] > lo:
                yield i
            i += 1
