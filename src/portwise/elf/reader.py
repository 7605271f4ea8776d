"""Bounds-checked reading of an ELF file's bytes, and the small records every part returns.

Every offset and count read from the file is checked against it here, so the parsers above
never index outside the data: hostile bytes give ElfError, not a crash or a huge allocation.
"""

from __future__ import annotations

import mmap
import struct
from typing import NamedTuple

MAGIC = b"\x7fELF"
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
SHT_NOTE, SHT_NOBITS, SHT_DYNSYM = 7, 8, 11
MAX_TABLE = 1 << 20  # more entries than any real binary has in one table: hostile


class ElfError(ValueError):
    """Not an ELF file, or one whose structures point outside the file or make no sense."""


# Section, Segment and Import are NamedTuples: built by the thousand per image, and a tuple is
# half the cost of a frozen dataclass.
class Section(NamedTuple):
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int


class Segment(NamedTuple):
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int


class Import(NamedTuple):
    """An undefined dynamic symbol, with the version and library its version entry names."""

    name: str
    version: str | None
    library: str | None


Buffer = bytes | mmap.mmap  # an mmap touches only the pages read: headers, not code


class ElfReader:
    def __init__(self, data: Buffer) -> None:
        if len(data) < 52 or data[:4] != MAGIC:
            raise ElfError("not an ELF file")
        self.data = data
        if data[4] not in (1, 2) or data[5] not in (1, 2):
            raise ElfError(f"bad ELF class {data[4]} or data encoding {data[5]}")
        self.is64 = data[4] == 2
        self.order = "<" if data[5] == 1 else ">"
        self.addr = "Q" if self.is64 else "I"

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        fmt = self.order + fmt
        if offset < 0 or offset + struct.calcsize(fmt) > len(self.data):
            raise ElfError(f"structure at offset {offset:#x} runs past the end of the file")
        return struct.unpack_from(fmt, self.data, offset)

    def rows(
        self, fmt: str, offset: int, count: int, entsize: int, what: str
    ) -> list[tuple[int, ...]]:
        """A whole table in one bounds check and one C loop (the per-symbol hot path)."""
        size = struct.calcsize(self.order + fmt)
        if count and entsize < size:
            raise ElfError(f"{what}: entry size {entsize} is smaller than {size}")
        span = self.table(offset, count, entsize, what)
        if not count:
            return []
        raw = self.data[span.start : span.stop]
        if entsize == size:
            return list(struct.iter_unpack(self.order + fmt, raw))
        return [struct.unpack_from(self.order + fmt, raw, at) for at in range(0, len(raw), entsize)]

    def blob(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise ElfError(f"{what} at {offset:#x} ({size} bytes) runs past the end of the file")
        return bytes(self.data[offset : offset + size])

    def array(self, fmt: str, offset: int, count: int, what: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        self.table(offset, count, size, what)
        return struct.unpack_from(f"{self.order}{count}{fmt}", self.data, offset) if count else ()

    def cstring(self, offset: int, limit: int | None = None) -> str:
        end = self.data.find(b"\0", offset, len(self.data) if limit is None else limit)
        if offset < 0 or offset >= len(self.data) or end < 0:
            raise ElfError(f"string at offset {offset:#x} is not terminated inside the file")
        return self.data[offset:end].decode("utf-8", "backslashreplace")

    def table(self, offset: int, count: int, entsize: int, what: str) -> range:
        if count > MAX_TABLE or count < 0:
            raise ElfError(f"{what}: absurd count {count}")
        if count == 0:
            return range(0)
        if entsize <= 0 or offset < 0 or offset + count * entsize > len(self.data):
            raise ElfError(f"{what}: {count} entries at {offset:#x} run past the end of the file")
        return range(offset, offset + count * entsize, entsize)
