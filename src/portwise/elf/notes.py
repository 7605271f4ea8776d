"""ELF notes: the minimum kernel (.note.ABI-tag), GNU properties (x86 ISA level, CET, BTI/PAC)
and the Go build ID.

Formats: the System V gABI note layout; GNU_PROPERTY_* from the x86-64 and AArch64 psABIs
(https://gitlab.com/x86-psABIs/x86-64-ABI, "Program Property"; ARM IHI 0056 "ELF for the Arm
64-bit Architecture", GNU_PROPERTY_AARCH64_FEATURE_1_AND).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field

NT_GNU_ABI_TAG, NT_GNU_BUILD_ID, NT_GNU_PROPERTY_TYPE_0 = 1, 3, 5
NT_GO_BUILDID = 4
ABI_OS = {0: "Linux", 1: "Hurd", 2: "Solaris", 3: "FreeBSD"}
GNU_PROPERTY_X86_FEATURE_1_AND = 0xC0000002
GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002
GNU_PROPERTY_X86_ISA_1_USED = 0xC0010002  # older binutils wrote USED where NEEDED was meant
GNU_PROPERTY_AARCH64_FEATURE_1_AND = 0xC0000000
X86_ISA_LEVELS = {1: "x86-64-baseline", 2: "x86-64-v2", 4: "x86-64-v3", 8: "x86-64-v4"}
X86_FEATURES = {1: "IBT", 2: "SHSTK"}
AARCH64_FEATURES = {1: "BTI", 2: "PAC"}
MAX_NOTES = 4096


@dataclass(frozen=True, slots=True)
class NoteFacts:
    min_kernel: str | None = None  # from .note.ABI-tag, e.g. "3.2.0"
    abi_os: str | None = None
    x86_isa_needed: tuple[str, ...] = ()
    features: tuple[str, ...] = ()  # IBT, SHSTK, BTI, PAC
    build_id: str | None = None
    go_build_id: bool = False
    problems: tuple[str, ...] = field(default_factory=tuple)


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def parse_notes(
    data: bytes | mmap.mmap, order: str, areas: list[tuple[int, int, int]]
) -> NoteFacts:
    """Read every note in the given (offset, size, alignment) areas; bad notes are skipped."""
    facts: dict[str, object] = {}
    isa: list[str] = []
    features: list[str] = []
    problems: list[str] = []
    seen = 0
    for offset, size, area_align in areas:
        align = 8 if area_align == 8 else 4
        at, end = offset, min(offset + size, len(data))
        while at + 12 <= end:
            seen += 1
            if seen > MAX_NOTES:
                return NoteFacts(problems=("more notes than any real file has",))
            namesz, descsz, note_type = struct.unpack_from(order + "III", data, at)
            name_at = at + 12
            desc_at = name_at + _align(namesz, 4)
            next_at = desc_at + _align(descsz, align)
            if desc_at + descsz > end or next_at <= at:
                problems.append(f"note at {at:#x} runs past its area")
                break
            name = data[name_at : name_at + namesz].rstrip(b"\0")
            desc = data[desc_at : desc_at + descsz]
            if name == b"GNU":
                _gnu_note(note_type, desc, order, align, facts, isa, features)
            elif name == b"Go" and note_type == NT_GO_BUILDID:
                facts["go_build_id"] = True
            at = next_at
    return NoteFacts(
        min_kernel=facts.get("min_kernel"),  # type: ignore[arg-type]
        abi_os=facts.get("abi_os"),  # type: ignore[arg-type]
        x86_isa_needed=tuple(dict.fromkeys(isa)),
        features=tuple(dict.fromkeys(features)),
        build_id=facts.get("build_id"),  # type: ignore[arg-type]
        go_build_id=bool(facts.get("go_build_id")),
        problems=tuple(problems),
    )


def _gnu_note(
    note_type: int,
    desc: bytes,
    order: str,
    align: int,
    facts: dict[str, object],
    isa: list[str],
    features: list[str],
) -> None:
    if note_type == NT_GNU_ABI_TAG and len(desc) >= 16:
        os_id, major, minor, patch = struct.unpack_from(order + "IIII", desc)
        facts["abi_os"] = ABI_OS.get(os_id, str(os_id))
        facts["min_kernel"] = f"{major}.{minor}.{patch}"
    elif note_type == NT_GNU_BUILD_ID:
        facts["build_id"] = desc.hex()
    elif note_type == NT_GNU_PROPERTY_TYPE_0:
        _properties(desc, order, align, isa, features)


def _properties(desc: bytes, order: str, align: int, isa: list[str], features: list[str]) -> None:
    at = 0
    while at + 8 <= len(desc):
        pr_type, pr_datasz = struct.unpack_from(order + "II", desc, at)
        value_at = at + 8
        if value_at + pr_datasz > len(desc):
            return
        if pr_datasz >= 4:
            (bits,) = struct.unpack_from(order + "I", desc, value_at)
            if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED:
                isa.extend(name for bit, name in X86_ISA_LEVELS.items() if bits & bit)
            elif pr_type == GNU_PROPERTY_X86_FEATURE_1_AND:
                features.extend(name for bit, name in X86_FEATURES.items() if bits & bit)
            elif pr_type == GNU_PROPERTY_AARCH64_FEATURE_1_AND:
                features.extend(name for bit, name in AARCH64_FEATURES.items() if bits & bit)
        at = value_at + _align(pr_datasz, align)
