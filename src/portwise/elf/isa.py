"""Which x86-64 ISA extensions a binary's code uses, and the microarchitecture level they imply.

A host whose CPU lacks an extension kills the process with SIGILL the first time such an
instruction runs, so the level of the code is a requirement of the image on the host's CPU --
unless the code chooses at run time (IFUNC, cpuid, __builtin_cpu_supports, getauxval(AT_HWCAP),
glibc's cpu_features): then `dispatch` is True and `level` is what the code CAN use, not what it
REQUIRES. glibc itself is the canonical case: AVX2 and EVEX string functions behind IFUNC.

Levels: knowledge/cpu_levels.py. Instruction classification: isa_table.py. Decoding (full
sweep, fast prefilter): isa_decode.py, isa_candidates.py. ELF facts the scan needs (code,
function starts, dispatch signs): isa_elf.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from portwise.elf import isa_elf
from portwise.elf.isa_decode import fast_scan, full_sweep, new_disassembler
from portwise.elf.isa_table import CPUID
from portwise.elf.parse import ElfFile
from portwise.knowledge.cpu_levels import level_of


@dataclass(frozen=True, slots=True)
class IsaScan:
    extensions: tuple[str, ...]  # sorted, above the baseline; psABI names where the table has them
    level: str  # "x86-64-baseline" | "x86-64-v2" | "x86-64-v3" | "x86-64-v4"
    dispatch: bool  # True: `level` is what the code can use, not what it requires
    evidence: tuple[str, ...]  # first address and mnemonic per extension, then dispatch reasons
    instructions: int  # instructions decoded
    problems: tuple[str, ...]


def scan_isa(elf: ElfFile, data: bytes, *, full: bool = False) -> IsaScan | None:
    """ISA facts of an x86-64 file's code; None for other machines.

    full=True decodes every byte (the test oracle); the default decodes only around candidate
    encodings and finds the same extensions several times faster (bench/isa_speed.py).
    """
    if elf.machine != "x86-64":
        return None
    regions, problems = isa_elf.code_regions(elf, data)
    symbols = isa_elf.read_symbols(elf, data)
    cs = new_disassembler()
    if full:
        found = full_sweep(cs, regions)
    else:
        starts = isa_elf.function_starts(elf, data, symbols)
        found = fast_scan(cs, regions, starts, isa_elf.loaded_span(elf))
    hits = dict(found.hits)
    cpuid = hits.pop(CPUID, None)
    reasons = isa_elf.dispatch_reasons(elf, data, regions, symbols)
    if cpuid is not None:
        reasons.insert(0, f"dispatch: cpuid at {cpuid[0]:#x}")
    extensions = tuple(sorted(hits))
    evidence = tuple(f"{ext} at {hits[ext][0]:#x}: {hits[ext][1]}" for ext in extensions)
    return IsaScan(
        extensions=extensions,
        level=level_of(set(extensions)),
        dispatch=bool(reasons),
        evidence=evidence + tuple(reasons),
        instructions=found.instructions,
        problems=tuple(problems),
    )
