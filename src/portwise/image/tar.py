"""A streaming tar reader for untrusted layers.

Hand-written rather than `tarfile` because it is the hot loop of every cold scan (one call per
member of every layer) and because hostile input needs precise errors; `tarfile` stays as the
test oracle. It reads ustar, GNU long names and pax headers, and never seeks.
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


class TarStream:
    """Iterate members; between two `next` calls the caller may `read_data` or leave it skipped."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._buf = b""
        self._pos = 0
        self._pending = 0  # data + padding bytes of the current member not consumed yet
        self._data_left = 0
        self.consumed = 0

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
                raise TarFormatError(f"archive truncated: needed {n - have} more bytes")
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
                raise TarFormatError(f"archive truncated: {n} bytes of member data missing")
            if len(chunk) > n:
                self._buf, self._pos = chunk, n
                self.consumed += n
                return
            n -= len(chunk)
            self.consumed += len(chunk)

    def read_data(self, limit: int) -> bytes | None:
        """The current member's data, or None (data skipped) when it is larger than `limit`."""
        size = self._data_left
        if size > limit:
            return None
        data = self._take(size)
        self._skip(self._pending - size)
        self._pending = self._data_left = 0
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
        while True:
            self._skip(self._pending)
            self._pending = self._data_left = 0
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
                elif typeflag == b"g":
                    pax_global.update(_parse_pax(raw, name))
                elif typeflag == b"L":
                    long_name = _decode(raw.rstrip(b"\0"))
                else:
                    long_link = _decode(raw.rstrip(b"\0"))
                continue
            kind = KIND_BY_TYPEFLAG.get(typeflag)
            if kind is None:
                raise TarFormatError(f"unsupported tar entry type {typeflag!r}", name)
            if long_name is None and header[257:262] == b"ustar" and header[345:346] != b"\0":
                name = _cstr(header[345:500]) + "/" + name
            merged = {**pax_global, **pax}
            name = merged.get("path", name)
            link = long_link or merged.get("linkpath") or _cstr(header[157:257])
            if kind != "file":  # no data follows, whatever the size field claims
                padded = size = 0
            mtime_text = merged.get("mtime")
            mtime = (
                int(float(mtime_text)) if mtime_text else _number(header[136:148], "mtime", name)
            )
            member = Member(
                name=name,
                kind=kind,
                size=size,
                mode=_number(header[100:108], "mode", name) & 0o7777,
                mtime=mtime,
                link=link,
            )
            pax, long_name, long_link = {}, None, None
            self._pending = padded
            self._data_left = size
            yield member


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
    records: dict[str, str] = {}
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
        records[_decode(key)] = _decode(value)
        pos += length
    return records
