"""Functions a binary may look up by name at run time instead of importing them.

`dlsym(RTLD_DEFAULT, "statx")` reaches a libc wrapper without an import: no symbol, no PLT
entry, only the name in read-only data (OpenJDK finds statx this way). Where a file imports
dlsym or dlvsym, every NUL-terminated string in its read-only data that names a system call
added since Linux 3.0 (the libc wrapper is named after its call: statx, copy_file_range,
pidfd_open...) is a possible use, unless the file also imports that function (the import
counts then). Older calls are left out: every profile allows them, and common words among
libc's function names ("system", "access") would only add noise. Possible, not certain: the
string may serve another end (Python names its os functions so).
"""

from __future__ import annotations

from functools import cache

from portwise.elf.parse import ElfFile
from portwise.knowledge import syscalls as table
from portwise.versions import version_key

LOOKUPS = frozenset({"dlsym", "dlvsym"})
SHT_PROGBITS, SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 0x1, 0x2, 0x4
NEWER_THAN = (3, 0)  # older calls are allowed by every profile: naming them adds only noise
MAX_READ = 64 << 20


@cache
def _candidates(arch: str) -> frozenset[bytes]:
    """Names as bytes: strings in read-only data are compared without decoding them."""
    return frozenset(
        name.encode()
        for name in table.table(arch).values()
        if version_key(table.introduced(name, arch) or "0") >= NEWER_THAN
    )


def looked_up(elf: ElfFile, data: bytes) -> tuple[str, ...]:
    """Names of syscall-issuing functions this file may look up with dlsym (sorted)."""
    if not any(i.name in LOOKUPS for i in elf.imports):
        return ()
    arch = elf.machine if elf.machine in table.ARCHES else "x86-64"
    wanted = _candidates(arch)
    found: set[bytes] = set()
    budget = MAX_READ
    for s in elf.sections:
        readonly = s.flags & SHF_ALLOC and not s.flags & (SHF_WRITE | SHF_EXECINSTR)
        if s.type != SHT_PROGBITS or not readonly or not s.size or s.name.startswith(".eh_frame"):
            continue
        size = min(s.size, budget, max(len(data) - s.offset, 0))
        budget -= size
        found.update(wanted.intersection(data[s.offset : s.offset + size].split(b"\0")))
    imported = {i.name for i in elf.imports}
    names = {name.decode() for name in found}
    return tuple(sorted(names - imported))  # an import is already a certain use
