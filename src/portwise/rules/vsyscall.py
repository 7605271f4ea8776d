"""vsyscall: old x86-64 glibc jumps to a fixed kernel page that vsyscall=none removes.

Before the vDSO, x86-64 Linux mapped a page at 0xffffffffff600000 whose code user space called
for time(), gettimeofday() and getcpu(). glibc 2.13 and older call it from libc.so (time() at
0xffffffffff600400), and programs statically linked with glibc before 2.15 call it too. A
kernel booted with vsyscall=none (or built with LEGACY_VSYSCALL_NONE) has no such page: the
process dies with SIGSEGV (exit 139) and dmesg says "vsyscall attempted with vsyscall=none".
xonly and emulate still serve the calls. CentOS 6 (glibc 2.12) is the usual victim.

Judged from the image's glibc version (knowledge/glibc_vsyscall) against the host's
kernel.vsyscall. Not caught: programs statically linked with an old glibc inside an image whose
own glibc is modern (the profile records no glibc version for static binaries).
"""

from __future__ import annotations

from dataclasses import dataclass

from portwise.knowledge import incidents
from portwise.knowledge.architectures import machine_of
from portwise.knowledge.glibc_vsyscall import calls_vsyscall, load
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact

ID = "vsyscall"
FACT = "kernel vsyscall mode"


UNKNOWN_VERSION = "unknown"


@dataclass(frozen=True, slots=True)
class VsyscallNeeds:
    glibc: str | None  # version of the image's glibc when it calls the vsyscall page, else None
    libc_path: str


@dataclass(frozen=True, slots=True)
class VsyscallOffers:
    mode: Known[str]


def needs(image: ImageProfile) -> VsyscallNeeds:
    """Only x86-64 glibc images older than the first release off the page need it."""
    if machine_of(image.platform.architecture) != "x86-64":
        return VsyscallNeeds(None, "")
    for libc in image.libc:
        if libc.family == "glibc" and libc.version is None:
            return VsyscallNeeds(UNKNOWN_VERSION, libc.path)
        if libc.family == "glibc" and libc.version and calls_vsyscall(libc.version):
            return VsyscallNeeds(libc.version, libc.path)
    return VsyscallNeeds(None, "")


def offers(host: HostProfile) -> VsyscallOffers:
    return VsyscallOffers(known(host.kernel.vsyscall))


def judge(need: VsyscallNeeds, offer: VsyscallOffers) -> tuple[Finding, ...]:
    if need.glibc is None:
        return ()
    if need.glibc == UNKNOWN_VERSION:
        if offer.mode.value != "none":
            return ()  # only a vsyscall=none host makes the unknown version matter
        return (
            Finding(
                id=f"{ID}.glibc-version-unknown",
                mechanism=ID,
                severity="risk",
                title="this host removed the vsyscall page; the image's glibc version is unknown",
                explanation="glibc before 2.14 calls the legacy vsyscall page, which vsyscall=none"
                " unmaps; portwise could not read the version of the image's glibc.",
                evidence=Evidence(
                    image=[f"glibc of unknown version at {need.libc_path}"],
                    host=[host_evidence(FACT, offer.mode)],
                ),
                unknown=["glibc version"],
            ),
        )
    ids = incidents.matching(ID, case="none")
    image_side = [f"glibc {need.glibc} ({need.libc_path}) calls the vsyscall page"]
    first = load().dynamic
    if offer.mode.value is None:
        return (
            unknown_fact(
                ID,
                "mode-unknown",
                fact=FACT,
                fact_value=offer.mode,
                why_needed=f"The image's glibc {need.glibc} predates {first.first_without}, "
                "so its programs call the legacy vsyscall page, which vsyscall=none removes.",
                image_evidence=image_side,
                incidents=ids,
                references=[first.source, *incidents.references(ids)],
            ),
        )
    if offer.mode.value != "none":
        return ()
    return (
        Finding(
            id=f"{ID}.none",
            subject="process",
            mechanism=ID,
            severity="fail",
            title=f"glibc {need.glibc} needs the vsyscall page this host's kernel removed",
            explanation=(
                f"glibc before {first.first_without} calls time() through the fixed page at "
                "0xffffffffff600400; with vsyscall=none nothing is mapped there, so programs "
                "die with SIGSEGV (exit code 139) and dmesg logs 'vsyscall attempted with "
                "vsyscall=none'."
            ),
            evidence=Evidence(image=image_side, host=[host_evidence(FACT, offer.mode)]),
            mitigations_host=[
                "boot the kernel with vsyscall=xonly (or vsyscall=emulate), e.g. on the "
                "kernel command line in GRUB"
            ],
            mitigations_image=[f"move to a base image with glibc {first.first_without} or newer"],
            incidents=ids,
            references=[first.source, load().kernel_advice.source, *incidents.references(ids)],
        ),
    )


MECHANISM: Mechanism[VsyscallNeeds, VsyscallOffers] = Mechanism(
    id=ID,
    title="legacy vsyscall page",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=(load().dynamic.source, load().kernel_advice.source),
)
