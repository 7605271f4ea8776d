"""Read-only walker of a Berkeley DB hash file (rpm's `Packages` before 4.16), written from the
published page layout because the rpm we can run is built without its bdb backend.

Layout used: page 0 is the hash metadata page (magic 0x061561, page size, max_bucket, spares);
bucket b lives on page b + spares[ceil(log2(b + 1))] and continues through next_pgno; hash
pages hold alternating key/data items, either inline (H_KEYDATA) or as a reference (H_OFFPAGE)
to a chain of overflow pages. Every page is visited at most once per file, which bounds the
work by the file size and turns any cycle into a reported problem instead of a hang.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final, Literal

_HASH_MAGIC: Final = 0x061561
_BTREE_MAGIC: Final = 0x053162
_HASH_VERSIONS: Final = (8, 9)  # Berkeley DB 4.1-4.5 and 4.6-5.3/6.x
_P_INVALID, _P_HASH_UNSORTED, _P_OVERFLOW, _P_HASHMETA, _P_HASH = 0, 2, 7, 8, 13
_H_KEYDATA, _H_DUPLICATE, _H_OFFPAGE, _H_OFFDUP = 1, 2, 3, 4
_PAGE_HEADER: Final = 26
_CHECKSUM_HEADER: Final = 32  # 26 + 2 alignment + 4 checksum bytes when metaflags has CHKSUM
_META_CHKSUM: Final = 0x01

ByteOrder = Literal["little", "big"]


@dataclass
class HashContents:
    """Key/value pairs found, the file's byte order (rpm's keys use it too), and problems met."""

    pairs: list[tuple[bytes, bytes]]
    byteorder: ByteOrder
    problems: list[str] = field(default_factory=list)


class _ItemError(ValueError):
    """One item could not be read; the walk goes on with the next."""


def read_hash_file(content: bytes) -> HashContents:
    """All key/value pairs of a Berkeley DB hash file; ValueError when it is not one we can read."""
    if len(content) < 512:
        raise ValueError(f"Berkeley DB file too short: {len(content)} bytes, a page is >= 512")
    byteorder: ByteOrder
    little, big = int.from_bytes(content[12:16], "little"), int.from_bytes(content[12:16], "big")
    if little == _HASH_MAGIC:
        byteorder, fmt = "little", "<"
    elif big == _HASH_MAGIC:
        byteorder, fmt = "big", ">"
    elif _BTREE_MAGIC in (little, big):
        raise ValueError("Berkeley DB file is a btree, rpm's Packages is a hash database")
    else:
        raise ValueError("not a Berkeley DB hash file (no hash magic 0x061561 at offset 12)")
    version, pagesize = struct.unpack_from(fmt + "II", content, 16)
    encrypt_alg, meta_type, metaflags = content[24], content[25], content[26]
    if version not in _HASH_VERSIONS:
        raise ValueError(f"Berkeley DB hash version {version} not supported (know 8 and 9)")
    if pagesize < 512 or pagesize > 65536 or pagesize & (pagesize - 1):
        raise ValueError(f"Berkeley DB page size {pagesize} is not a power of two in 512..65536")
    if meta_type != _P_HASHMETA:
        raise ValueError(f"Berkeley DB page 0 has type {meta_type}, not hash metadata (8)")
    if encrypt_alg:
        raise ValueError("Berkeley DB file is encrypted")
    walker = _Walker(content, pagesize, fmt)
    if metaflags & _META_CHKSUM:
        walker.overhead = _CHECKSUM_HEADER
    if len(content) % pagesize:
        walker.problems.append(
            f"file is {len(content)} bytes, not whole {pagesize}-byte pages; last page ignored"
        )
    max_bucket = struct.unpack_from(fmt + "I", content, 72)[0]
    spares = struct.unpack_from(fmt + "32I", content, 96)
    if max_bucket >= min(walker.npages, 1 << 31):
        raise ValueError(
            f"Berkeley DB max_bucket {max_bucket} needs more pages than the file has "
            f"({walker.npages})"
        )
    for bucket in range(max_bucket + 1):
        walker.walk_bucket(bucket, bucket + spares[bucket.bit_length()])
    return HashContents(walker.pairs, byteorder, walker.problems)


class _Walker:
    """Page access with a file-wide visited map; collects pairs and problems."""

    def __init__(self, content: bytes, pagesize: int, fmt: str) -> None:
        self.view = memoryview(content)
        self.pagesize = pagesize
        self.npages = len(content) // pagesize
        self.fmt = fmt
        self.overhead = _PAGE_HEADER
        self.seen = bytearray(self.npages)
        self.pairs: list[tuple[bytes, bytes]] = []
        self.problems: list[str] = []

    def page(self, pgno: int, what: str) -> memoryview:
        """Page pgno, once only: an out-of-range or repeated page number is an error."""
        if pgno >= self.npages:
            raise _ItemError(f"{what}: page {pgno} is beyond the file's {self.npages} pages")
        if self.seen[pgno]:
            raise _ItemError(f"{what}: page {pgno} reached a second time (cycle or shared page)")
        self.seen[pgno] = 1
        start = pgno * self.pagesize
        return self.view[start : start + self.pagesize]

    def walk_bucket(self, bucket: int, pgno: int) -> None:
        first = True
        while pgno:
            what = f"hash bucket {bucket}"
            try:
                page = self.page(pgno, what)
            except _ItemError as exc:
                self.problems.append(str(exc))
                return
            kind = page[25]
            if first and kind == _P_INVALID:
                return  # a bucket page never written to: an empty bucket
            if kind not in (_P_HASH, _P_HASH_UNSORTED):
                self.problems.append(f"{what}: page {pgno} has type {kind}, not a hash page")
                return
            self.read_hash_page(page, pgno)
            pgno = struct.unpack_from(self.fmt + "I", page, 16)[0]
            first = False

    def read_hash_page(self, page: memoryview, pgno: int) -> None:
        entries = struct.unpack_from(self.fmt + "H", page, 20)[0]
        index_end = self.overhead + 2 * entries
        if entries % 2 or index_end > self.pagesize:
            self.problems.append(f"hash page {pgno}: bad entry count {entries}")
            return
        offsets = struct.unpack_from(f"{self.fmt}{entries}H", page, self.overhead)
        for i in range(0, entries, 2):
            try:
                key = self.item(page, pgno, offsets, i, index_end)
                value = self.item(page, pgno, offsets, i + 1, index_end)
            except _ItemError as exc:
                self.problems.append(str(exc))
                continue
            self.pairs.append((key, value))

    def item(
        self, page: memoryview, pgno: int, offsets: tuple[int, ...], i: int, index_end: int
    ) -> bytes:
        """Item i of a hash page: its bytes run from its offset up to the previous item's."""
        start = offsets[i]
        end = self.pagesize if i == 0 else offsets[i - 1]
        what = f"hash page {pgno} item {i}"
        if not index_end <= start < end <= self.pagesize:
            raise _ItemError(f"{what}: bounds {start}..{end} outside {index_end}..{self.pagesize}")
        kind = page[start]
        if kind == _H_KEYDATA:
            return bytes(page[start + 1 : end])
        if kind == _H_OFFPAGE:
            if end - start < 12:
                raise _ItemError(f"{what}: off-page reference shorter than 12 bytes")
            first, total = struct.unpack_from(self.fmt + "II", page, start + 4)
            return self.overflow(first, total, what)
        if kind in (_H_DUPLICATE, _H_OFFDUP):
            raise _ItemError(f"{what}: duplicate-key item, which rpm's Packages never has")
        raise _ItemError(f"{what}: unknown item type {kind}")

    def overflow(self, pgno: int, total: int, what: str) -> bytes:
        """Join an overflow chain that must hold exactly `total` bytes."""
        if total > len(self.view):
            raise _ItemError(f"{what}: claims {total} bytes, more than the whole file")
        parts: list[memoryview] = []
        got = 0
        if not pgno:
            raise _ItemError(f"{what}: off-page reference to page 0")
        while pgno:
            page = self.page(pgno, what)
            if page[25] != _P_OVERFLOW:
                raise _ItemError(f"{what}: page {pgno} has type {page[25]}, not overflow (7)")
            length = struct.unpack_from(self.fmt + "H", page, 22)[0]
            if self.overhead + length > self.pagesize:
                raise _ItemError(f"{what}: overflow page {pgno} claims {length} bytes")
            got += length
            if got > total:
                raise _ItemError(f"{what}: overflow chain holds more than its {total} bytes")
            parts.append(page[self.overhead : self.overhead + length])
            pgno = struct.unpack_from(self.fmt + "I", page, 16)[0]
        if got != total:
            raise _ItemError(f"{what}: overflow chain ends after {got} of {total} bytes")
        return b"".join(parts)
