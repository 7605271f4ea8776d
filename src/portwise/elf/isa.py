"""Which x86-64 ISA extensions a binary's code uses, and the microarchitecture level they imply.

A host whose CPU lacks an extension kills the process with SIGILL the first time such an
instruction runs, so the level of the code is a requirement of the image on the host's CPU --
except for code that runs only once the program chose it for the CPU (IFUNC, function
multi-versioning, a branch on __builtin_cpu_supports or another CPU-feature variable): glibc is
the canonical case, AVX2 and EVEX string functions behind IFUNC. That is decided per use, from
the code's structure (isa_dispatch.py): `required` lists the extensions some use of which is not
shown to be dispatched, and `required_level` is their level; `level` is what the code CAN use.
`dispatch` says the binary detects the CPU somewhere (cpuid, IFUNC, libgcc/glibc symbols,
getauxval(AT_HWCAP)): then a required use may still be guarded in a way not recognised here.

Levels: knowledge/cpu_levels.py. Instruction classification: isa_table.py. Decoding (full
sweep, fast prefilter): isa_decode.py, isa_candidates.py. ELF facts the scan needs (code,
function starts, dispatch signs): isa_elf.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from portwise.elf import isa_elf
from portwise.elf.isa_decode import fast_scan, full_sweep, new_disassembler
from portwise.elf.isa_dispatch import Structure
from portwise.elf.isa_table import CPUID
from portwise.elf.parse import ElfFile
from portwise.knowledge.cpu_levels import level_of


@dataclass(frozen=True, slots=True)
class IsaScan:
    extensions: tuple[str, ...]  # sorted, above the baseline; psABI names where the table has them
    level: str  # "x86-64-baseline" | "x86-64-v2" | "x86-64-v3" | "x86-64-v4": what it can use
    dispatch: bool  # True: the code detects the CPU somewhere (see `required` for what it needs)
    evidence: tuple[str, ...]  # first use per extension (required first), then dispatch reasons
    instructions: int  # instructions decoded
    problems: tuple[str, ...]
    required: tuple[str, ...] = ()  # extensions with a use not shown to be dispatched
    required_level: str = "x86-64-baseline"  # the level of `required`: what the code needs


def scan_isa(elf: ElfFile, data: bytes, *, full: bool = False) -> IsaScan | None:
    """ISA facts of an x86-64 file's code; None for other machines.

    full=True decodes every byte (the test oracle); the default decodes only around candidate
    encodings and finds the same extensions several times faster (bench/isa_speed.py).
    """
    if elf.machine != "x86-64":
        return None
    regions, problems = isa_elf.code_regions(elf, data)
    symbols = isa_elf.read_symbols(elf, data)
    starts = isa_elf.function_starts(elf, data, symbols)
    structure = Structure(elf, data, regions, symbols, starts)
    why = structure.why if structure.signs else None
    cs = new_disassembler()
    if full:
        found = full_sweep(cs, regions, why)
    else:
        found = fast_scan(cs, regions, starts, isa_elf.loaded_span(elf), why)
    required, dispatched = dict(found.hits), dict(found.dispatched)
    cpuid = required.pop(CPUID, None) or dispatched.pop(CPUID, None)
    reasons = isa_elf.dispatch_reasons(elf, data, regions, symbols)
    if cpuid is not None:
        reasons.insert(0, f"dispatch: cpuid at {cpuid[0]:#x}")
    extensions = tuple(sorted(required.keys() | dispatched.keys()))
    evidence = []
    for ext in sorted(required):
        address, mnemonic = required[ext]
        evidence.append(f"{ext} at {address:#x}: {mnemonic}{_in(structure, address)}")
    for ext in sorted(dispatched.keys() - required.keys()):
        address, mnemonic, why_text = dispatched[ext]
        evidence.append(
            f"{ext} at {address:#x}: {mnemonic}{_in(structure, address)}, dispatched: {why_text}"
        )
    return IsaScan(
        extensions=extensions,
        level=level_of(set(extensions)),
        dispatch=bool(reasons),
        evidence=tuple(evidence) + tuple(reasons),
        instructions=found.instructions,
        problems=tuple(problems),
        required=tuple(sorted(required)),
        required_level=level_of(set(required)),
    )


def _in(structure: Structure, address: int) -> str:
    name = structure.name(structure.function_of(address))
    return f" in {name}" if name else ""
