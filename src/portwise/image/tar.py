"""A streaming tar reader for untrusted layers.

Hand-written rather than `tarfile` because it is the hot loop of every cold scan (one call per
member of every layer) and because hostile input needs precise errors; `tarfile` stays as the
test oracle. It reads ustar, GNU long names, pax headers and GNU/pax sparse members (under
their real names and sizes, holes read as zeros), and never seeks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

BLOCK = 512

# typeflag -> kind; "0", "\0" and "7" are regular files.
KIND_BY_TYPEFLAG = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "chardev",
    b"4": "blockdev",
    b"5": "dir",
    b"6": "fifo",
}
MAX_META_BYTES = 1 << 20  # a pax or GNU long-name record larger than this is hostile
MAX_SPARSE_ENTRIES = MAX_META_BYTES // 24  # a sparse map longer than this is hostile

Sparse = list[tuple[int, int]]  # (offset in the real file, bytes stored)


class TarFormatError(ValueError):
    """The stream is not a well-formed tar archive; `member` names where it broke when known."""

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member


class ByteSource(Protocol):
    def read(self, n: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Member:
    """One tar header, with its name exactly as stored (normalisation is the caller's policy)."""

    name: str
    kind: str
    size: int
    mode: int
    mtime: int
    link: str
    devmajor: int = 0  # character and block devices only
    devminor: int = 0
    sparse: bool = False  # stored as a GNU or pax sparse file; `size` is the real size


class TarStream:
    """Iterate members; between two `next` calls the caller may `read_data` or leave it skipped."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._buf = b""
        self._pos = 0
        self._pending = 0  # data + padding bytes of the current member not consumed yet
        self._data_left = 0  # stored data bytes of the current member
        self._sparse: Sparse | None = None  # the current member's map, when it is sparse
        self._real_size = 0
        self.consumed = 0
        self.member: str | None = None  # the last member yielded: where an error is

    def _take(self, n: int) -> bytes:
        """Exactly n bytes from the stream, or TarFormatError if it ends first."""
        end = self._pos + n
        if end <= len(self._buf):
            out = self._buf[self._pos : end]
            self._pos = end
            self.consumed += n
            return out
        parts = [self._buf[self._pos :]]
        have = len(parts[0])
        while have < n:
            chunk = self._source.read(max(1 << 20, n - have))
            if not chunk:
                raise TarFormatError(
                    f"archive truncated: needed {n - have} more bytes", self.member
                )
            parts.append(chunk)
            have += len(chunk)
        joined = b"".join(parts)
        self._buf = joined
        self._pos = n
        self.consumed += n
        return joined[:n]

    def _skip(self, n: int) -> None:
        available = len(self._buf) - self._pos
        if n <= available:
            self._pos += n
            self.consumed += n
            return
        n -= available
        self.consumed += available
        self._buf, self._pos = b"", 0
        while n > 0:
            chunk = self._source.read(1 << 20)
            if not chunk:
                raise TarFormatError(
                    f"archive truncated: {n} bytes of member data missing", self.member
                )
            if len(chunk) > n:
                self._buf, self._pos = chunk, n
                self.consumed += n
                return
            n -= len(chunk)
            self.consumed += len(chunk)

    def read_data(self, limit: int) -> bytes | None:
        """The current member's data, or None (data skipped) when it is larger than `limit`."""
        size = self._data_left
        if max(size, self._real_size) > limit:
            return None
        data = self._take(size)
        self._skip(self._pending - size)
        self._pending = self._data_left = 0
        if self._sparse is not None:
            return _expand(data, self._sparse, self._real_size, self.member or "")
        return data

    def drain(self) -> None:
        """Read the rest of the stream (end blocks and padding) so that digests cover all of it."""
        self._skip(self._pending)
        self._pending = 0
        self._buf, self._pos = b"", 0
        while chunk := self._source.read(1 << 20):
            self.consumed += len(chunk)

    def __iter__(self) -> Iterator[Member]:
        pax_global: dict[str, str] = {}
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        pax_sparse: Sparse = []
        while True:
            self._skip(self._pending)
            self._pending = self._data_left = self._real_size = 0
            self._sparse = None
            header = self._take(BLOCK)
            if header == bytes(BLOCK):
                return  # end of archive (a second zero block and padding may follow)
            name = long_name or _cstr(header[0:100])
            _check_sum(header, name)
            typeflag = header[156:157]
            size = _number(header[124:136], "size", name)
            if "size" in pax:
                size = _pax_int(pax["size"], "size", name)
            padded = (size + BLOCK - 1) // BLOCK * BLOCK
            if typeflag in (b"x", b"g", b"L", b"K"):
                if size > MAX_META_BYTES:
                    raise TarFormatError(f"metadata record of {size} bytes", name)
                raw = self._take(size)
                self._skip(padded - size)
                if typeflag == b"x":
                    pax = _parse_pax(raw, name)
                    pax_sparse = _pax_sparse_pairs(raw, name)
                elif typeflag == b"g":
                    pax_global.update(_parse_pax(raw, name))
                elif typeflag == b"L":
                    long_name = _decode(raw.rstrip(b"\0"))
                else:
                    long_link = _decode(raw.rstrip(b"\0"))
                continue
            sparse: Sparse | None = None
            real_size = size
            if typeflag == b"S":  # old GNU sparse: the map is in the header and extension blocks
                sparse, real_size = self._gnu_sparse(header, name)
                kind: str | None = "file"
            else:
                kind = KIND_BY_TYPEFLAG.get(typeflag)
            if kind is None:
                raise TarFormatError(f"unsupported tar entry type {typeflag!r}", name)
            # POSIX ustar only: in a GNU header these bytes are times and the sparse map
            if long_name is None and header[257:263] == b"ustar\0" and header[345:346] != b"\0":
                name = _cstr(header[345:500]) + "/" + name
            merged = {**pax_global, **pax}
            name = merged.get("GNU.sparse.name") or merged.get("path", name)
            link = long_link or merged.get("linkpath") or _cstr(header[157:257])
            if kind != "file":  # no data follows, whatever the size field claims
                padded = size = real_size = 0
            elif _is_pax_sparse(merged):
                sparse, real_size, map_bytes = self._pax_sparse(merged, pax_sparse, size, name)
                size -= map_bytes  # a 1.0 map sits at the start of the data
                padded -= map_bytes
            mtime_text = merged.get("mtime")
            mtime = (
                int(float(mtime_text)) if mtime_text else _number(header[136:148], "mtime", name)
            )
            devices = kind in ("chardev", "blockdev")
            member = Member(
                name=name,
                kind=kind,
                size=real_size,
                mode=_number(header[100:108], "mode", name) & 0o7777,
                mtime=mtime,
                link=link,
                devmajor=_number(header[329:337], "devmajor", name) if devices else 0,
                devminor=_number(header[337:345], "devminor", name) if devices else 0,
                sparse=sparse is not None,
            )
            if sparse is not None:
                _check_sparse(sparse, size, real_size, name)
            pax, long_name, long_link, pax_sparse = {}, None, None, []
            self._pending = padded
            self._data_left = size
            self._real_size = real_size
            self._sparse = sparse
            self.member = name
            yield member

    def _gnu_sparse(self, header: bytes, name: str) -> tuple[Sparse, int]:
        """Old GNU sparse ('S'): four map entries in the header, 21 more per extension block."""
        sparse = _sparse_entries(header[386:482], name)
        extended = header[482]
        while extended:
            block = self._take(BLOCK)
            sparse += _sparse_entries(block[:504], name)
            if len(sparse) > MAX_SPARSE_ENTRIES:
                raise TarFormatError("sparse map too long", name)
            extended = block[504]
        return sparse, _number(header[483:495], "sparse real size", name)

    def _pax_sparse(
        self, pax: dict[str, str], pairs: Sparse, size: int, name: str
    ) -> tuple[Sparse, int, int]:
        """(map, real size, map bytes read from the data) of a pax sparse member (0.0, 0.1, 1.0)."""
        if pax.get("GNU.sparse.major") == "1":
            real = _pax_int(pax.get("GNU.sparse.realsize", ""), "GNU.sparse.realsize", name)
            sparse, used = self._sparse_map_10(size, name)
            return sparse, real, used
        real = _pax_int(pax.get("GNU.sparse.size", ""), "GNU.sparse.size", name)
        if "GNU.sparse.map" in pax:
            numbers = [
                _pax_int(n, "GNU.sparse.map", name) for n in pax["GNU.sparse.map"].split(",")
            ]
            if len(numbers) % 2:
                raise TarFormatError("GNU.sparse.map has an odd count", name)
            pairs = list(zip(numbers[0::2], numbers[1::2], strict=True))
        return pairs, real, 0

    def _sparse_map_10(self, size: int, name: str) -> tuple[Sparse, int]:
        """Sparse 1.0 keeps its map as decimal lines (count, then offset/size pairs) at the
        start of the data, padded to a block; returns the map and the bytes it took."""
        text = b""
        used = 0
        while True:
            if used + BLOCK > min(size, MAX_META_BYTES):
                raise TarFormatError("sparse 1.0 map is truncated or too long", name)
            text += self._take(BLOCK)
            used += BLOCK
            lines = text.split(b"\n")
            if len(lines) > 1:
                count = _pax_int(_decode(lines[0]), "sparse map count", name)
                if count > MAX_SPARSE_ENTRIES:
                    raise TarFormatError("sparse map too long", name)
                if len(lines) > 1 + 2 * count:
                    break
        numbers = [_pax_int(_decode(n), "sparse map", name) for n in lines[1 : 1 + 2 * count]]
        return list(zip(numbers[0::2], numbers[1::2], strict=True)), used


def _is_pax_sparse(pax: dict[str, str]) -> bool:
    return "GNU.sparse.size" in pax or pax.get("GNU.sparse.major") == "1"


def _sparse_entries(raw: bytes, name: str) -> Sparse:
    """(offset, numbytes) pairs of 24 bytes each; an all-zero entry ends the list."""
    entries: Sparse = []
    for at in range(0, len(raw) - 23, 24):
        if raw[at : at + 24].strip(b"\0") == b"":
            break
        offset = _number(raw[at : at + 12], "sparse offset", name)
        entries.append((offset, _number(raw[at + 12 : at + 24], "sparse size", name)))
    return entries


def _pax_sparse_pairs(raw: bytes, name: str) -> Sparse:
    """Sparse 0.0 repeats GNU.sparse.offset/numbytes records, which a dict would collapse."""
    offsets: list[int] = []
    sizes: list[int] = []
    for key, value in _pax_records(raw, name):
        if key == "GNU.sparse.offset":
            offsets.append(_pax_int(value, key, name))
        elif key == "GNU.sparse.numbytes":
            sizes.append(_pax_int(value, key, name))
    if len(offsets) != len(sizes):
        raise TarFormatError("sparse 0.0 offsets and sizes do not pair up", name)
    return list(zip(offsets, sizes, strict=True))


def _check_sparse(sparse: Sparse, stored: int, real: int, name: str) -> None:
    """Every piece inside the real file, in order, and together exactly the stored bytes."""
    end = 0
    for offset, length in sparse:
        if offset < end or offset + length > real:
            raise TarFormatError(
                f"sparse map entry ({offset}, {length}) out of order or range", name
            )
        end = offset + length
    if sum(length for _, length in sparse) != stored:
        raise TarFormatError(
            f"sparse map covers {sum(n for _, n in sparse)} bytes but {stored} are stored", name
        )


def _expand(data: bytes, sparse: Sparse, real: int, name: str) -> bytes:
    """The real file: stored pieces at their offsets, zeros in the holes."""
    out = bytearray(real)
    at = 0
    for offset, length in sparse:
        out[offset : offset + length] = data[at : at + length]
        at += length
    return bytes(out)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _cstr(field: bytes) -> str:
    return _decode(field.split(b"\0", 1)[0])


def _number(field: bytes, what: str, name: str) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for values too large for octal
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:
            raise TarFormatError(f"negative {what} field", name)
        return value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarFormatError(f"{what} field is not a number: {field!r}", name) from None


def _check_sum(header: bytes, name: str) -> None:
    stored = _number(header[148:156], "checksum", name)
    unsigned = sum(header[:148]) + 8 * 32 + sum(header[156:])
    if stored != unsigned:
        signed = unsigned - sum(b for b in header if b > 127) * 2
        if stored != signed:
            raise TarFormatError("header checksum mismatch (not a tar archive, or corrupt)", name)


def _pax_int(text: str, what: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise TarFormatError(f"pax {what} is not an integer: {text!r}", name) from None
    if value < 0:
        raise TarFormatError(f"pax {what} is negative", name)
    return value


def _parse_pax(raw: bytes, name: str) -> dict[str, str]:
    return dict(_pax_records(raw, name))


def _pax_records(raw: bytes, name: str) -> list[tuple[str, str]]:
    """Every `LENGTH KEY=VALUE\\n` record in order (sparse 0.0 repeats keys)."""
    records: list[tuple[str, str]] = []
    pos = 0
    while pos < len(raw):
        space = raw.find(b" ", pos)
        if space < 0:
            if raw[pos:].strip(b"\0\n") == b"":
                break
            raise TarFormatError("malformed pax record", name)
        length = _pax_int(_decode(raw[pos:space]), "record length", name)
        record = raw[space + 1 : pos + length]
        if length <= space - pos or pos + length > len(raw) or not record.endswith(b"\n"):
            raise TarFormatError("malformed pax record", name)
        key, sep, value = record[:-1].partition(b"=")
        if not sep:
            raise TarFormatError("malformed pax record", name)
        records.append((_decode(key), _decode(value)))
        pos += length
    return records
