"""What the ISA scan needs from an ELF file beyond parse.py: code bytes, function starts, and the
signs that code picks instructions at run time (IFUNC, libgcc/glibc CPU-feature symbols,
getauxval(AT_HWCAP)).

Kept beside the decoder because only it needs these: function starts are exact places to begin
decoding (x86 has no alignment, so decoding must start on a real boundary), and the dispatch
signs decide whether a found extension is a requirement or an option.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from portwise.elf.parse import ElfFile, Section

SHF_EXECINSTR, PF_X = 0x4, 0x1
SHT_SYMTAB, SHT_RELA, SHT_NOBITS, SHT_DYNSYM = 2, 4, 8, 11
PT_LOAD, PT_GNU_EH_FRAME = 1, 0x6474E550
STT_FUNC, STT_GNU_IFUNC = 2, 10
R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT, R_X86_64_IRELATIVE = 6, 7, 37
AT_HWCAP_LOADS = (b"\xbf\x10\x00\x00\x00", b"\xbf\x1a\x00\x00\x00")  # mov edi, 16 / 26
MAX_ENTRIES = 1 << 22
# Symbols whose presence means the code reads the CPU's features to choose a path.
LIBGCC = "libgcc CPU detection (__builtin_cpu_supports, target_clones)"
DISPATCH_SYMBOLS = {
    "__cpu_indicator_init": LIBGCC,
    "__cpu_model": LIBGCC,
    "__cpu_features2": LIBGCC,
    "__x86_get_cpuid_feature_leaf": "glibc cpu_features (<sys/platform/x86.h>)",
    "__x86_get_cpu_features": "glibc cpu_features",
    "_dl_x86_get_cpu_features": "glibc cpu_features",
    "__get_cpu_features": "glibc cpu_features",
    "__intel_cpu_feature_indicator": "Intel compiler CPU dispatch",
    "__intel_cpu_features_init": "Intel compiler CPU dispatch",
}


@dataclass(frozen=True, slots=True)
class Region:
    """Executable bytes at a virtual address."""

    name: str
    addr: int
    code: bytes


@dataclass(frozen=True, slots=True)
class Symbols:
    functions: list[int]  # addresses of defined functions
    defined: set[str]  # names of interest defined here
    ifunc: bool
    getauxval: int | None  # address of a local getauxval (static binaries)


def code_regions(elf: ElfFile, data: bytes) -> tuple[list[Region], list[str]]:
    """Executable sections, else executable PT_LOAD segments; clipped to the file, with problems."""
    problems: list[str] = []
    spans = [
        (s.name, s.addr, s.offset, s.size)
        for s in elf.sections
        if s.flags & SHF_EXECINSTR and s.type != SHT_NOBITS and s.size
    ]
    if not elf.sections:
        spans = [
            (f"segment@{p.vaddr:#x}", p.vaddr, p.offset, p.filesz)
            for p in elf.segments
            if p.type == PT_LOAD and p.flags & PF_X and p.filesz
        ]
    regions = []
    for name, addr, offset, size in spans:
        if offset >= len(data) or offset < 0:
            problems.append(f"{name}: starts past the end of the file")
            continue
        if offset + size > len(data):
            problems.append(f"{name}: runs past the end of the file; scanned what is there")
        regions.append(Region(name, addr, data[offset : offset + size]))
    return regions, problems


def _section_bytes(data: bytes, section: Section | None) -> bytes:
    if section is None or section.type == SHT_NOBITS or section.offset >= len(data):
        return b""
    return data[section.offset : section.offset + section.size]


def _name_offsets(strtab: bytes, names: list[str]) -> dict[int, str]:
    """st_name values that spell one of names, found without decoding every symbol name."""
    found: dict[int, str] = {}
    for name in names:
        for match in re.finditer(re.escape(name.encode()) + b"\0", strtab):
            at = match.start()
            if at == 0 or strtab[at - 1] == 0:
                found[at] = name
    return found


def read_symbols(elf: ElfFile, data: bytes) -> Symbols:
    """Defined functions and dispatch-related names from .symtab and .dynsym."""
    functions: list[int] = []
    defined: set[str] = set()
    ifunc = False
    getauxval = None
    wanted = [*DISPATCH_SYMBOLS, "getauxval"]
    fmt = "<IBBHQQ" if elf.elf_class == 64 else "<IIIBBH"
    size = struct.calcsize(fmt)
    for section in elf.sections:
        if section.type not in (SHT_SYMTAB, SHT_DYNSYM):
            continue
        strtab_name = ".strtab" if section.type == SHT_SYMTAB else ".dynstr"
        strtab = _section_bytes(data, elf.section(strtab_name))
        names = _name_offsets(strtab, wanted)
        table = _section_bytes(data, section)
        table = table[: min(len(table) // size, MAX_ENTRIES) * size]
        for entry in struct.iter_unpack(fmt, table):
            if elf.elf_class == 64:
                name, info, _, shndx, value, _ = entry
            else:
                name, value, _, info, _, shndx = entry
            if shndx == 0:
                continue
            kind = info & 0xF
            if kind in (STT_FUNC, STT_GNU_IFUNC) and value:
                functions.append(value)
                ifunc |= kind == STT_GNU_IFUNC
            if name in names:
                defined.add(names[name])
                if names[name] == "getauxval" and kind == STT_FUNC:
                    getauxval = value
    return Symbols(functions, defined, ifunc, getauxval)


def _eh_frame_starts(elf: ElfFile, data: bytes) -> list[int]:
    """Function starts from .eh_frame_hdr's binary-search table: present even when stripped."""
    section = elf.section(".eh_frame_hdr")
    if section is not None:
        raw, addr = _section_bytes(data, section), section.addr
    else:
        seg = next((p for p in elf.segments if p.type == PT_GNU_EH_FRAME), None)
        if seg is None:
            return []
        raw, addr = data[seg.offset : seg.offset + seg.filesz], seg.vaddr
    # version 1; eh_frame_ptr and fde_count as 4-byte values; table of (sdata4, sdata4) datarel
    if len(raw) < 12 or raw[0] != 1 or raw[1] & 0x0F not in (3, 0xB) or raw[3] != 0x3B:
        return []
    if raw[2] & 0x0F != 3:
        return []
    (count,) = struct.unpack_from("<I", raw, 8)
    table = raw[12 : 12 + min(count, MAX_ENTRIES, (len(raw) - 12) // 8) * 8]
    return [addr + loc for loc, _ in struct.iter_unpack("<ii", table)]


def function_starts(elf: ElfFile, data: bytes, symbols: Symbols) -> list[int]:
    """Sorted addresses where a function begins: exact places to start decoding."""
    starts = set(symbols.functions)
    starts.update(_eh_frame_starts(elf, data))
    return sorted(starts)


def loaded_span(elf: ElfFile) -> tuple[int, int]:
    """Lowest and highest address of loaded memory (empty span for relocatable objects)."""
    loads = [p for p in elf.segments if p.type == PT_LOAD and p.memsz]
    if not loads:
        return 0, 0
    return min(p.vaddr for p in loads), max(p.vaddr + p.memsz for p in loads)


def dispatch_reasons(
    elf: ElfFile, data: bytes, regions: list[Region], symbols: Symbols
) -> list[str]:
    """Why the code may choose instructions at run time, from symbols and relocations."""
    reasons = []
    if elf.ifunc_defined or symbols.ifunc:
        reasons.append("dispatch: defines IFUNC symbols")
    irelative, slots = _relocations(elf, data)
    if irelative:
        reasons.append(f"dispatch: {irelative} IRELATIVE relocations (IFUNC)")
    imported = {i.name for i in elf.imports}
    by_why: dict[str, list[str]] = {}
    for name, why in DISPATCH_SYMBOLS.items():
        if name in imported or name in symbols.defined:
            by_why.setdefault(why, []).append(name)
    reasons.extend(f"dispatch: {why}: {', '.join(names)}" for why, names in by_why.items())
    if "getauxval" in imported or symbols.getauxval is not None:
        targets = _plt_targets(elf, data, slots)
        if symbols.getauxval is not None:
            targets.add(symbols.getauxval)
        site = _hwcap_call(regions, targets, slots)
        if site is not None:
            reasons.append(f"dispatch: getauxval(AT_HWCAP) at {site:#x}")
    return reasons


def _relocations(elf: ElfFile, data: bytes) -> tuple[int, set[int]]:
    """(number of IRELATIVE relocations, GOT slots that hold getauxval)."""
    irelative = 0
    slots: set[int] = set()
    dynsym = elf.section(".dynsym")
    symtab = _section_bytes(data, dynsym)
    names = _name_offsets(_section_bytes(data, elf.section(".dynstr")), ["getauxval"])
    is64 = elf.elf_class == 64
    fmt, symfmt = ("<QQq", "<I") if is64 else ("<IIi", "<I")
    entsize, symsize = (24, 24) if is64 else (12, 16)
    for section in elf.sections:
        if section.type != SHT_RELA:
            continue
        table = _section_bytes(data, section)
        table = table[: min(len(table) // entsize, MAX_ENTRIES) * entsize]
        for offset, info, _ in struct.iter_unpack(fmt, table):
            kind, index = (info & 0xFFFFFFFF, info >> 32) if is64 else (info & 0xFF, info >> 8)
            if kind == R_X86_64_IRELATIVE:
                irelative += 1
            elif kind in (R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT) and names:
                at = index * symsize
                if at + 4 <= len(symtab) and struct.unpack_from(symfmt, symtab, at)[0] in names:
                    slots.add(offset)
    return irelative, slots


def _plt_targets(elf: ElfFile, data: bytes, slots: set[int]) -> set[int]:
    """Addresses of PLT entries that jump through one of the GOT slots."""
    targets: set[int] = set()
    for section in elf.sections:
        if not section.name.startswith(".plt"):
            continue
        code = _section_bytes(data, section)
        for match in re.finditer(rb"\xff\x25", code):
            at = match.start()
            if at + 6 > len(code):
                break
            (disp,) = struct.unpack_from("<i", code, at + 2)
            if section.addr + at + 6 + disp in slots:
                if at >= 1 and code[at - 1] == 0xF2:
                    at -= 1  # bnd prefix
                if at >= 4 and code[at - 4 : at] == b"\xf3\x0f\x1e\xfa":
                    at -= 4  # endbr64 opens IBT PLT entries
                targets.add(section.addr + at)
    return targets


def _hwcap_call(regions: list[Region], targets: set[int], slots: set[int]) -> int | None:
    """First call (or tail jump) to getauxval with AT_HWCAP/AT_HWCAP2 loaded into edi just before.

    A heuristic on bytes: `mov edi, 16|26` at most 24 bytes before the call, as compilers emit
    it. Searching for the rare loads first keeps this cheap on large binaries.
    """
    for region in regions:
        code = region.code
        loads = sorted(
            m.start() for load in AT_HWCAP_LOADS for m in re.finditer(re.escape(load), code)
        )
        for load_at in loads:
            for match in re.finditer(rb"[\xe8\xe9]|\xff\x15", code[load_at + 5 : load_at + 29]):
                at = load_at + 5 + match.start()
                width = 1 if code[at] != 0xFF else 2
                if at + width + 4 > len(code):
                    break
                (disp,) = struct.unpack_from("<i", code, at + width)
                target = region.addr + at + width + 4 + disp
                if (target in slots) if width == 2 else (target in targets):
                    return region.addr + at
    return None
