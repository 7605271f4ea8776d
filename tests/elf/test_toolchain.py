"""Toolchain and libc markers are searched only in the sections that hold them: same answers as
the whole-file searches they replaced (tests/toolchain_oracle.py), on real binaries."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import toolchain_oracle as oracle
from elf_oracles import elf_files_under

from portwise.elf.parse import ElfError, ElfFile, parse_elf
from portwise.elf.toolchain import go_version, is_rust, libc_of

SAMPLE = 400  # files per system directory: the bench checks every ELF file under /usr


def answers(module: object, elf: ElfFile, data: bytes) -> tuple[object, ...]:
    go = module.go_version(elf, data)  # type: ignore[attr-defined]
    return go, module.is_rust(elf, data), module.libc_of(elf, data, go[0])  # type: ignore[attr-defined]


def without_section_headers(data: bytes) -> bytes:
    """The ELF64 header with e_shoff, e_shnum and e_shstrndx zeroed, as sstrip leaves it."""
    out = bytearray(data)
    struct.pack_into("<Q", out, 0x28, 0)
    struct.pack_into("<HH", out, 0x3C, 0, 0)
    return bytes(out)


EXPECTED = {  # name -> (go, go version known, rust, libc)
    "musl-static": (False, False, False, "musl"),
    "glibc-static": (False, False, False, "glibc"),
    "go-amd64": (True, True, False, "none"),
    "esbuild-amd64": (True, False, False, "none"),  # esbuild carries no .go.buildinfo at all
    "esbuild-arm64": (True, False, False, "none"),
    "busybox": (False, False, False, "glibc"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_binaries(binaries: dict[str, dict[str, str]], name: str) -> None:
    data = Path(binaries[name]["path"]).read_bytes()
    elf = parse_elf(data)
    (go, version), rust, libc = answers_new = answers_of(elf, data)
    assert (go, version is not None, rust, libc) == EXPECTED[name]
    assert answers_new == answers(oracle, elf, data)


def answers_of(elf: ElfFile, data: bytes) -> tuple[tuple[bool, str | None], bool, str | None]:
    go = go_version(elf, data)
    return go, is_rust(elf, data), libc_of(elf, data, go[0])


@pytest.mark.parametrize("name", ["musl-static", "go-amd64", "esbuild-amd64", "glibc-static"])
def test_without_section_headers_the_whole_file_is_searched(
    binaries: dict[str, dict[str, str]], name: str
) -> None:
    data = without_section_headers(Path(binaries[name]["path"]).read_bytes())
    elf = parse_elf(data)
    assert not elf.sections
    assert answers_of(elf, data) == answers(oracle, elf, data)
    go, _, libc = answers_of(elf, data)
    if name == "go-amd64":
        assert go[1] is not None and go[1].startswith("go1.")  # found in the data segment
    elif name.endswith("static"):
        assert libc == EXPECTED[name][3]  # from .rodata and .strtab strings, now searched whole


def test_rust_binary_in_a_wheel() -> None:
    """pydantic_core (a dependency of portwise) is a Rust extension module."""
    import pydantic_core._pydantic_core as native

    data = Path(native.__file__).read_bytes()
    elf = parse_elf(data)
    assert is_rust(elf, data) and oracle.is_rust(elf, data)


@pytest.mark.parametrize("root", ["/usr/bin", "/usr/lib"])
def test_same_answers_as_whole_file_search(root: str) -> None:
    files = elf_files_under(root)[:SAMPLE]
    checked = 0
    for path in files:
        data = Path(path).read_bytes()
        try:
            elf = parse_elf(data)
        except ElfError:
            continue
        assert answers_of(elf, data) == answers(oracle, elf, data), path
        checked += 1
    assert checked > 50
