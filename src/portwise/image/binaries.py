"""Image-level facts on binaries: the most demanding requirement of each kind, and who sets it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from portwise.image.syscalls import CallerLookup, syscall_union
from portwise.model.image import (
    BinarySummary,
    ElfBinary,
    Libc,
    Requirement,
)
from portwise.versions import version_key

GLIBC_VERSION = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")
LISTED = 20
EXAMPLES = 5
ISA_ORDER = ["x86-64-baseline", "x86-64-v2", "x86-64-v3", "x86-64-v4"]
GLIBC_LIBRARIES = {
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libresolv.so.2",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libanl.so.1",
}


@cache
def _glibc_version(version: str) -> tuple[int, ...]:
    match = GLIBC_VERSION.match(version)
    return tuple(int(g) for g in match.groups() if g is not None) if match else ()


def glibc_needed(binary: ElfBinary) -> str | None:
    """Highest GLIBC_x.y this binary needs from glibc's own libraries, as "x.y"."""
    best = max(
        (
            _glibc_version(version)
            for library, versions in binary.version_needs.items()
            if library in GLIBC_LIBRARIES
            for version in versions
        ),
        default=(),
    )
    return ".".join(map(str, best)) if best else None


def stated_level(binary: ElfBinary) -> str | None:
    """A level above the baseline from the GNU property note: a floor the toolchain vouches
    for. A bare "baseline" note is not evidence (see elf/facts.needs_cpu_scan)."""
    above = [level for level in binary.x86_isa_needed if level != ISA_ORDER[0]]
    return max(above, key=ISA_ORDER.index) if above else None


def code_level(binary: ElfBinary) -> str | None:
    """The level a binary's code needs by disassembly (uses not shown to be dispatched), or None
    when it was not disassembled. Profiles older than schema 1.2 knew only whether the binary
    dispatched anywhere: then it needed the baseline."""
    cpu = binary.cpu
    if cpu is None:
        return None
    if cpu.required_level is not None:
        return cpu.required_level
    return ISA_ORDER[0] if cpu.dispatch else cpu.level


def required_level(binary: ElfBinary) -> str | None:
    """The x86-64 level a binary needs, or None when unknown: disassembly where it ran (the
    level of the uses not shown to run only after a CPU check), else a note above the
    baseline; the higher of the two when both are known."""
    stated = stated_level(binary)
    found = code_level(binary)
    if found is not None:
        return max(found, stated, key=ISA_ORDER.index) if stated else found
    return stated


def _top(
    values: Iterable[tuple[str, str]], rank: Callable[[str], Any], *, highest: bool = True
) -> Requirement | None:
    """The highest (or lowest) value by `rank`, with every binary that has exactly it."""
    pairs = list(values)
    if not pairs:
        return None
    chosen = (max if highest else min)(pairs, key=lambda p: rank(p[1]))[1]
    return requirement(chosen, [path for path, v in pairs if v == chosen])


def requirement(value: str, paths: list[str]) -> Requirement:
    return Requirement(value=value, count=len(paths), binaries=sorted(paths)[:LISTED])


def summarize(
    binaries: list[ElfBinary], libc: list[Libc], callers: CallerLookup | None = None
) -> BinarySummary:
    scanned = [(b.path, d) for b in binaries if (d := b.direct_syscalls) is not None]
    unresolved_paths: Counter[str] = Counter()
    for _, direct in scanned:
        unresolved_paths.update(direct.unresolved_paths)
    shipped = next((lib.version for lib in libc if lib.family == "glibc"), None)
    needs = [(b.path, v) for b in binaries if (v := glibc_needed(b))]
    newer: dict[str, list[str]] = {}
    if shipped:
        for path, version in needs:
            if version_key(version) > version_key(shipped):
                newer.setdefault(version, []).append(path)
    isa = [(b.path, level) for b in binaries if (level := required_level(b))]
    optional = [
        (b.path, b.cpu.level)
        for b in binaries
        if b.cpu is not None
        and ISA_ORDER.index(b.cpu.level) > ISA_ORDER.index(code_level(b) or ISA_ORDER[0])
    ]
    return BinarySummary(
        elf_files=len(binaries),
        glibc_shipped=shipped,
        glibc_needed=_top(needs, version_key),
        needs_newer_glibc=[
            requirement(v, paths)
            for v, paths in sorted(newer.items(), key=lambda i: version_key(i[0]))
        ],
        isa_level=_top(isa, ISA_ORDER.index),
        isa_level_dispatched=_top(optional, ISA_ORDER.index),
        cpu_unknown=sum(
            1
            for b in binaries
            if b.machine == "x86-64"
            and b.type in ("EXEC", "DYN")
            and b.cpu is None
            and stated_level(b) is None
        ),
        min_kernel=_top([(b.path, b.min_kernel) for b in binaries if b.min_kernel], version_key),
        smallest_load_align=_top(
            [
                (b.path, str(b.max_load_align))
                for b in binaries
                if b.max_load_align and b.type in ("EXEC", "DYN")
            ],
            int,
            highest=False,
        ),
        syscalls=syscall_union(binaries, libc, callers),
        unresolved_syscall_sites=sum(d.unresolved for _, d in scanned),
        unresolved_syscall_paths=dict(sorted(unresolved_paths.items())),
        unresolved_syscall_binaries=[
            f"{path} ({d.unresolved})"
            for path, d in sorted(scanned, key=lambda pd: (-pd[1].unresolved, pd[0]))
            if d.unresolved
        ][:LISTED],
        go_binaries=sorted(b.path for b in binaries if b.go),
        rust_binaries=sorted(b.path for b in binaries if b.rust),
        musl_binaries=sorted(b.path for b in binaries if b.libc == "musl"),
        static_binaries=sorted(b.path for b in binaries if b.linkage != "dynamic"),
    )
