"""RPM package databases: header blobs and the three storage formats rpm has used for them.

Every format stores one header blob per installed package; the blob is what rpm itself reads,
so all three readers end in `parse_header`. Input comes from untrusted images: every length and
offset is checked against the bytes at hand, and nothing is allocated beyond the input's size.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Final, Literal

from portwise.image.packages import PackageRecord, ParseResult
from portwise.image.packages.rpm_bdb import read_hash_file
from portwise.image.packages.rpm_ndb import read_blobs

RpmDbKind = Literal["sqlite", "bdb", "ndb"]

# In-image paths (no leading slash) of the Packages store, by format.
DATABASE_PATHS: Final[Mapping[str, RpmDbKind]] = MappingProxyType(
    {
        "var/lib/rpm/rpmdb.sqlite": "sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite": "sqlite",
        "var/lib/rpm/Packages": "bdb",
        "var/lib/rpm/Packages.db": "ndb",
        "usr/lib/sysimage/rpm/Packages.db": "ndb",
    }
)

_TAG_NAMES: Final = {
    1000: "NAME",
    1001: "VERSION",
    1002: "RELEASE",
    1003: "EPOCH",
    1006: "BUILDTIME",
    1008: "INSTALLTIME",
    1022: "ARCH",
    1044: "SOURCERPM",
}
_STRING, _STRING_ARRAY, _I18NSTRING, _INT32, _MAX_TYPE = 6, 8, 9, 4, 9
_MAX_TAGS: Final = 0xFFFF  # rpm's own HEADER_TAGS_MAX
_MAX_DATA: Final = 0x0FFFFFFF  # rpm's own HEADER_DATA_MAX
_INDEX_ENTRY = struct.Struct(">IIII")

_Entry = tuple[int, int, int]  # type, offset, count


def parse_header(blob: bytes) -> PackageRecord:
    """Read one rpmdb header blob (il, dl, index entries, data store) into a package record.

    version is "[epoch:]version-release" as `rpm -q --qf '%{EVR}'` shows it (an Epoch of 0 is
    shown because rpm shows it). source_name/source_version come from SOURCERPM's file name, so
    the source version never carries an epoch. gpg-pubkey pseudo packages are kept, as `rpm -qa`
    lists them; they have no ARCH and no SOURCERPM, so those fields are None.
    Raises ValueError naming the first structural problem met.
    """
    size = len(blob)
    if size < 8:
        raise ValueError(f"RPM header too short: {size} bytes, the fixed part alone is 8")
    il, dl = struct.unpack_from(">II", blob, 0)
    if il == 0 or il > _MAX_TAGS:
        raise ValueError(f"RPM header index count {il} outside 1..{_MAX_TAGS}")
    if dl > _MAX_DATA:
        raise ValueError(f"RPM header data length {dl} exceeds rpm's limit {_MAX_DATA}")
    data_start = 8 + 16 * il
    if size != data_start + dl:
        raise ValueError(
            f"RPM header is {size} bytes but its index says {data_start + dl} "
            f"(8 + 16 * {il} entries + {dl} data bytes)"
        )
    entries: dict[int, _Entry] = {}
    for tag, kind, offset, count in _INDEX_ENTRY.iter_unpack(memoryview(blob)[8:data_start]):
        # rpm's own per-entry checks; the data of the tags we use is checked when read
        if kind > _MAX_TYPE or offset > dl or not 0 < count <= dl:
            label = _TAG_NAMES.get(tag, str(tag))
            raise ValueError(
                f"RPM header tag {label} entry out of range: type {kind}, offset {offset}, "
                f"count {count}, for a data store of {dl} bytes"
            )
        if tag in _TAG_NAMES:
            entries[tag] = (kind, offset, count)  # a later entry overrides, as rpm's dribbles do
    header = _Header(blob, data_start, dl, entries)
    name = header.string(1000)
    version = header.string(1001)
    release = header.string(1002)
    if name is None or version is None or release is None:
        missing = [
            t for t, v in (("NAME", name), ("VERSION", version), ("RELEASE", release)) if v is None
        ]
        raise ValueError(f"RPM header lacks {', '.join(missing)}")
    epoch = header.uint32(1003)
    source = split_source_rpm(header.string(1044))
    return PackageRecord(
        name=name,
        version=f"{version}-{release}" if epoch is None else f"{epoch}:{version}-{release}",
        architecture=header.string(1022),
        source_name=source[0] if source else None,
        source_version=source[1] if source else None,
        installed_at=header.uint32(1008),
        built_at=header.uint32(1006),
    )


class _Header:
    """Bounds-checked access to the few tags we read; offsets are relative to the data store."""

    __slots__ = ("blob", "data_start", "dl", "entries")

    def __init__(self, blob: bytes, data_start: int, dl: int, entries: dict[int, _Entry]) -> None:
        self.blob, self.data_start, self.dl, self.entries = blob, data_start, dl, entries

    def string(self, tag: int) -> str | None:
        entry = self.entries.get(tag)
        if entry is None:
            return None
        kind, offset, count = entry
        label = _TAG_NAMES[tag]
        if kind not in (_STRING, _STRING_ARRAY, _I18NSTRING):
            raise ValueError(f"RPM header tag {label} has type {kind}, expected a string type")
        if count < 1 or (kind == _STRING and count != 1):
            raise ValueError(f"RPM header tag {label} has bad string count {count}")
        if offset >= self.dl:
            raise ValueError(
                f"RPM header tag {label} offset {offset} outside data store of {self.dl} bytes"
            )
        start = self.data_start + offset
        end = self.blob.find(b"\0", start, self.data_start + self.dl)
        if end < 0:
            raise ValueError(f"RPM header tag {label} string is not NUL-terminated in the data")
        return self.blob[start:end].decode("utf-8", "replace")

    def uint32(self, tag: int) -> int | None:
        entry = self.entries.get(tag)
        if entry is None:
            return None
        kind, offset, count = entry
        label = _TAG_NAMES[tag]
        if kind != _INT32:
            raise ValueError(f"RPM header tag {label} has type {kind}, expected INT32 (4)")
        if count < 1 or offset + 4 * count > self.dl:
            raise ValueError(
                f"RPM header tag {label} ({count} x 4 bytes at offset {offset}) "
                f"outside data store of {self.dl} bytes"
            )
        start = self.data_start + offset
        return int.from_bytes(self.blob[start : start + 4], "big")


def split_source_rpm(filename: str | None) -> tuple[str, str] | None:
    """Name and version-release of a source rpm file name, e.g. "bash-5.1.8-6.el9.src.rpm" ->
    ("bash", "5.1.8-6.el9"); None when the name has no such shape."""
    if not filename or not filename.endswith(".rpm"):
        return None
    stem, dot, _arch = filename[:-4].rpartition(".")
    rest, _, release = stem.rpartition("-")
    name, _, version = rest.rpartition("-")
    if not (dot and name and version and release):
        return None
    return name, f"{version}-{release}"


def _parse_blobs(items: Iterable[tuple[int, bytes]], problems: list[str]) -> ParseResult:
    """Parse each numbered blob; a bad one becomes a problem and the rest are still read."""
    packages: list[PackageRecord] = []
    for number, blob in items:
        try:
            packages.append(parse_header(blob))
        except ValueError as exc:
            problems.append(f"package {number}: {exc}")
    return ParseResult(packages, problems)


_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_SQLITE_STEP_BUDGET: Final = 20_000  # progress callbacks of 1000 VM steps: ~2e7 steps, ample


def parse_sqlite(content: bytes) -> ParseResult:
    """Read rpm >= 4.16's rpmdb.sqlite (table Packages(hnum, blob)) entirely in memory.

    rpm keeps the file in WAL mode, which an in-memory SQLite cannot open, so the copy is marked
    as rollback-journal; only the main file is read (rpm checkpoints its -wal when it closes).
    The connection is query-only, keeps temporary data in memory, refuses a Packages view, and
    the whole read has a step budget, so a hostile file can neither write nor hang us.
    """
    if len(content) < 100 or not content.startswith(_SQLITE_MAGIC):
        raise ValueError("rpmdb.sqlite is not an SQLite 3 database (bad magic or too short)")
    image = bytearray(content)
    for at in (18, 19):  # file format write/read version: 2 = WAL
        if image[at] == 2:
            image[at] = 1
    steps = 0

    def budget() -> int:
        nonlocal steps
        steps += 1
        return 1 if steps > _SQLITE_STEP_BUDGET else 0

    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(image)
        connection.set_progress_handler(budget, 1000)
        pragmas = (
            "query_only = ON",
            "trusted_schema = OFF",
            "cell_size_check = ON",
            "temp_store = MEMORY",
        )
        for pragma in pragmas:
            connection.execute(f"PRAGMA {pragma}")
        found = connection.execute(
            "SELECT type, sql FROM sqlite_master WHERE name = 'Packages' COLLATE NOCASE"
        ).fetchall()
        if not found:
            raise ValueError("rpmdb.sqlite has no Packages table")
        kind, sql = found[0]
        if kind != "table" or str(sql).lstrip().upper().startswith("CREATE VIRTUAL"):
            raise ValueError(f"rpmdb.sqlite Packages is a {kind}, not a plain table")
        rows: list[tuple[object, object]] = connection.execute(
            "SELECT hnum, blob FROM Packages ORDER BY hnum"
        ).fetchall()
    except (sqlite3.Error, OverflowError, MemoryError) as exc:
        raise ValueError(f"rpmdb.sqlite unreadable: {exc}") from exc
    finally:
        connection.close()
    problems: list[str] = []
    items: list[tuple[int, bytes]] = []
    for hnum, blob in rows:
        if not isinstance(hnum, int) or not isinstance(blob, bytes):
            problems.append(f"package {hnum!r}: blob column is {type(blob).__name__}, not a blob")
            continue
        items.append((hnum, blob))
    return _parse_blobs(items, problems)


def parse_bdb(content: bytes) -> ParseResult:
    """Read the Berkeley DB hash `Packages` file of older rpm (RHEL <= 8, CentOS 7).

    Keys are 4-byte package numbers in the file's byte order; key 0 holds rpm's instance
    counter, not a package, and is skipped. Records come out in package-number order.
    """
    contents = read_hash_file(content)
    items: list[tuple[int, bytes]] = []
    for key, value in contents.pairs:
        if len(key) != 4:
            contents.problems.append(f"record with {len(key)}-byte key skipped: rpm uses 4 bytes")
            continue
        number = int.from_bytes(key, contents.byteorder)
        if number:
            items.append((number, value))
    items.sort(key=lambda item: item[0])
    return _parse_blobs(items, contents.problems)


def parse_ndb(content: bytes) -> ParseResult:
    """Read rpm's own NDB `Packages.db` (rpm >= 4.16 on SUSE), in package-number order."""
    blobs, problems = read_blobs(content)
    return _parse_blobs(blobs, problems)


PARSERS: Final[Mapping[RpmDbKind, Callable[[bytes], ParseResult]]] = MappingProxyType(
    {"sqlite": parse_sqlite, "bdb": parse_bdb, "ndb": parse_ndb}
)
