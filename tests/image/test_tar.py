"""The hand-written tar reader against Python's tarfile as the oracle."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
from imagekit import Item, device, file, hardlink, layer_tar, symlink

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


def test_truncated_inside_data_names_the_member() -> None:
    data = layer_tar([file("ok", "1"), file("cut", b"x" * 4000)])[:2500]
    with pytest.raises(TarFormatError, match="truncated") as caught:
        members_of(data)
    assert caught.value.member == "cut"


def test_device_numbers_match_tarfile() -> None:
    data = layer_tar([device("dev/null", "chardev", 1, 3), device("dev/sda", "blockdev", 8, 0)])
    stream = TarStream(io.BytesIO(data))
    ours = [(m.name, m.kind, m.devmajor, m.devminor) for m in stream]
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        theirs = [(m.name, m.devmajor, m.devminor) for m in archive]
    assert ours == [("dev/null", "chardev", 1, 3), ("dev/sda", "blockdev", 8, 0)]
    assert [(n, a, b) for n, _, a, b in ours] == theirs


def sparse_archive(tmp_path: Path, version: str) -> bytes:
    """GNU tar's own sparse encodings: 'gnu' (typeflag S, with extension blocks: 30 pieces)
    and pax 0.0, 0.1 and 1.0."""
    source = tmp_path / "src"
    source.mkdir()
    with (source / "holes").open("wb") as out:
        for piece in range(30):
            out.seek(piece * 65536)
            out.write(f"piece {piece}".encode())
        out.truncate(30 * 65536 + 100)
    (source / "after").write_text("plain")
    target = tmp_path / f"{version}.tar"
    fmt = (
        ["--format=gnu"] if version == "gnu" else ["--format=posix", f"--sparse-version={version}"]
    )
    subprocess.run(
        ["tar", *fmt, "--sparse", "-cf", str(target), "-C", str(source), "holes", "after"],
        check=True,
    )
    return target.read_bytes()


@pytest.mark.parametrize("version", ["gnu", "0.0", "0.1", "1.0"])
def test_sparse_members_get_real_names_sizes_and_bytes(tmp_path: Path, version: str) -> None:
    data = sparse_archive(tmp_path, version)
    stream = TarStream(io.BytesIO(data))
    ours = [(m.name, m.size, m.sparse, stream.read_data(1 << 24)) for m in stream]
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        theirs = [(m.name, m.size, archive.extractfile(m).read()) for m in archive]  # type: ignore[union-attr]
    assert [(n, s, d) for n, s, _, d in ours] == theirs
    assert [(n, sparse) for n, _, sparse, _ in ours] == [("holes", True), ("after", False)]


def test_sparse_member_over_the_limit_is_skipped_by_its_real_size(tmp_path: Path) -> None:
    stream = TarStream(io.BytesIO(sparse_archive(tmp_path, "1.0")))
    results = {m.name: stream.read_data(limit=64 << 10) for m in stream}
    assert results == {"holes": None, "after": b"plain"}


def test_sparse_map_beyond_the_real_size_names_the_member(tmp_path: Path) -> None:
    data = bytearray(sparse_archive(tmp_path, "0.1"))
    start = data.index(b"GNU.sparse.size=") + len("GNU.sparse.size=")
    data[start : start + 7] = b"0000100"  # same length: the map now runs past the file's end
    with pytest.raises(TarFormatError, match="sparse map entry") as caught:
        members_of(bytes(data))
    assert caught.value.member == "holes"
