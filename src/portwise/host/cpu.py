"""CPU facts from /proc/cpuinfo: vendor, model, flags, and the x86-64 level the flags give."""

from __future__ import annotations

from portwise.host.files import HostFiles, Unreadable
from portwise.knowledge.cpu_levels import BASELINE, CPUINFO_FLAG, LEVEL_ORDER, LEVELS
from portwise.model.host import CpuFacts, Fact


def parse_cpuinfo(text: str) -> tuple[str | None, str | None, list[str]]:
    """(vendor, model name, flags) of the first processor; aarch64 calls flags "Features"."""
    vendor = model = None
    flags: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in ("vendor_id", "CPU implementer") and vendor is None:
            vendor = value
        elif key in ("model name", "Model name", "cpu model") and model is None:
            model = value
        elif key in ("flags", "Features") and not flags:
            flags = value.split()
        elif not line.strip() and flags:
            break  # the first processor is enough: Linux reports the common set per CPU
    return vendor, model, flags


def x86_level(flags: set[str]) -> tuple[str, list[str]]:
    """The highest level whose every extension the flags show, and what the next one lacks."""
    reached = BASELINE
    for level in LEVEL_ORDER[1:]:
        missing = [ext for ext in LEVELS[level] if CPUINFO_FLAG[ext] not in flags]
        if missing:
            return reached, missing
        reached = level
    return reached, []


def read_cpu(files: HostFiles, architecture: str | None) -> CpuFacts:
    try:
        text = files.read_text("/proc/cpuinfo")
    except Unreadable as exc:
        unknown: Fact[str] = Fact.missing(exc.reason)
        return CpuFacts(model=unknown, flags=Fact.missing(exc.reason), x86_64_level=unknown)
    _, model, flags = parse_cpuinfo(text)
    source = "file /proc/cpuinfo"
    if architecture == "x86-64" and flags:
        level, missing = x86_level(set(flags))
        level_fact: Fact[str] = Fact.of(level, f"{source} flags against the x86-64 psABI levels")
    else:
        level_fact, missing = Fact.missing("not an x86-64 CPU, or no flags listed"), []
    return CpuFacts(
        model=Fact.of(model, source) if model else Fact.missing("no model line"),
        flags=Fact.of(flags, source) if flags else Fact.missing("no flags line"),
        x86_64_level=level_fact,
        missing_for_next_level=missing,
    )
