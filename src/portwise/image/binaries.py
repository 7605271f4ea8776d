"""Image-level facts on binaries: the most demanding requirement of each kind, and who sets it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from portwise.knowledge.libc import PROCESS, SyscallUse, libc_syscalls
from portwise.knowledge.syscalls import number as syscall_number
from portwise.model.image import (
    BinarySummary,
    ElfBinary,
    Libc,
    Requirement,
    SyscallNeed,
    SyscallSource,
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


def required_level(binary: ElfBinary) -> str | None:
    """The x86-64 level a binary needs, or None when unknown: disassembly where it ran (unless
    the code picks instructions at run time: then the level is a choice, not a need), else a
    note above the baseline."""
    stated = stated_level(binary)
    if binary.cpu is not None and not binary.cpu.dispatch:
        found = binary.cpu.level
        return max(found, stated, key=ISA_ORDER.index) if stated else found
    if binary.cpu is not None:
        return stated or ISA_ORDER[0]  # dispatching code runs at the baseline
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


# (syscall, via, path, on_failure, fallback, fallback errnos, certain, source, condition)
SourceKey = tuple[str, str, str, str, str | None, tuple[str, ...], bool, str | None, str | None]
SITES = 5
NAMED_WRAPPER_SOURCE = (
    "portwise: an imported libc function named after a system call is taken to issue it"
    " (glibc's and musl's thin wrappers); the libc model has no entry for it"
)


@dataclass(slots=True)
class _Reach:
    binaries: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)


def _libc_key(u: SyscallUse, path: str, certain: bool) -> SourceKey:
    return (
        u.syscall, u.function, path, u.on_failure, u.fallback, u.fallback_errnos,
        u.certain and certain, u.source, u.condition,
    )  # fmt: skip


def _named_wrappers(unknown: list[str], machine: str) -> list[SyscallUse]:
    """Uses for imported functions the libc model lacks but that are named after a call."""
    uses = []
    for name in unknown:
        if syscall_number(machine, name) is not None:
            uses.append(SyscallUse(name, name, "error-returned", None, (), NAMED_WRAPPER_SOURCE))
    return uses


def syscall_union(binaries: list[ElfBinary], libc: list[Libc]) -> list[SyscallNeed]:
    """Every syscall the image may issue, with the path that reaches it: issued by a binary
    itself (an instruction, libc's syscall(), or a wrapper around either), through a libc
    function it imports or may look up with dlsym (knowledge/libc), with provenance.

    The libc model is asked once per (libc, architecture) for the union of imported names,
    then each binary picks the uses of its own imports: thousands of binaries share them.
    """
    shipped: dict[str, str | None] = {lib.family: lib.version for lib in libc}
    reached: dict[SourceKey, _Reach] = {}
    groups: dict[tuple[str, str], list[ElfBinary]] = {}
    for binary in binaries:
        direct = binary.direct_syscalls
        if direct is not None:
            for name in direct.resolved:
                for path in direct.paths.get(name) or ["direct"]:
                    key: SourceKey = (name, path, path, "unknown", None, (), True, None, None)
                    reach = reached.setdefault(key, _Reach())
                    reach.binaries.append(binary.path)
                    reach.sites.extend(
                        f"{binary.path} {e}"
                        for e in direct.evidence.get(name, ())
                        if e.split(" ", 2)[1] == path
                    )
        if binary.libc in ("glibc", "musl") and (binary.linkage == "dynamic" or binary.dlsym):
            groups.setdefault((str(binary.libc), binary.machine), []).append(binary)
    for (family, machine), members in groups.items():
        names = {name for b in members for name in (*b.libc_imports, *b.dlsym)}
        uses, unknown = libc_syscalls(family, shipped.get(family), machine, names)
        by_function: dict[str, list[SyscallUse]] = {}
        for u in [*uses, *_named_wrappers(unknown, machine)]:
            by_function.setdefault(u.function, []).append(u)
        for binary in members:
            process = binary.type == "EXEC" or binary.interpreter is not None
            chosen = [(n, "libc", True) for n in ([PROCESS] if process else [])]
            chosen += [(n, "libc", True) for n in binary.libc_imports]
            chosen += [(n, "dlsym", False) for n in binary.dlsym]
            for name, path, certain in chosen:
                for use in by_function.get(name, ()):
                    reach = reached.setdefault(_libc_key(use, path, certain), _Reach())
                    reach.binaries.append(binary.path)
    needs: dict[str, list[SyscallSource]] = {}
    for key, reach in sorted(reached.items(), key=_source_order):
        name, via, path, failure, fallback, errnos, certain, source, when = key
        needs.setdefault(name, []).append(
            SyscallSource(
                via=via,
                path=path,
                on_failure=failure,
                fallback=fallback,
                fallback_errnos=list(errnos),
                certain=certain,
                binaries=len(reach.binaries),
                examples=sorted(reach.binaries)[:EXAMPLES],
                sites=sorted(reach.sites)[:SITES],
                source=source,
                condition=when,
            )
        )
    return [SyscallNeed(name=name, sources=sources) for name, sources in sorted(needs.items())]


def _source_order(item: tuple[SourceKey, _Reach]) -> tuple[str, str, str, str]:
    key = item[0]
    return key[0], key[1], key[2], key[3]


def summarize(binaries: list[ElfBinary], libc: list[Libc]) -> BinarySummary:
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
    optional = [(b.path, b.cpu.level) for b in binaries if b.cpu is not None and b.cpu.dispatch]
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
        syscalls=syscall_union(binaries, libc),
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
