"""The dynamic section, read through PT_DYNAMIC and PT_LOAD as the loader itself reads it:
needed libraries, SONAME, RUNPATH/RPATH, version needs and the imported symbols."""

from __future__ import annotations

import re

from portwise.elf.reader import (
    MAX_TABLE,
    PT_DYNAMIC,
    PT_LOAD,
    SHT_DYNSYM,
    ElfError,
    ElfReader,
    Import,
    Section,
    Segment,
)

DT_NEEDED, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SONAME, DT_RPATH = 1, 5, 6, 10, 14, 15
DT_RUNPATH, DT_HASH, DT_GNU_HASH = 29, 4, 0x6FFFFEF5
DT_VERSYM, DT_VERNEED, DT_VERNEEDNUM, DT_FLAGS_1 = 0x6FFFFFF0, 0x6FFFFFFE, 0x6FFFFFFF, 0x6FFFFFFB
DF_1_PIE = 0x08000000
STT_FUNC, STT_GNU_IFUNC, STT_OBJECT = 2, 10, 1
NO_VERSION: tuple[None, None] = (None, None)
MAX_STRTAB = 1 << 24  # read at most this much string table when DT_STRSZ is missing
ZERO_BYTE = re.compile(b"\x00")
IFUNC_INFO_BYTES = frozenset(bind << 4 | STT_GNU_IFUNC for bind in range(16))


class DynamicSection:
    """The dynamic section, read through PT_DYNAMIC and PT_LOAD as the loader itself does."""

    def __init__(self, r: ElfReader, segments: tuple[Segment, ...], sections: tuple[Section, ...]):
        self.r = r
        self.loads = [s for s in segments if s.type == PT_LOAD]
        self.needed: tuple[str, ...] = ()
        self.soname: str | None = None
        self.runpath: tuple[str, ...] = ()
        self.rpath: tuple[str, ...] = ()
        self.version_needs: dict[str, tuple[str, ...]] = {}
        self.imports: tuple[Import, ...] = ()
        self.ifunc_defined = False
        self.flags_1 = 0
        dyn = next((s for s in segments if s.type == PT_DYNAMIC), None)
        if dyn is None:
            return
        entries = self._entries(dyn)
        strtab = self._offset(entries.get(DT_STRTAB, [0])[0], "DT_STRTAB")
        strsz = entries.get(DT_STRSZ, [0])[0]
        if strtab is None:
            return
        end = strtab + strsz if strsz else None
        self.needed = tuple(r.cstring(strtab + n, end) for n in entries.get(DT_NEEDED, []))
        if DT_SONAME in entries:
            self.soname = r.cstring(strtab + entries[DT_SONAME][0], end)
        for tag, attr in ((DT_RUNPATH, "runpath"), (DT_RPATH, "rpath")):
            if tag in entries:
                text = r.cstring(strtab + entries[tag][0], end)
                setattr(self, attr, tuple(p for p in text.split(":") if p))
        self.flags_1 = entries.get(DT_FLAGS_1, [0])[0]
        versions = self._verneed(entries, strtab, end)
        self._symbols(entries, sections, strtab, end, versions)

    def _entries(self, dyn: Segment) -> dict[int, list[int]]:
        r = self.r
        size = 16 if r.is64 else 8
        fmt = "qQ" if r.is64 else "iI"
        entries: dict[int, list[int]] = {}
        for tag, value in r.rows(fmt, dyn.offset, dyn.filesz // size, size, "dynamic section"):
            if tag == 0:
                break
            entries.setdefault(tag, []).append(value)
        return entries

    def _offset(self, vaddr: int, what: str) -> int | None:
        """File offset of a virtual address; None for 0 (absent)."""
        if not vaddr:
            return None
        for seg in self.loads:
            if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return seg.offset + (vaddr - seg.vaddr)
        # prelinked or already-relocated images store offsets; accept one inside the file
        if vaddr < len(self.r.data) and not self.loads:
            return vaddr
        raise ElfError(f"{what} address {vaddr:#x} is in no loadable segment")

    def _verneed(
        self, entries: dict[int, list[int]], strtab: int, end: int | None
    ) -> dict[int, tuple[str, str]]:
        """version index -> (version name, library); fills version_needs."""
        r = self.r
        at = self._offset(entries.get(DT_VERNEED, [0])[0], "DT_VERNEED")
        count = entries.get(DT_VERNEEDNUM, [0])[0]
        by_index: dict[int, tuple[str, str]] = {}
        needs: dict[str, list[str]] = {}
        if at is None:
            return by_index
        for _ in r.table(0, count, 1, "version needs"):
            _, cnt, file_off, aux, nxt = r.unpack("HHIII", at)
            library = r.cstring(strtab + file_off, end)
            aux_at = at + aux
            for _ in r.table(0, cnt, 1, "version need entries"):
                _, _, other, name_off, aux_next = r.unpack("IHHII", aux_at)
                name = r.cstring(strtab + name_off, end)
                needs.setdefault(library, []).append(name)
                by_index[other & 0x7FFF] = (name, library)
                if aux_next == 0:
                    break
                aux_at += aux_next
            if nxt == 0:
                break
            at += nxt
        self.version_needs = {lib: tuple(v) for lib, v in needs.items()}
        return by_index

    def _symbol_range(
        self, entries: dict[int, list[int]], sections: tuple[Section, ...]
    ) -> tuple[int, int]:
        """(first hashed symbol, symbol count). A GNU hash table holds defined symbols only and
        the linker puts all unhashed ones (imports among them) before it, so imports are read
        from the first part and the rest is only checked for IFUNCs."""
        r = self.r
        gnu_at = self._offset(entries.get(DT_GNU_HASH, [0])[0], "DT_GNU_HASH")
        first_hashed = None
        if gnu_at is not None:
            first_hashed = r.unpack("I", gnu_at + 4)[0]
        entsize = 24 if r.is64 else 16
        count = None
        for section in sections:
            if section.type == SHT_DYNSYM:
                count = section.size // entsize
        if count is None:
            hash_at = self._offset(entries.get(DT_HASH, [0])[0], "DT_HASH")
            if hash_at is not None:
                count = r.unpack("II", hash_at)[1]  # nchain == number of symbols
            elif gnu_at is not None:
                count = _gnu_hash_count(r, gnu_at)
            else:
                count = 0
        if first_hashed is None or first_hashed > count:
            first_hashed = count
        return first_hashed, count

    def _symbols(
        self,
        entries: dict[int, list[int]],
        sections: tuple[Section, ...],
        strtab: int,
        end: int | None,
        versions: dict[int, tuple[str, str]],
    ) -> None:
        r = self.r
        symtab = self._offset(entries.get(DT_SYMTAB, [0])[0], "DT_SYMTAB")
        if symtab is None:
            return
        first_hashed, count = self._symbol_range(entries, sections)
        entsize = 24 if r.is64 else 16
        r.table(symtab, count, entsize, "dynamic symbols")
        # name offset, info and section index only: 64-bit Elf64_Sym, 32-bit Elf32_Sym layouts
        fmt = "IBxH16x" if r.is64 else "I8xBxH"
        head = r.rows(fmt, symtab, first_hashed, entsize, "dynamic symbols")
        hashed = r.blob(
            symtab + first_hashed * entsize, (count - first_hashed) * entsize, "dynamic symbols"
        )
        info_at, shndx_at = (4, 6) if r.is64 else (12, 14)
        self.ifunc_defined = not IFUNC_INFO_BYTES.isdisjoint(hashed[info_at::entsize]) or any(
            info & 0xF == STT_GNU_IFUNC for _, info, shndx in head if shndx != 0
        )
        # Hashed symbols are mostly defined, but an executable's functions whose address is
        # taken are undefined yet hashed (canonical PLT entries): find the rows whose section
        # index is 0 with a byte search instead of a Python loop over every export.
        low, high = (shndx_at, shndx_at + 1) if r.order == "<" else (shndx_at + 1, shndx_at)
        low_bytes, high_bytes = hashed[low::entsize], hashed[high::entsize]
        undefined = [(i, row) for i, row in enumerate(head) if row[2] == 0]
        for match in ZERO_BYTE.finditer(low_bytes):
            index = match.start()
            if high_bytes[index] == 0:
                row = r.unpack(fmt, symtab + (first_hashed + index) * entsize)
                undefined.append((first_hashed + index, row))
        version_of: tuple[int, ...] = ()
        versym = self._offset(entries.get(DT_VERSYM, [0])[0], "DT_VERSYM")
        if versym is not None and versions:
            version_of = r.array("H", versym, count, "symbol versions")
        wanted = [(index, name_off) for index, (name_off, _, _) in undefined if index and name_off]
        if not wanted:
            self.imports = ()
            return
        # decode the string table once, as latin-1 so that byte offsets stay string offsets;
        # each name is then one slice
        limit = min(len(r.data), strtab + MAX_STRTAB if end is None else end)
        table = bytes(r.data[strtab:limit]).decode("latin-1")
        try:
            names = [table[o : table.index("\0", o)] for _, o in wanted]
        except ValueError:
            raise ElfError("a symbol name is not terminated inside the string table") from None
        if version_of and len(version_of) == count:
            found = [versions.get(version_of[i] & 0x7FFF, NO_VERSION) for i, _ in wanted]
        else:
            found = [NO_VERSION] * len(wanted)
        imports = [Import(_text(n), v, lib) for n, (v, lib) in zip(names, found, strict=True)]
        self.imports = tuple(imports)


def _gnu_hash_count(r: ElfReader, at: int) -> int:
    """Number of dynamic symbols from a GNU hash table (the highest chain end, plus one)."""
    nbuckets, symoffset, bloom_size, _ = r.unpack("IIII", at)
    if nbuckets > MAX_TABLE or bloom_size > MAX_TABLE:
        raise ElfError("GNU hash table has absurd sizes")
    buckets_at = at + 16 + bloom_size * (8 if r.is64 else 4)
    buckets = [r.unpack("I", b)[0] for b in r.table(buckets_at, nbuckets, 4, "GNU hash buckets")]
    last = max(buckets, default=0)
    if last < symoffset:
        return symoffset
    chain_at = buckets_at + 4 * nbuckets
    index = last
    while True:
        if index - symoffset > MAX_TABLE:
            raise ElfError("GNU hash chain does not end")
        (value,) = r.unpack("I", chain_at + 4 * (index - symoffset))
        index += 1
        if value & 1:
            return index


def _text(name: str) -> str:
    """A latin-1 slice back to the UTF-8 it was; undecodable bytes shown escaped."""
    if name.isascii():
        return name
    return name.encode("latin-1").decode("utf-8", "backslashreplace")
