"""CPU: code built for a newer x86-64 level than the host's processor.

An x86-64 program compiled for x86-64-v2/v3/v4 executes instructions (SSE4.2, POPCNT, AVX2,
FMA, AVX-512...) that an older CPU, or a VM with a generic CPU model (QEMU kvm64), lacks.
How it fails depends on where the level is recorded:

- glibc built for a level (RHEL 9 for v2, RHEL 10 for v3) carries it in its GNU property note
  and checks it at startup: "Fatal glibc error: CPU does not support x86-64-v2", every program.
- any other object with such a note: ld.so stops with "CPU ISA level is lower than required".
- code with no note (most wheels, TensorFlow's AVX builds) dies with SIGILL, "Illegal
  instruction", when it first runs the instruction; only disassembly (`--cpu-scan`) finds it.

Judged from the image's required level per binary (notes, and disassembly where it ran;
code shown to run only after a CPU check -- IFUNC, multi-versioning clones, a branch on a
CPU-feature variable -- is not a requirement) against the host CPU's flags, else its x86-64
level. A binary that detects its CPU somewhere but uses an extension where no check was shown
(a stray cpuid does not vouch for AVX2 code elsewhere) is a risk, not a pass: the use may be
guarded in a way not recognised, or may die with SIGILL. Binaries left unexamined (no note, no
--cpu-scan) are a risk on a host known to be below v3. aarch64 images give no finding: the
profile records no arm64 CPU features (no HWCAP needs) to compare.
"""

from __future__ import annotations

from dataclasses import dataclass

from portwise.image.binaries import ISA_ORDER, required_level, stated_level
from portwise.knowledge import incidents
from portwise.knowledge.architectures import machine_of
from portwise.knowledge.cpu_levels import BASELINE, CPUINFO_FLAG, LEVEL_ORDER, LEVELS
from portwise.model.host import HostProfile
from portwise.model.image import ElfBinary, ImageProfile
from portwise.model.verdict import Evidence, Finding
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact

ID = "cpu"
LEVEL_FACT = "CPU x86-64 level"
PSABI = "https://gitlab.com/x86-psABIs/x86-64-ABI"
GLIBC_CHECK = (
    "https://sourceware.org/git/?p=glibc.git;a=commit;h=990c953bce06d77360d2e933faa9a008e2c55405"
)
GLIBC_NOTE = (
    "https://sourceware.org/git/?p=glibc.git;a=commit;h=ecce11aa0752735c4fd730da6e7c9e0b98e12fb8"
)
LIBC_SONAMES = {"libc.so.6", "ld-linux-x86-64.so.2"}
HOW_KNOWN = {
    "libc": "glibc's own ISA note",
    "note": "GNU property note",
    "code": "instructions found by disassembly",
    "unproven": "instructions found by disassembly, no CPU check shown before them",
}
TABLE_EXTENSIONS = {ext for exts in LEVELS.values() for ext in exts}


@dataclass(frozen=True, slots=True)
class Group:
    """Binaries that need the same level for the same reason."""

    level: str
    source: str  # "libc" (glibc's own note), "note" (GNU property note), "code" (disassembly),
    # "unproven" (disassembly of a binary that detects its CPU, uses no check was shown for)
    extensions: tuple[str, ...]  # what the level needs of the CPU (psABI names)
    count: int
    example: str
    first_use: str = ""  # the example's first use not shown dispatched: "AVX2 at 0x...: ..."


@dataclass(frozen=True, slots=True)
class CpuNeeds:
    machine: str
    groups: tuple[Group, ...]  # levels above the baseline only
    unexamined: int  # x86-64 binaries with no note that were not disassembled


@dataclass(frozen=True, slots=True)
class CpuOffers:
    machine: Known[str]
    level: Known[str]
    flags: Known[frozenset[str]]


def _level_extensions(level: str) -> tuple[str, ...]:
    """Every extension a level guarantees, its lower levels' included."""
    upto = LEVEL_ORDER[1 : LEVEL_ORDER.index(level) + 1]
    return tuple(ext for lvl in upto for ext in LEVELS[lvl])


def _need(b: ElfBinary) -> tuple[str, str, tuple[str, ...]] | None:
    level = required_level(b)
    if level is None or level == BASELINE:
        return None
    noted = stated_level(b)
    if noted is not None and ISA_ORDER.index(noted) >= ISA_ORDER.index(level):
        source = "libc" if b.soname in LIBC_SONAMES else "note"
        return level, source, _level_extensions(level)
    cpu = b.cpu
    if cpu is None:
        return level, "code", _level_extensions(level)
    used = cpu.required if cpu.required is not None else cpu.extensions
    source = "unproven" if cpu.dispatch and cpu.required is not None else "code"
    return level, source, tuple(sorted(used)) or _level_extensions(level)


def _first_use(b: ElfBinary, extensions: tuple[str, ...]) -> str:
    if b.cpu is None:
        return ""
    return next(
        (
            e
            for e in b.cpu.evidence
            if e.split(" ", 1)[0] in extensions and ", dispatched: " not in e
        ),
        "",
    )


def needs(image: ImageProfile) -> CpuNeeds:
    seen: dict[tuple[str, str, tuple[str, ...]], list[ElfBinary]] = {}
    for b in image.binaries:
        # neither a note nor disassembly: no level is known (required_level), the common case
        if not (b.x86_isa_needed or b.cpu is not None) or b.machine != "x86-64":
            continue
        if (key := _need(b)) is not None:
            seen.setdefault(key, []).append(b)
    groups = []
    for (level, source, exts), members in sorted(seen.items()):
        example = min(members, key=lambda m: m.path)
        groups.append(
            Group(level, source, exts, len(members), example.path, _first_use(example, exts))
        )
    return CpuNeeds(
        machine_of(image.platform.architecture), tuple(groups), image.binary_summary.cpu_unknown
    )


def offers(host: HostProfile) -> CpuOffers:
    return CpuOffers(
        known(host.kernel.architecture),
        known(host.cpu.x86_64_level),
        known(host.cpu.flags, frozenset),
    )


def _missing(group: Group, offer: CpuOffers) -> list[str] | None:
    """Extensions the host lacks (empty: it has them all), or None when the host is unknown."""
    if offer.flags.value is not None:
        return [
            ext
            for ext in group.extensions
            if ext in CPUINFO_FLAG and CPUINFO_FLAG[ext] not in offer.flags.value
        ]
    if offer.level.value in LEVEL_ORDER:
        have = set(_level_extensions(offer.level.value)) if offer.level.value != BASELINE else set()
        return [ext for ext in group.extensions if ext in TABLE_EXTENSIONS and ext not in have]
    return None


def judge(need: CpuNeeds, offer: CpuOffers) -> tuple[Finding, ...]:
    if need.machine != "x86-64" or offer.machine.value not in (None, "x86-64"):
        return ()
    findings: list[Finding] = []
    unknown_groups: list[Group] = []
    for group in need.groups:
        missing = _missing(group, offer)
        if missing is None:
            unknown_groups.append(group)
        elif missing:
            findings.append(_fail(group, missing, offer))
    if unknown_groups:
        findings.append(_unknown(unknown_groups, offer))
    unexamined = _unexamined(need, offer)
    if unexamined is not None:
        findings.append(unexamined)
    return tuple(findings)


def _host_side(offer: CpuOffers) -> list[str]:
    side = [host_evidence(LEVEL_FACT, offer.level)]
    if offer.flags.value is not None:
        side.append(f"CPU flags read from {offer.flags.source}")
    return side


def _ids(group: Group, missing: list[str] | tuple[str, ...]) -> list[str]:
    return incidents.matching(
        ID, case=group.source, level=group.level, extension="AVX" if "AVX" in missing else ""
    )


def _need_line(g: Group) -> str:
    line = f"{g.count} binaries need {g.level} ({HOW_KNOWN[g.source]}), e.g. {g.example}"
    return f"{line}: {g.first_use}" if g.first_use else line


def _fail(group: Group, missing: list[str], offer: CpuOffers) -> Finding:
    lacks = ", ".join(missing)
    ids = _ids(group, missing)
    level_n = group.level.rsplit("-", 1)[-1]
    if group.source == "libc":
        case, title, how = (
            "libc-level",
            f"the image's glibc is built for {group.level}: no program starts on this CPU",
            f"glibc checks its own level at startup and stops every process with 'Fatal glibc "
            f"error: CPU does not support x86-64-{level_n}'.",
        )
    elif group.source == "note":
        case, title, how = (
            "isa-level",
            f"{group.count} binaries are marked as needing {group.level}",
            "Their GNU property note states the level, and ld.so refuses them: "
            "'CPU ISA level is lower than required'.",
        )
    elif group.source == "unproven":
        case, title, how = (
            "unguarded-instructions",
            f"{group.count} binaries may execute {group.level} instructions this CPU lacks",
            "These binaries detect the CPU at run time, but no check was found before these "
            "instructions (their function is no IFUNC target or clone and is reached without "
            "a CPU-feature test): if unguarded, the process dies with SIGILL ('Illegal "
            "instruction') the first time it runs one.",
        )
    else:
        case, title, how = (
            "instructions",
            f"{group.count} binaries execute {group.level} instructions this CPU lacks",
            "Nothing checks beforehand: the process dies with SIGILL ('Illegal instruction "
            "(core dumped)') the first time it runs one of them.",
        )
    return Finding(
        id=f"{ID}.{case}",
        subject="process" if case == "libc-level" else f"isa:{group.level}",
        mechanism=ID,
        severity="risk" if case == "unguarded-instructions" else "fail",
        title=title,
        explanation=f"The host CPU lacks {lacks}. {how}",
        evidence=Evidence(
            image=[_need_line(group)],
            host=[*_host_side(offer), f"missing: {lacks}"],
        ),
        mitigations_host=[
            "run it on a CPU with these extensions; on a VM, expose the host CPU model "
            "(libvirt host-passthrough, Proxmox CPU type 'host') instead of kvm64/qemu64"
        ],
        mitigations_image=[
            "use a build for a lower level (an x86-64-v2 or baseline variant of the base "
            "image or wheel)"
        ],
        incidents=ids,
        references=[
            *{"libc-level": [GLIBC_CHECK], "isa-level": [GLIBC_NOTE]}.get(case, []),
            PSABI,
            *incidents.references(ids),
        ],
    )


def _unknown(groups: list[Group], offer: CpuOffers) -> Finding:
    top = max(groups, key=lambda g: LEVEL_ORDER.index(g.level))
    libc = [g for g in groups if g.source == "libc"]
    ids = list(dict.fromkeys(i for g in groups for i in _ids(g, g.extensions)))
    why = (
        f"The image's glibc is built for {libc[0].level} and refuses older CPUs at startup."
        if libc
        else f"{top.count} binaries need {top.level} ({', '.join(top.extensions)})."
    )
    return unknown_fact(
        ID,
        "host-unknown",
        fact=LEVEL_FACT,
        fact_value=offer.level,
        why_needed=why,
        image_evidence=[_need_line(g) for g in groups],
        incidents=ids,
        references=[PSABI, *incidents.references(ids)],
    )


def _unexamined(need: CpuNeeds, offer: CpuOffers) -> Finding | None:
    level = offer.level.value
    if need.unexamined == 0 or level is None or level not in LEVEL_ORDER:
        return None
    if LEVEL_ORDER.index(level) >= LEVEL_ORDER.index("x86-64-v4"):
        return None
    below_v3 = LEVEL_ORDER.index(level) < LEVEL_ORDER.index("x86-64-v3")
    return Finding(
        id=f"{ID}.unexamined",
        mechanism=ID,
        severity="risk" if below_v3 else "info",
        title=f"{need.unexamined} x86-64 binaries were not checked against this {level} CPU",
        explanation=(
            "They carry no ISA-level note, and the image was scanned without --cpu-scan, so "
            f"nothing shows whether their code needs more than {level}. Binary wheels and "
            "vendor builds often do (AVX, AVX2) without saying so."
        ),
        evidence=Evidence(
            image=[f"{need.unexamined} binaries with no ISA note, not disassembled"],
            host=_host_side(offer),
        ),
        mitigations_image=[
            "scan the image with --cpu-scan: each binary's instructions are decoded and its "
            "real level recorded"
        ],
        unknown=["ISA level of binaries without a note"],
        references=[PSABI],
    )


MECHANISM: Mechanism[CpuNeeds, CpuOffers] = Mechanism(
    id=ID,
    title="CPU instruction set level",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=(PSABI, GLIBC_CHECK, GLIBC_NOTE),
)
