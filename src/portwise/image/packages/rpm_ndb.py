"""Read-only reader of rpm's NDB `Packages.db` (rpm >= 4.16, the SUSE default).

Format facts, from rpm's lib/backend/ndb/rpmpkg.c (all integers little-endian):
- bytes 0..31: magic "RpmP", version 0, generation, slot page count, next package index;
- slot pages (4096 bytes each) right after, 16-byte slots: "Slot", pkgidx, blkoff, blkcnt;
  blkoff 0 marks a free slot; the first two slots' space is taken by the 32-byte header;
- a blob occupies blkcnt 16-byte blocks from block blkoff: head "BlbS", pkgidx, generation,
  length; the header blob; zero padding; tail adler32 (of head, blob and padding), length, "BlbE".
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

_DB_MAGIC: Final = int.from_bytes(b"RpmP", "little")
_SLOT_MAGIC: Final = int.from_bytes(b"Slot", "little")
_HEAD_MAGIC: Final = int.from_bytes(b"BlbS", "little")
_TAIL_MAGIC: Final = int.from_bytes(b"BlbE", "little")
_PAGE: Final = 4096
_BLOCK: Final = 16
_HEADER: Final = 32
_HEAD: Final = 16
_TAIL: Final = 12
_SLOT = struct.Struct("<IIII")


def read_blobs(content: bytes) -> tuple[list[tuple[int, bytes]], list[str]]:
    """(package index, header blob) pairs in package-index order, and the problems met.

    A damaged file header is a ValueError; a damaged slot or blob is one problem and reading
    goes on, so one bad package does not hide the others.
    """
    size = len(content)
    if size < _HEADER:
        raise ValueError(f"NDB Packages.db too short: {size} bytes")
    magic, version, _generation, slot_pages, _next = struct.unpack_from("<5I", content, 0)
    if magic != _DB_MAGIC:
        raise ValueError("not an rpm NDB Packages.db (no 'RpmP' magic)")
    if version != 0:
        raise ValueError(f"NDB Packages.db version {version} not supported (know 0)")
    if slot_pages == 0 or slot_pages * _PAGE > size:
        raise ValueError(f"NDB Packages.db claims {slot_pages} slot pages, file has {size} bytes")
    problems: list[str] = []
    if size % _BLOCK:
        problems.append(f"file is {size} bytes, not whole {_BLOCK}-byte blocks (truncated?)")
    file_blocks = size // _BLOCK
    first_blob_block = slot_pages * _PAGE // _BLOCK
    view = memoryview(content)
    found: dict[int, bytes] = {}
    slot_area = view[_HEADER : slot_pages * _PAGE]
    for number, (slot_magic, pkgidx, blkoff, blkcnt) in enumerate(_SLOT.iter_unpack(slot_area)):
        where = f"slot {number + _HEADER // _BLOCK}"
        if slot_magic != _SLOT_MAGIC:
            problems.append(f"{where}: bad slot magic")
            continue
        if not blkoff:
            continue
        if not pkgidx or not blkcnt or blkoff < first_blob_block or blkoff + blkcnt > file_blocks:
            problems.append(
                f"{where}: package {pkgidx} at blocks {blkoff}+{blkcnt} outside the blob "
                f"area {first_blob_block}..{file_blocks}"
            )
            continue
        if pkgidx in found:
            problems.append(f"{where}: package {pkgidx} has a second slot, ignored")
            continue
        try:
            found[pkgidx] = _blob(view, pkgidx, blkoff, blkcnt)
        except ValueError as exc:
            problems.append(f"package {pkgidx}: {exc}")
    return sorted(found.items()), problems


def _blob(view: memoryview, pkgidx: int, blkoff: int, blkcnt: int) -> bytes:
    """The checked header blob in blocks blkoff..blkoff+blkcnt (bounds checked by the caller)."""
    start, end = blkoff * _BLOCK, (blkoff + blkcnt) * _BLOCK
    if end - start < _HEAD + _TAIL:
        raise ValueError(f"{blkcnt} blocks cannot hold a blob head and tail")
    magic, owner, _generation, length = struct.unpack_from("<4I", view, start)
    if magic != _HEAD_MAGIC:
        raise ValueError(f"no blob head magic at block {blkoff}")
    if owner != pkgidx:
        raise ValueError(f"blob at block {blkoff} belongs to package {owner}")
    if blkcnt != (_HEAD + length + _TAIL + _BLOCK - 1) // _BLOCK:
        raise ValueError(f"blob length {length} does not fit its {blkcnt} blocks")
    checksum, tail_length, tail_magic = struct.unpack_from("<3I", view, end - _TAIL)
    if tail_magic != _TAIL_MAGIC or tail_length != length:
        raise ValueError(f"blob at block {blkoff} has a bad tail")
    if zlib.adler32(view[start : end - _TAIL]) != checksum:
        raise ValueError(f"blob at block {blkoff} fails its adler32 check")
    return bytes(view[start + _HEAD : start + _HEAD + length])
