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
from dataclasses import dataclass, field

from portwise.elf.parse import ElfFile, Section

SHF_EXECINSTR, PF_X = 0x4, 0x1
SHT_SYMTAB, SHT_RELA, SHT_NOBITS, SHT_DYNSYM = 2, 4, 8, 11
PT_LOAD, PT_GNU_EH_FRAME = 1, 0x6474E550
STT_OBJECT, STT_FUNC, STT_GNU_IFUNC = 1, 2, 10
STB_LOCAL, STV_DEFAULT = 0, 0
R_X86_64_64, R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT, R_X86_64_RELATIVE = 1, 6, 7, 8
R_X86_64_IRELATIVE = 37
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
# Variables that hold the CPU's features once detected: code that reads one is choosing a path.
# libgcc (__builtin_cpu_supports), glibc (cpu_features inside _rtld_global_ro, or
# _dl_x86_cpu_features in static programs), OpenSSL's capability vector, Go's internal/cpu.
FEATURE_VARIABLES = (
    "__cpu_model",
    "__cpu_features2",
    "_rtld_global_ro",
    "_dl_x86_cpu_features",
    "OPENSSL_ia32cap_P",
    "internal/cpu.X86",
    "runtime.x86HasPOPCNT",
    "runtime.x86HasSSE41",
    "runtime.x86HasFMA",
    "runtime.useAVXmemmove",
)
# Functions that return the CPU's features: their callers test them.
FEATURE_FUNCTIONS = (
    "__x86_get_cpuid_feature_leaf",
    "__x86_get_cpu_features",
    "_dl_x86_get_cpu_features",
    "__get_cpu_features",
)
# Suffixes GCC and clang give function multi-versioning clones (target_clones, target):
# foo.avx2, foo.arch_x86_64_v3, foo.sse4_2, foo.default, foo.resolver.
CLONE_NAME = re.compile(
    rb"[^\0.]+\.(?:arch_\w+|default|resolver|(?:avx|sse|ssse3|fma|f16c|bmi|popcnt|lzcnt|movbe"
    rb"|aes|pclmul|sha|adx|rdrnd|rdseed|xsave|gfni|vaes|vpclmulqdq)[\w]*)\0"
)

# glibc's libmvec and other vector-ABI libraries: _ZGV<isa><mask><len><args>_<name>, isa b (SSE),
# c (AVX), d (AVX2), e (AVX-512); only code compiled for that ISA calls such a variant (x86-64
# Vector Function ABI), so its instructions are the caller's choice, not the library's need.
VECTOR_ABI_NAME = re.compile(rb"_ZGV[cde][NM]\d+[a-zA-Z0-9]*_[^\0]+\0")


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
    resolvers: set[int] = field(default_factory=set)  # STT_GNU_IFUNC values: resolver code
    exported: set[int] = field(default_factory=set)  # functions other objects may call
    clones: dict[int, str] = field(default_factory=dict)  # multi-versioning clone -> name
    variables: list[tuple[int, int, str]] = field(default_factory=list)  # feature variables
    local_functions: dict[int, str] = field(default_factory=dict)  # FEATURE_FUNCTIONS here
    names: dict[int, tuple[int, int]] = field(default_factory=dict)  # function -> (table, at)
    strtabs: list[bytes] = field(default_factory=list)

    def name(self, address: int) -> str | None:
        """The symbol name of the function starting at address, when the file has one."""
        ref = self.names.get(address)
        if ref is None:
            return None
        table, at = ref
        strtab = self.strtabs[table]
        end = strtab.find(b"\0", at)
        return strtab[at : end if end >= 0 else len(strtab)].decode("utf-8", "replace")


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
    out = Symbols([], set(), False, None)
    wanted = [*DISPATCH_SYMBOLS, "getauxval", *FEATURE_VARIABLES, *FEATURE_FUNCTIONS]
    fmt = "<IBBHQQ" if elf.elf_class == 64 else "<IIIBBH"
    size = struct.calcsize(fmt)
    ifunc = False
    getauxval = None
    for section in elf.sections:
        if section.type not in (SHT_SYMTAB, SHT_DYNSYM):
            continue
        dynamic = section.type == SHT_DYNSYM
        strtab = _section_bytes(data, elf.section(".dynstr" if dynamic else ".strtab"))
        table_id = len(out.strtabs)
        out.strtabs.append(strtab)
        names = _name_offsets(strtab, wanted)
        clone_names = {m.start(): m.group()[:-1] for m in CLONE_NAME.finditer(strtab)}
        clone_names.update((m.start(), m.group()[:-1]) for m in VECTOR_ABI_NAME.finditer(strtab))
        table = _section_bytes(data, section)
        table = table[: min(len(table) // size, MAX_ENTRIES) * size]
        for entry in struct.iter_unpack(fmt, table):
            if elf.elf_class == 64:
                name, info, other, shndx, value, symsize = entry
            else:
                name, value, symsize, info, other, shndx = entry
            if shndx == 0:
                continue
            kind = info & 0xF
            if kind in (STT_FUNC, STT_GNU_IFUNC) and value:
                out.functions.append(value)
                out.names.setdefault(value, (table_id, name))
                if kind == STT_GNU_IFUNC:
                    ifunc = True
                    out.resolvers.add(value)
                if dynamic and info >> 4 != STB_LOCAL and other & 3 == STV_DEFAULT:
                    out.exported.add(value)
                if name in clone_names:
                    out.clones[value] = clone_names[name].decode("utf-8", "replace")
            if name in names:
                found = names[name]
                out.defined.add(found)
                if found == "getauxval" and kind == STT_FUNC:
                    getauxval = value
                elif found in FEATURE_VARIABLES and kind != STT_FUNC and value:
                    out.variables.append((value, max(symsize, 1), found))
                elif found in FEATURE_FUNCTIONS and kind == STT_FUNC and value:
                    out.local_functions[value] = found
    return Symbols(
        out.functions,
        out.defined,
        ifunc,
        getauxval,
        out.resolvers,
        out.exported,
        out.clones,
        out.variables,
        out.local_functions,
        out.names,
        out.strtabs,
    )


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
    relocs = relocations(elf, data)
    slots = relocs.slots.get("getauxval", set())
    if relocs.irelative:
        reasons.append(f"dispatch: {len(relocs.irelative)} IRELATIVE relocations (IFUNC)")
    imported = {i.name for i in elf.imports}
    by_why: dict[str, list[str]] = {}
    for name, why in DISPATCH_SYMBOLS.items():
        if name in imported or name in symbols.defined:
            by_why.setdefault(why, []).append(name)
    reasons.extend(f"dispatch: {why}: {', '.join(names)}" for why, names in by_why.items())
    if "getauxval" in imported or symbols.getauxval is not None:
        targets = plt_targets(elf, data, slots)
        if symbols.getauxval is not None:
            targets.add(symbols.getauxval)
        sites = hwcap_calls(regions, targets, slots)
        if sites:
            reasons.append(f"dispatch: getauxval(AT_HWCAP) at {sites[0]:#x}")
    return reasons


@dataclass(frozen=True, slots=True)
class Relocations:
    irelative: list[int]  # IFUNC resolver addresses (the addends of IRELATIVE relocations)
    slots: dict[str, set[int]]  # imported name of interest -> GOT slots that hold it
    pointers: set[int]  # addresses stored in data by RELATIVE/64 relocations


def relocations(elf: ElfFile, data: bytes) -> Relocations:
    """IRELATIVE resolvers, GOT slots of dispatch-related imports, and code pointers in data."""
    irelative: list[int] = []
    slots: dict[str, set[int]] = {}
    pointers: set[int] = set()
    dynsym = elf.section(".dynsym")
    symtab = _section_bytes(data, dynsym)
    wanted = ["getauxval", *FEATURE_VARIABLES, *FEATURE_FUNCTIONS]
    names = _name_offsets(_section_bytes(data, elf.section(".dynstr")), wanted)
    is64 = elf.elf_class == 64
    fmt, symfmt = ("<QQq", "<I") if is64 else ("<IIi", "<I")
    entsize, symsize = (24, 24) if is64 else (12, 16)
    for section in elf.sections:
        if section.type != SHT_RELA:
            continue
        table = _section_bytes(data, section)
        table = table[: min(len(table) // entsize, MAX_ENTRIES) * entsize]
        for offset, info, addend in struct.iter_unpack(fmt, table):
            kind, index = (info & 0xFFFFFFFF, info >> 32) if is64 else (info & 0xFF, info >> 8)
            if kind == R_X86_64_IRELATIVE:
                irelative.append(addend)
            elif kind == R_X86_64_RELATIVE:
                pointers.add(addend)
            elif kind in (R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT, R_X86_64_64) and names:
                at = index * symsize
                if at + 4 <= len(symtab):
                    name = names.get(struct.unpack_from(symfmt, symtab, at)[0])
                    if name is not None and kind != R_X86_64_64:
                        slots.setdefault(name, set()).add(offset)
    return Relocations(irelative, slots, pointers)


def plt_targets(elf: ElfFile, data: bytes, slots: set[int]) -> set[int]:
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


def hwcap_calls(regions: list[Region], targets: set[int], slots: set[int]) -> list[int]:
    """Calls (or tail jumps) to getauxval with AT_HWCAP/AT_HWCAP2 loaded into edi just before.

    A heuristic on bytes: `mov edi, 16|26` at most 24 bytes before the call, as compilers emit
    it. Searching for the rare loads first keeps this cheap on large binaries.
    """
    sites: list[int] = []
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
                    sites.append(region.addr + at)
                    break
    return sorted(set(sites))
