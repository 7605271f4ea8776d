"""The hand-written tar reader against Python's tarfile as the oracle."""

from __future__ import annotations

import io
import tarfile

import pytest
from imagekit import Item, file, hardlink, layer_tar, symlink

from portwise.image.tar import TarFormatError, TarStream


def members_of(data: bytes) -> list[tuple[str, str, int, str]]:
    stream = TarStream(io.BytesIO(data))
    return [(m.name.rstrip("/"), m.kind, m.size, m.link) for m in stream]  # tarfile strips "/"


def oracle(data: bytes) -> list[tuple[str, str, int, str]]:
    kinds = {
        tarfile.REGTYPE: "file",
        tarfile.DIRTYPE: "dir",
        tarfile.SYMTYPE: "symlink",
        tarfile.LNKTYPE: "hardlink",
        tarfile.FIFOTYPE: "fifo",
    }
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return [
            (m.name, kinds[m.type], m.size if m.isfile() else 0, m.linkname)
            for m in archive.getmembers()
        ]


ITEMS = [
    Item("etc", kind="dir", mode=0o755),
    file("etc/hostname", "box\n"),
    symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
    hardlink("etc/hostname2", "etc/hostname"),
    file("usr/share/" + "long-directory-name/" * 12 + "file.txt", "deep"),
    symlink("link-" + "x" * 150, "target-" + "y" * 150),
    file("unicode-ñame-✓", "u"),
    file("empty", b""),
    file("block-sized", b"z" * 512),
    Item("fifo", kind="fifo"),
]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_members_match_tarfile(fmt: int) -> None:
    items = (
        ITEMS
        if fmt != tarfile.USTAR_FORMAT
        else [i for i in ITEMS if len(i.name) < 100 and len(i.link) < 100]
    )
    data = layer_tar(items, fmt=fmt)
    assert members_of(data) == oracle(data)


def test_read_data_and_skip() -> None:
    data = layer_tar([file("a", b"A" * 1000), file("b", b"B" * 3), file("c", b"C" * 70000)])
    stream = TarStream(io.BytesIO(data))
    seen = {}
    for member in stream:
        if member.name != "b":
            seen[member.name] = stream.read_data(limit=1 << 20)
    assert seen == {"a": b"A" * 1000, "c": b"C" * 70000}


def test_read_data_over_limit_is_skipped_not_loaded() -> None:
    data = layer_tar([file("big", b"x" * 5000), file("after", b"ok")])
    stream = TarStream(io.BytesIO(data))
    results = {m.name: stream.read_data(limit=100) for m in stream}
    assert results == {"big": None, "after": b"ok"}


def test_checksum_error_names_member() -> None:
    data = bytearray(layer_tar([file("good", "1"), file("bad", "2")]))
    data[512 * 2 + 10] ^= 0xFF  # inside the second header's name field
    with pytest.raises(TarFormatError, match="checksum"):
        members_of(bytes(data))


def test_truncated_inside_data() -> None:
    data = layer_tar([file("a", b"x" * 4000)])[:1500]
    with pytest.raises(TarFormatError, match="truncated"):
        members_of(data)


def test_hostile_pax_record_length() -> None:
    data = bytearray(layer_tar([file("a" * 200, "x")]))  # pax header carries the long path
    start = data.index(b"path=") - 4
    data[start : start + 3] = b"999"  # record claims to run past its block
    with pytest.raises(TarFormatError):
        members_of(bytes(data))
