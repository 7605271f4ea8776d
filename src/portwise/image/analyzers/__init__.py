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

DEFAULT_ANALYZERS: tuple[Analyzer, ...] = (
    OsReleaseAnalyzer(),
    DpkgAnalyzer(),
    RpmAnalyzer(),
    ApkAnalyzer(),
    LibcAnalyzer(),
    ElfAnalyzer(),
)


def analyzers_key(analyzers: tuple[Analyzer, ...]) -> str:
    """Part of every cache key: a change of any analyzer's version invalidates cached layers."""
    return ",".join(f"{a.name}@{a.version}" for a in sorted(analyzers, key=lambda a: a.name))
