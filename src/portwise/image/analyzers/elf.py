"""The ELF analyzer: every file whose first bytes are an ELF header, whatever its name."""

from __future__ import annotations

from typing import Any

from portwise.image.elf.parse import ElfError, ElfFile, libc_imports, parse_elf
from portwise.image.elf.syscalls import scan_syscalls
from portwise.image.elf.toolchain import go_version, is_rust, libc_of

MIN_ELF_SIZE = 52  # a 32-bit ELF header


def elf_facts(elf: ElfFile, data: bytes) -> dict[str, Any]:
    """The JSON-able record the scan caches for one binary (see model.image.ElfBinary)."""
    is_go, go = go_version(elf, data)
    libc = libc_of(elf, data, is_go)
    problems = list(elf.notes.problems)
    return {
        "elf_class": elf.elf_class,
        "endian": elf.endian,
        "machine": elf.machine,
        "type": elf.type,
        "linkage": elf.linkage,
        "interpreter": elf.interpreter,
        "needed": list(elf.needed),
        "soname": elf.soname,
        "runpath": list(elf.runpath),
        "rpath": list(elf.rpath),
        "version_needs": {lib: list(v) for lib, v in elf.version_needs.items()},
        "libc_imports": list(libc_imports(elf)),
        "libc": libc,
        "min_kernel": elf.notes.min_kernel,
        "x86_isa_needed": list(elf.notes.x86_isa_needed),
        "features": list(elf.notes.features),
        "max_load_align": elf.max_load_align,
        "go": is_go,
        "go_version": go,
        "rust": is_rust(elf, data),
        "direct_syscalls": _direct_syscalls(elf, data, is_go, libc, problems),
        "problems": problems,
    }


def makes_direct_syscalls(elf: ElfFile, is_go: bool, libc: str | None) -> bool:
    """Static and Go binaries issue syscalls themselves, and so does musl (its loader is its
    libc); glibc-linked dynamic binaries go through libc, which the libc model covers."""
    if elf.type not in ("EXEC", "DYN"):
        return False
    return is_go or elf.linkage != "dynamic" or libc == "musl"


def _direct_syscalls(
    elf: ElfFile, data: bytes, is_go: bool, libc: str | None, problems: list[str]
) -> dict[str, Any] | None:
    if not makes_direct_syscalls(elf, is_go, libc):
        return None
    scan = scan_syscalls(elf, data, fast=True)
    if scan is None:
        return None
    problems.extend(f"syscalls: {p}" for p in scan.problems)
    return {
        "arch": scan.arch,
        "mode": scan.mode,
        "sites": scan.sites,
        "resolved": dict(scan.resolved),
        "unresolved": scan.unresolved,
        "wrappers": list(scan.wrappers),
    }


class ElfAnalyzer:
    name = "elf"
    version = 4

    def wants(self, path: str, size: int, mode: int) -> bool:
        return size >= MIN_ELF_SIZE

    def analyze(self, path: str, content: bytes) -> Any:
        if not content.startswith(b"\x7fELF"):
            return None
        try:
            elf = parse_elf(content)
        except ElfError as exc:
            raise ValueError(f"malformed ELF file: {exc}") from None
        return elf_facts(elf, content)
