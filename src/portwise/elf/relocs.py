"""Where an ELF file keeps the address of an imported function: its GOT slots.

A call to an imported function goes through a slot the loader fills in: through the PLT stub
(`call syscall@plt`, a JUMP_SLOT relocation) or straight through the slot (`call *syscall@GOTPCREL`
with -fno-plt, a GLOB_DAT relocation). The syscall scan follows calls to `syscall()` through
both, so it needs the slots of that import. Read as the loader reads them: PT_DYNAMIC's
DT_RELA/DT_JMPREL tables and DT_SYMTAB/DT_STRTAB, mapped through PT_LOAD (section headers
may be stripped). 64-bit little-endian only, like the scan; hostile tables give no slots.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from portwise.elf.parse import ElfFile

PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_PLTRELSZ, DT_STRTAB, DT_SYMTAB, DT_RELA, DT_RELASZ = 0, 2, 5, 6, 7, 8
DT_STRSZ, DT_JMPREL = 10, 23
MAX_RELOCS = 1 << 20
MAX_NAME = 256
# relocation types that store a symbol's address in a slot, per machine
SLOT_TYPES = {"x86-64": {6, 7}, "aarch64": {1025, 1026}}  # GLOB_DAT, JUMP_SLOT
JUMP_SLOT = {"x86-64": 7, "aarch64": 1026}


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    address: int  # of the GOT slot
    plt: bool  # a JUMP_SLOT (reached through a PLT stub) rather than a GLOB_DAT


def _offset(elf: ElfFile, vaddr: int) -> int | None:
    for seg in elf.segments:
        if seg.type == PT_LOAD and seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
            return seg.offset + vaddr - seg.vaddr
    return None


def _dynamic(elf: ElfFile, data: bytes) -> dict[int, int]:
    seg = next((s for s in elf.segments if s.type == PT_DYNAMIC), None)
    if seg is None or seg.offset + seg.filesz > len(data):
        return {}
    tags: dict[int, int] = {}
    for tag, value in struct.iter_unpack(
        "<qQ", data[seg.offset : seg.offset + seg.filesz // 16 * 16]
    ):
        if tag == DT_NULL:
            break
        tags.setdefault(tag, value)
    return tags


def import_slots(elf: ElfFile, data: bytes, names: frozenset[str]) -> list[Slot]:
    """The GOT slots the loader fills with the addresses of these imported functions."""
    types = SLOT_TYPES.get(elf.machine)
    if types is None or elf.elf_class != 64 or elf.endian != "little" or not names:
        return []
    if not any(i.name in names for i in elf.imports):
        return []
    tags = _dynamic(elf, data)
    symtab = _offset(elf, tags.get(DT_SYMTAB, -1))
    strtab = _offset(elf, tags.get(DT_STRTAB, -1))
    if symtab is None or strtab is None:
        return []
    strend = min(len(data), strtab + tags[DT_STRSZ]) if DT_STRSZ in tags else len(data)
    slots: list[Slot] = []
    wanted_cache: dict[int, str | None] = {}
    for table_tag, size_tag in ((DT_RELA, DT_RELASZ), (DT_JMPREL, DT_PLTRELSZ)):
        at = _offset(elf, tags.get(table_tag, -1))
        size = tags.get(size_tag, 0)
        if at is None or not size or at + size > len(data) or size // 24 > MAX_RELOCS:
            continue
        for r_offset, r_info, _addend in struct.iter_unpack(
            "<QQq", data[at : at + size // 24 * 24]
        ):
            if r_info & 0xFFFFFFFF not in types:
                continue
            index = r_info >> 32
            if index not in wanted_cache:
                wanted_cache[index] = _symbol_name(data, symtab, strtab, strend, index, names)
            name = wanted_cache[index]
            if name is not None:
                plt = r_info & 0xFFFFFFFF == JUMP_SLOT[elf.machine]
                slots.append(Slot(name, r_offset, plt))
    return slots


def _symbol_name(
    data: bytes, symtab: int, strtab: int, strend: int, index: int, names: frozenset[str]
) -> str | None:
    """The symbol's name when it is one of `names` (and undefined), else None."""
    at = symtab + 24 * index
    if at + 24 > len(data):
        return None
    st_name, _info, _other, shndx = struct.unpack_from("<IBBH", data, at)
    start = strtab + st_name
    if shndx != 0 or start >= strend:
        return None
    stop = data.find(b"\0", start, min(strend, start + MAX_NAME))
    if stop < 0:
        return None
    name = data[start:stop].decode("latin-1")
    return name if name in names else None
