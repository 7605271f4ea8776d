"""The hand-written ELF parser against pyelftools and LIEF, field by field, on every ELF file
under /usr of the test machine (and the real binaries of test_parse.py).

Known, explained differences (asserted, not skipped):
- imports: LIEF's `imported_symbols` leaves out undefined symbols that are not functions or
  objects (weak NOTYPE ones such as __gmon_start__); portwise and pyelftools keep every
  undefined dynamic symbol. The comparison with LIEF is therefore portwise ⊇ LIEF, with the
  extra ones required to be NOTYPE (checked against pyelftools' symbol types).
- a PT_INTERP whose p_filesz is 0 (separate debug files keep the header, not the bytes):
  pyelftools decodes whatever lies at p_offset; portwise reports no interpreter (the linkage
  still says dynamic). The oracle is read the same way.
- machines neither side names: compared by number.
"""

from __future__ import annotations

import os
from pathlib import Path

import lief
import pytest
from elf_oracles import (
    compare_with_lief,
    compare_with_pyelftools,
    elf_files_under,
    pyelftools_facts,
)

from portwise.elf.parse import parse_elf

CHUNKS = 16


@pytest.fixture(scope="module")
def usr_elf_files() -> list[str]:
    files = elf_files_under("/usr")
    assert len(files) > 500
    return files


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_every_usr_elf_matches_pyelftools(usr_elf_files: list[str], chunk: int) -> None:
    differences: list[str] = []
    for path in usr_elf_files[chunk::CHUNKS]:
        differences += compare_with_pyelftools(path)
    assert differences == []


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_every_usr_elf_matches_lief(usr_elf_files: list[str], chunk: int) -> None:
    differences: list[str] = []
    for path in usr_elf_files[chunk::CHUNKS]:
        if os.path.getsize(path) > 64 << 20:
            continue  # LIEF loads whole files; pyelftools covers the largest ones
        differences += compare_with_lief(path)
    assert differences == []


def test_lief_omits_only_notype_imports() -> None:
    """The documented difference: what portwise adds over LIEF are NOTYPE undefined symbols."""
    path = "/usr/bin/ls"
    ours = {i.name for i in parse_elf(Path(path).read_bytes()).imports}
    binary = lief.ELF.parse(path)  # keep it alive while its symbols are read
    lief_names = {s.name for s in binary.dynamic_symbols if s.imported}
    extra = ours - lief_names
    assert extra and extra <= pyelftools_facts(path)["notype"]


def test_real_binaries_match_both_oracles(
    binaries: dict[str, dict[str, str]], isa_bins: Path
) -> None:
    """The non-/usr real binaries: Go (esbuild old and new, stripped), static glibc and musl,
    aarch64, and the ISA test programs; wheels are covered by test_parse.py's fixtures."""
    paths = [entry["path"] for entry in binaries.values()]
    paths += [str(p) for p in isa_bins.iterdir() if p.read_bytes()[:4] == b"\x7fELF"]
    assert len(paths) > 15
    differences: list[str] = []
    for path in paths:
        differences += compare_with_pyelftools(path) + compare_with_lief(path)
    assert differences == []
