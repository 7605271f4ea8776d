"""pyelftools and LIEF reading the same ELF fields as portwise: test oracles and benchmark peers.

Known, explained differences are handled here, documented in tests/elf/test_parse_oracle.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lief
from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection
from elftools.elf.sections import NoteSection, SymbolTableSection

from portwise.elf.parse import PT_LOAD, parse_elf

MACHINE = {
    "EM_X86_64": "x86-64",
    "EM_386": "i386",
    "EM_AARCH64": "aarch64",
    "EM_ARM": "arm",
    "EM_PPC64": "ppc64",
    "EM_S390": "s390x",
    "EM_RISCV": "riscv64",
    "EM_MIPS": "mips",
    "EM_PPC": "ppc",
    "EM_SPARC": "sparc",
    "EM_SPARCV9": "sparcv9",
    "EM_SH": "sh",
    "EM_IA_64": "ia64",
    "EM_68K": "m68k",
    "EM_LOONGARCH": "loongarch64",
}


def machine_name(value: str | int, raw: int) -> str:
    """pyelftools' name in portwise's spelling; `raw` when portwise has no name for it."""
    if isinstance(value, int) or value not in MACHINE:
        return f"machine-{raw}"
    return MACHINE[value]


lief.logging.disable()


def elf_files_under(root: str) -> list[str]:
    found: list[str] = []

    def walk(directory: str) -> None:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path)
            elif entry.is_file(follow_symlinks=False):
                try:
                    with open(entry.path, "rb") as handle:
                        if handle.read(4) == b"\x7fELF":
                            found.append(entry.path)
                except OSError:
                    continue

    walk(root)
    return sorted(found)


def pyelftools_facts(path: str) -> dict[str, Any]:
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        facts: dict[str, Any] = {
            "elf_class": elf.elfclass,
            "endian": "little" if elf.little_endian else "big",
            "machine": _endian_name(
                elf.little_endian,
                machine_name(
                    elf["e_machine"],
                    elf.header["e_machine"]
                    if isinstance(elf["e_machine"], int)
                    else _raw_machine(path),
                ),
            ),
            "type": elf["e_type"].removeprefix("ET_"),
            "interpreter": None,
            "needed": (),
            "soname": None,
            "runpath": (),
            "rpath": (),
            "min_kernel": None,
        }
        aligns = []
        for segment in elf.iter_segments():
            kind = segment["p_type"]
            if kind == "PT_INTERP" and segment["p_filesz"]:
                facts["interpreter"] = segment.get_interp_name()
            elif kind == "PT_LOAD":
                aligns.append(segment["p_align"])
            elif kind == "PT_NOTE":
                _abi_tag(segment.iter_notes(), facts)
            if isinstance(segment, DynamicSegment):
                tags = list(segment.iter_tags())
                facts["needed"] = tuple(t.needed for t in tags if t.entry.d_tag == "DT_NEEDED")
                sonames = [t.soname for t in tags if t.entry.d_tag == "DT_SONAME"]
                facts["soname"] = sonames[0] if sonames else None
                for tag, key in (("DT_RUNPATH", "runpath"), ("DT_RPATH", "rpath")):
                    values = [getattr(t, key) for t in tags if t.entry.d_tag == tag]
                    facts[key] = tuple(p for p in values[0].split(":") if p) if values else ()
        if not any(s["p_type"] == "PT_NOTE" for s in elf.iter_segments()):
            for section in elf.iter_sections():  # object files: notes live in sections only
                if isinstance(section, NoteSection):
                    _abi_tag(section.iter_notes(), facts)
        facts["max_load_align"] = max(aligns, default=0)
        facts["version_needs"], facts["imports"], facts["notype"] = _versions_and_imports(elf)
    return facts


def _endian_name(little: bool, name: str) -> str:
    """64-bit PowerPC is named by byte order, as distributions and OCI platforms name it."""
    return "ppc64le" if name == "ppc64" and little else name


def _raw_machine(path: str) -> int:
    head = Path(path).read_bytes()[:20]
    return int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")


def _abi_tag(notes: Any, facts: dict[str, Any]) -> None:
    for note in notes:
        if note["n_type"] == "NT_GNU_ABI_TAG":
            desc = note["n_desc"]
            facts["min_kernel"] = f"{desc['abi_major']}.{desc['abi_minor']}.{desc['abi_tiny']}"


def _versions_and_imports(elf: ELFFile) -> tuple[dict[str, tuple[str, ...]], set[Any], set[str]]:
    needs: dict[str, tuple[str, ...]] = {}
    by_index: dict[int, tuple[str, str]] = {}
    versym = None
    for section in elf.iter_sections():
        if isinstance(section, GNUVerNeedSection):
            for verneed, auxes in section.iter_versions():
                names = []
                for aux in auxes:
                    names.append(aux.name)
                    by_index[aux["vna_other"] & 0x7FFF] = (aux.name, verneed.name)
                needs[verneed.name] = tuple(names)
        elif isinstance(section, GNUVerSymSection):
            versym = section
    imports = set()
    notype = set()
    dynsym = elf.get_section_by_name(".dynsym")
    if isinstance(dynsym, SymbolTableSection):  # NOBITS in separate debug files
        for index, symbol in enumerate(dynsym.iter_symbols()):
            if index == 0 or symbol["st_shndx"] != "SHN_UNDEF" or not symbol.name:
                continue
            version = None
            if versym is not None:
                ndx = versym.get_symbol(index)["ndx"]
                if isinstance(ndx, int):
                    version = by_index.get(ndx & 0x7FFF)
            imports.add((symbol.name, *(version or (None, None))))
            if symbol["st_info"]["type"] == "STT_NOTYPE":
                notype.add(symbol.name)
    return needs, imports, notype


def portwise_facts(path: str) -> dict[str, Any]:
    elf = parse_elf(Path(path).read_bytes())
    return {
        "elf_class": elf.elf_class,
        "endian": elf.endian,
        "machine": elf.machine,
        "type": elf.type,
        "interpreter": elf.interpreter,
        "needed": elf.needed,
        "soname": elf.soname,
        "runpath": elf.runpath,
        "rpath": elf.rpath,
        "min_kernel": elf.notes.min_kernel,
        "max_load_align": max((s.align for s in elf.segments if s.type == PT_LOAD), default=0),
        "version_needs": elf.version_needs,
        "imports": {(i.name, i.version, i.library) for i in elf.imports},
    }


def compare_with_pyelftools(path: str) -> list[str]:
    ours, theirs = portwise_facts(path), pyelftools_facts(path)
    return [
        f"{path}: {key}: portwise {ours[key]!r} != pyelftools {theirs[key]!r}"
        for key in ours
        if ours[key] != theirs[key]
    ]


def lief_facts(path: str) -> dict[str, Any] | None:
    """The fields LIEF gives for what portwise reads (LIEF reads the whole file)."""
    binary = lief.ELF.parse(path)
    if binary is None:
        return None
    abi = [n.version for n in binary.notes if isinstance(n, lief.ELF.NoteAbi)]
    return {
        "interpreter": binary.interpreter if binary.has_interpreter else None,
        "needed": tuple(binary.libraries),
        "version_needs": {
            r.name: tuple(a.name for a in r.get_auxiliary_symbols())
            for r in binary.symbols_version_requirement
        },
        "imports": {s.name for s in binary.dynamic_symbols if s.imported},
        "min_kernel": ".".join(map(str, abi[0])) if abi else None,
        "max_load_align": max(
            (s.alignment for s in binary.segments if s.type == lief.ELF.Segment.TYPE.LOAD),
            default=0,
        ),
    }


def compare_with_lief(path: str) -> list[str]:
    ours = parse_elf(Path(path).read_bytes())
    theirs = lief_facts(path)
    if theirs is None:
        return [f"{path}: LIEF could not parse it"]
    differences = []
    if theirs["interpreter"] is not None and theirs["interpreter"] != ours.interpreter:
        differences.append(f"{path}: interpreter {ours.interpreter!r} != {theirs['interpreter']!r}")
    if theirs["needed"] != ours.needed:
        differences.append(f"{path}: needed {ours.needed!r} != {theirs['needed']!r}")
    if theirs["version_needs"] != ours.version_needs:
        differences.append(f"{path}: version needs differ")
    missing = theirs["imports"] - {i.name for i in ours.imports}
    if missing:
        differences.append(f"{path}: LIEF imports missing from portwise: {sorted(missing)[:5]}")
    return differences
