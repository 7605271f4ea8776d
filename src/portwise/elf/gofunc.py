"""Function boundaries for the direct-syscall scan: .gopclntab, else .symtab, else .eh_frame.

Go's function table comes first: the runtime needs it for tracebacks, so `go build -ldflags=-s`
and `strip` keep it; it is the only reliable source of boundaries in stripped Go binaries such
as esbuild. .eh_frame (DWARF call frame information, System V ABI) gives ranges for stripped C.

.gopclntab facts (Go's src/debug/gosym/pclntab.go and runtime/symtab.go): a header with a magic
word, two zero bytes, the pc quantum and the pointer size, then pointer-sized words. The magic
names the layout: 0xfffffffb (Go 1.2-1.15), 0xfffffffa (1.16-1.17), 0xfffffff0 (1.18-1.19),
0xfffffff1 (1.20+, same layout as 1.18). The function table is nfunc+1 (entry, funcoff) pairs
(the last entry is the end of text); since 1.18 entries are uint32 offsets from the text start.
Each _func starts with the entry (uint32 since 1.18, else a pointer) and an int32 name offset.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

from portwise.elf.parse import ElfFile

SHT_NOBITS = 8
STT_FUNC, STT_GNU_IFUNC = 2, 10
MAX_RECORDS = 1 << 20
LAYOUTS = {0xFFFFFFFB: "1.2", 0xFFFFFFFA: "1.16", 0xFFFFFFF0: "1.18", 0xFFFFFFF1: "1.20"}
MAX_NAME = 4096


@dataclass(frozen=True, slots=True)
class GoFuncs:
    """Sorted function entries of one pclntab; `end` closes the last function."""

    layout: str
    entries: tuple[int, ...]
    end: int
    problems: tuple[str, ...]
    _tab: bytes
    _funcoffs: tuple[int, ...]
    _funcdata: int
    _names: int
    _name_field: int

    def name(self, index: int) -> str | None:
        """The Go name of function `index`, or None when its record points outside the table."""
        if not 0 <= index < len(self._funcoffs):
            return None
        at = self._funcdata + self._funcoffs[index] + self._name_field
        if at < 0 or at + 4 > len(self._tab):
            return None
        nameoff = int.from_bytes(self._tab[at : at + 4], "little", signed=True)
        start = self._names + nameoff
        if not 0 <= start < len(self._tab):
            return None
        stop = self._tab.find(b"\0", start, start + MAX_NAME)
        if stop < 0:
            return None
        return self._tab[start:stop].decode("utf-8", "replace")


def _fail(problem: str) -> GoFuncs:
    return GoFuncs("?", (), 0, (problem,), b"", (), 0, 0, 0)


def read_pclntab(elf: ElfFile, data: bytes) -> GoFuncs | None:
    """The function table of .gopclntab; None when there is no such section.

    Every offset and count is checked against the section: a bad table gives a GoFuncs with
    problems and no entries, never an exception or a huge allocation.
    """
    section = elf.section(".gopclntab")
    if section is None or section.type == SHT_NOBITS:
        return None
    if section.offset < 0 or section.size < 16 or section.offset + section.size > len(data):
        return _fail(".gopclntab lies outside the file or is too small")
    tab = data[section.offset : section.offset + section.size]
    layout = LAYOUTS.get(int.from_bytes(tab[:4], "little"))
    if layout is None or elf.endian != "little":
        return _fail(f".gopclntab has an unknown magic {tab[:4].hex()}")
    ptr = tab[7]
    if tab[4] or tab[5] or tab[6] not in (1, 2, 4) or ptr not in (4, 8):
        return _fail(".gopclntab header is malformed")

    def word(index: int) -> int:
        at = 8 + index * ptr
        return int.from_bytes(tab[at : at + ptr], "little") if at + ptr <= len(tab) else -1

    text = elf.section(".text")
    if layout in ("1.18", "1.20"):
        nfunc, names, funcdata, field = word(0), word(3), word(7), 4
        base = text.addr if text is not None else word(2)
        functab, name_field = funcdata, 4
    elif layout == "1.16":
        nfunc, names, funcdata, field = word(0), word(2), word(6), ptr
        base, functab, name_field = 0, funcdata, ptr
    else:
        nfunc, names, funcdata, field = word(0), 0, 0, ptr
        base, functab, name_field = 0, 8 + ptr, ptr
    size = (2 * nfunc + 1) * field if nfunc >= 0 else -1
    if min(nfunc, names, funcdata) < 0 or size < 0 or functab + size > len(tab):
        return _fail(f".gopclntab: {nfunc} functions do not fit in {len(tab)} bytes")
    values = array("I" if field == 4 else "Q")
    if values.itemsize != field:
        return _fail("this platform has no array type of the pclntab word size")
    values.frombytes(tab[functab : functab + (2 * nfunc + 2) * field][: (2 * nfunc + 1) * field])
    if len(values) % 2 == 1:
        values.append(0)  # the end entry has a pc but no funcoff
    if sys.byteorder != "little":
        values.byteswap()
    pcs = [pc + base for pc in values[0::2]]
    problems = []
    if any(a > b for a, b in pairwise(pcs)):
        problems.append(".gopclntab function entries are not sorted")
        pcs = sorted(pcs)
    return GoFuncs(
        layout=layout,
        entries=tuple(pcs[:-1]),
        end=pcs[-1] if pcs else 0,
        problems=tuple(problems),
        _tab=tab,
        _funcoffs=tuple(values[1::2][:nfunc]),
        _funcdata=funcdata,
        _names=names,
        _name_field=name_field,
    )


@dataclass
class Functions:
    """start -> (size or 0, name or None); names are looked up lazily through `namer`."""

    starts: dict[int, int] = field(default_factory=dict)
    namer: Callable[[int], str | None] = lambda _start: None
    source: str = "none"
    go: bool = False
    inferred: set[int] = field(default_factory=set)  # starts guessed from call targets
    problems: list[str] = field(default_factory=list)


def in_file(data: bytes, offset: int, size: int) -> bool:
    return offset >= 0 and size >= 0 and offset + size <= len(data)


def _symtab(elf: ElfFile, data: bytes) -> Functions | None:
    sym, strtab = elf.section(".symtab"), elf.section(".strtab")
    if sym is None or sym.type == SHT_NOBITS:
        return None
    out = Functions(source=".symtab")
    if not in_file(data, sym.offset, sym.size) or sym.size // 24 > MAX_RECORDS:
        out.problems.append(".symtab lies outside the file")
        return out
    names: dict[int, int] = {}
    end = sym.offset + sym.size // 24 * 24
    for name, info, _other, shndx, value, size in struct.iter_unpack(
        "<IBBHQQ", data[sym.offset : end]
    ):
        is_func = info & 0xF in (STT_FUNC, STT_GNU_IFUNC) and value and shndx
        if is_func and size >= out.starts.get(value, 0):
            out.starts[value] = size
            names.setdefault(value, name)
    if strtab is None or not in_file(data, strtab.offset, strtab.size):
        out.problems.append(".strtab is missing or outside the file: functions have no names")
        return out
    lo, hi = strtab.offset, strtab.offset + strtab.size

    def namer(start: int) -> str | None:
        at = lo + names.get(start, -1)
        stop = data.find(b"\0", at, hi) if lo <= at < hi else -1
        return data[at:stop].decode("utf-8", "replace") if stop > at else None

    out.namer = namer
    return out


def _uleb(buf: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(buf) or shift > 63:
            raise ValueError("LEB128 runs past its record")
        byte = buf[at]
        value |= (byte & 0x7F) << shift
        at += 1
        shift += 7
        if byte < 0x80:
            return value, at


def _sleb(buf: bytes, at: int) -> tuple[int, int]:
    start = at
    value, at = _uleb(buf, at)
    if buf[at - 1] & 0x40:
        value -= 1 << (7 * (at - start))
    return value, at


PCREL_SDATA4 = 0x1B  # DW_EH_PE_pcrel | DW_EH_PE_sdata4
_FORMATS = {0x00: "<Q", 0x02: "<H", 0x03: "<I", 0x04: "<Q", 0x0A: "<h", 0x0B: "<i", 0x0C: "<q"}


def _encoded(buf: bytes, at: int, enc: int, here: int) -> tuple[int, int]:
    """A DWARF EH pointer of encoding `enc` at buf[at]; `here` is its address (for pcrel)."""
    fmt = enc & 0x0F
    if fmt == 0x01:
        value, end = _uleb(buf, at)
    elif fmt == 0x09:
        value, end = _sleb(buf, at)
    elif fmt in _FORMATS:
        size = struct.calcsize(_FORMATS[fmt])
        if at + size > len(buf):
            raise ValueError("pointer runs past its record")
        (value,) = struct.unpack_from(_FORMATS[fmt], buf, at)
        end = at + size
    else:
        raise ValueError(f"pointer encoding {enc:#x}")
    if enc & 0x70 == 0x10:
        value += here
    elif enc & 0x70:
        raise ValueError(f"pointer application {enc & 0x70:#x}")
    return value & 0xFFFFFFFFFFFFFFFF, end


def _cie_encoding(buf: bytes, at: int, end: int) -> int:
    """The FDE pointer encoding named by a CIE's 'R' augmentation (absptr by default).

    -1 for signal-frame CIEs ('S'): their FDEs start one byte early on purpose (glibc's
    __restore_rt), so they are no function boundary.
    """
    version = buf[at]
    stop = buf.find(b"\0", at + 1, end)
    if stop < 0:
        raise ValueError("CIE augmentation string is not terminated")
    aug = buf[at + 1 : stop].decode("latin-1")
    if "S" in aug:
        return -1
    p = stop + 1 + (8 if "eh" in aug else 0)
    _, p = _uleb(buf, p)
    _, p = _sleb(buf, p)
    p = p + 1 if version == 1 else _uleb(buf, p)[1]
    if not aug.startswith("z"):
        return 0
    _, p = _uleb(buf, p)
    for letter in aug[1:]:
        if p >= end:
            break
        if letter == "R":
            return buf[p]
        if letter == "P":
            p = _encoded(buf, p + 1, buf[p] & 0x0F, 0)[1]
        elif letter == "L":
            p += 1
        elif letter not in "SB":
            break
    return 0


def _eh_frame(elf: ElfFile, data: bytes) -> Functions | None:
    section = elf.section(".eh_frame")
    if section is None or section.type == SHT_NOBITS:
        return None
    out = Functions(source=".eh_frame")
    if not in_file(data, section.offset, section.size):
        out.problems.append(".eh_frame lies outside the file")
        return out
    buf = data[section.offset : section.offset + section.size]
    cies: dict[int, int] = {}
    at = records = 0
    try:
        while at + 4 <= len(buf) and records < MAX_RECORDS:
            records += 1
            (length,) = struct.unpack_from("<I", buf, at)
            body = at + 4
            if length == 0xFFFFFFFF:
                (length,) = struct.unpack_from("<Q", buf, at + 4) if at + 12 <= len(buf) else (-1,)
                body = at + 12
            end = body + length
            if length == 0:
                at = body
                continue
            if length < 4 or end > len(buf):
                raise ValueError("record runs past the section")
            (cie_id,) = struct.unpack_from("<I", buf, body)
            if cie_id == 0:
                cies[at] = _cie_encoding(buf, body + 4, end)
            else:
                enc = cies.get(body - cie_id)
                if enc is None:
                    raise ValueError("FDE names no CIE before it")
                if enc < 0:
                    at = end
                    continue
                if enc == PCREL_SDATA4:  # what GCC and LLVM write: two int32s, inline
                    if body + 12 > end:
                        raise ValueError("pointer runs past its record")
                    rel, size = struct.unpack_from("<ii", buf, body + 4)
                    start = (section.addr + body + 4 + rel) & 0xFFFFFFFFFFFFFFFF
                    size &= 0xFFFFFFFFFFFFFFFF
                else:
                    start, p = _encoded(buf, body + 4, enc, section.addr + body + 4)
                    size, _ = _encoded(buf, p, enc & 0x0F, 0)
                if start and size:
                    out.starts[start] = max(size, out.starts.get(start, 0))
            at = end
    except (ValueError, IndexError, struct.error) as exc:
        out.problems.append(f".eh_frame record at {at:#x}: {exc}")
    return out


def functions(elf: ElfFile, data: bytes) -> Functions:
    """Boundaries from the best source present: .gopclntab, else .symtab, else .eh_frame."""
    problems: list[str] = []
    go = read_pclntab(elf, data)
    if go is not None:
        problems += go.problems
        if go.entries:
            ends = [*go.entries[1:], go.end]
            index = {start: i for i, start in enumerate(go.entries)}
            return Functions(
                starts={s: max(e - s, 0) for s, e in zip(go.entries, ends, strict=True)},
                namer=lambda start: go.name(index[start]) if start in index else None,
                source=".gopclntab",
                go=True,
                problems=problems,
            )
    for reader in (_symtab, _eh_frame):
        found = reader(elf, data)
        if found is not None:
            found.problems[:0] = problems
            if found.starts:
                return found
            problems = found.problems
    return Functions(problems=[*problems, "no function boundaries: code scanned as gaps"])
