"""The registry of analyzers a scan runs over every layer, declared explicitly, in one place."""

from __future__ import annotations

from portwise.image.analyzer import Analyzer
from portwise.image.analyzers.elf import ElfAnalyzer
from portwise.image.analyzers.libc import LibcAnalyzer
from portwise.image.analyzers.osrelease import OsReleaseAnalyzer
from portwise.image.analyzers.packagedb import (
    ApkAnalyzer,
    DpkgAnalyzer,
    RpmAnalyzer,
)
from portwise.image.analyzers.runtimeversions import RuntimeVersionsAnalyzer

DEFAULT_ANALYZERS: tuple[Analyzer, ...] = (
    OsReleaseAnalyzer(),
    DpkgAnalyzer(),
    RpmAnalyzer(),
    ApkAnalyzer(),
    LibcAnalyzer(),
    ElfAnalyzer(),
    RuntimeVersionsAnalyzer(),
)


def analyzers_key(analyzers: tuple[Analyzer, ...]) -> str:
    """Part of every cache key: a change of any analyzer's version, or of the options it runs
    with (an `options` string, when it has one), invalidates cached layers."""
    return ",".join(
        f"{a.name}@{a.version}{getattr(a, 'options', '')}"
        for a in sorted(analyzers, key=lambda a: a.name)
    )


def with_options(*, cpu_scan: bool) -> tuple[Analyzer, ...]:
    """The default registry, with the ELF analyzer's optional disassembly switched on or off."""
    return tuple(
        ElfAnalyzer(cpu_scan=cpu_scan) if isinstance(a, ElfAnalyzer) else a
        for a in DEFAULT_ANALYZERS
    )
