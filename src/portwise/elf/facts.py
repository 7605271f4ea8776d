"""Facts about one ELF file, whatever holds it (an image layer, a root filesystem, a file).

The record is JSON-able: the image scan caches it per layer (see model.image.ElfBinary).
"""

from __future__ import annotations

import re
from typing import Any

from portwise.elf.dlsym import looked_up
from portwise.elf.isa import scan_isa
from portwise.elf.parse import ElfFile, libc_imports
from portwise.elf.syscalls import scan_syscalls
from portwise.elf.toolchain import go_version, is_rust, libc_of

BASELINE = "x86-64-baseline"


def elf_facts(elf: ElfFile, data: bytes, *, cpu_scan: bool = False) -> dict[str, Any]:
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
        "direct_syscalls": _direct_syscalls(elf, data, libc, problems),
        "dlsym": list(looked_up(elf, data)),
        "cpu": _cpu(elf, data, problems) if cpu_scan else None,
        "problems": problems,
    }


def needs_cpu_scan(elf: ElfFile) -> bool:
    """x86-64 code whose GNU property note does not state a level above the baseline.

    A "baseline" note proves nothing: the linker ORs the notes of its inputs, gcc 12 writes
    none for code built with -march=x86-64-v3 unless asked (-mneeded), and glibc's start files
    carry "baseline" -- so a v3 program is marked baseline (tests/elf/test_isa.py).
    Decoding costs ~10 ms to ~0.5 s per binary (bench/isa_speed.py) and multiplies a cold scan
    of a Python image by ~3, so it runs on request (--cpu-scan); without it those binaries'
    level is reported unknown, never assumed.
    """
    stated_above_baseline = any(level != BASELINE for level in elf.notes.x86_isa_needed)
    return elf.machine == "x86-64" and elf.type in ("EXEC", "DYN") and not stated_above_baseline


def _cpu(elf: ElfFile, data: bytes, problems: list[str]) -> dict[str, Any] | None:
    if not needs_cpu_scan(elf):
        return None
    scan = scan_isa(elf, data)
    if scan is None:
        return None
    problems.extend(f"cpu: {p}" for p in scan.problems)
    return {
        "extensions": list(scan.extensions),
        "level": scan.level,
        "dispatch": scan.dispatch,
        "evidence": list(scan.evidence),
        "required": list(scan.required),
        "required_level": scan.required_level,
    }


# glibc's own libraries: the libc model describes what their functions issue, so scanning
# their code would list every call any function could make (by SONAME, as the loader names them)
GLIBC_OWN = re.compile(
    r"(?:libc\.so\.6|ld-linux[\w.-]*\.so\.\d|ld64\.so\.\d|libpthread\.so\.0|libm\.so\.6"
    r"|libdl\.so\.2|librt\.so\.1|libresolv\.so\.2|libutil\.so\.1|libanl\.so\.1"
    r"|libnss_\w+\.so\.2|libmvec\.so\.1|libBrokenLocale\.so\.1|libthread_db\.so\.1"
    r"|libc_malloc_debug\.so\.0|libnsl\.so\.1|libmemusage\.so|libpcprofile\.so)\Z"
)


def makes_direct_syscalls(elf: ElfFile, libc: str | None) -> bool:
    """Every program and shared library may issue calls itself (inline assembly, libc's
    syscall()), except glibc's own libraries, which the libc model covers."""
    if elf.type not in ("EXEC", "DYN"):
        return False
    return not (libc in ("glibc", None) and GLIBC_OWN.match(elf.soname or ""))


def _direct_syscalls(
    elf: ElfFile, data: bytes, libc: str | None, problems: list[str]
) -> dict[str, Any] | None:
    """The scan's record, or None when the file was not scanned or issues nothing itself."""
    if not makes_direct_syscalls(elf, libc):
        return None
    scan = scan_syscalls(elf, data, fast=True)
    if scan is None:
        return None
    problems.extend(f"syscalls: {p}" for p in scan.problems)
    if not (scan.sites or scan.resolved or scan.unresolved):
        return None
    return {
        "arch": scan.arch,
        "mode": scan.mode,
        "sites": scan.sites,
        "resolved": dict(scan.resolved),
        "unresolved": scan.unresolved,
        "wrappers": list(scan.wrappers),
        "paths": {name: list(p) for name, p in scan.paths.items()},
        "evidence": {name: list(e) for name, e in scan.evidence.items()},
        "unresolved_paths": dict(scan.unresolved_paths),
    }
