"""Architecture: a foreign ELF runs only through a binfmt_misc emulator, and then slowly.

The kernel refuses an executable for another machine with ENOEXEC ("exec format error")
unless a binfmt_misc handler names an interpreter (qemu-user) for its magic. In a container the
handler also needs the F flag, which opens the interpreter when it is registered; without it the
kernel looks the interpreter up inside the container's root, where it usually is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from portwise.knowledge import incidents
from portwise.knowledge.architectures import COMPAT, QEMU_NAMES, machine_of, serves
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact

ID = "arch"


@dataclass(frozen=True, slots=True)
class ArchNeeds:
    platform: str  # portwise machine name of the image's declared platform
    executables: tuple[tuple[str, int, str], ...]  # (machine, count, first path) of executables


@dataclass(frozen=True, slots=True)
class Handler:
    name: str
    enabled: bool
    flags: str
    interpreter: str | None


@dataclass(frozen=True, slots=True)
class ArchOffers:
    machine: Known[str]
    binfmt: Known[tuple[Handler, ...]]


def needs(image: ImageProfile) -> ArchNeeds:
    seen: dict[str, list[str]] = {}
    for b in image.binaries:
        if b.type == "EXEC" or b.interpreter is not None:
            seen.setdefault(b.machine, []).append(b.path)
    return ArchNeeds(
        machine_of(image.platform.architecture),
        tuple((m, len(p), min(p)) for m, p in sorted(seen.items())),
    )


def offers(host: HostProfile) -> ArchOffers:
    handlers = known(
        host.security.binfmt,
        lambda hs: tuple(Handler(h.name, h.enabled, h.flags, h.interpreter) for h in hs),
    )
    return ArchOffers(known(host.kernel.architecture), handlers)


def _handler_for(machine: str, binfmt: tuple[Handler, ...]) -> Handler | None:
    return next((h for h in binfmt if h.enabled and serves(machine, h.name, h.interpreter)), None)


def judge(need: ArchNeeds, offer: ArchOffers) -> tuple[Finding, ...]:
    if offer.machine.value is None:
        return (
            unknown_fact(
                ID,
                "host-unknown",
                fact="kernel architecture",
                fact_value=offer.machine,
                why_needed=f"The image is built for {need.platform}.",
                image_evidence=[f"image platform {need.platform}"],
            ),
        )
    host = offer.machine.value
    wanted = {machine: (count, path) for machine, count, path in need.executables}
    wanted.setdefault(need.platform, (0, "image platform"))
    findings: list[Finding] = []
    for machine, (count, example) in wanted.items():
        if machine == host:
            continue
        if machine in COMPAT and COMPAT[machine][0] == host:
            findings.append(_compat(machine, host, count, example, offer))
            continue
        findings.append(_foreign(machine, host, count, example, need, offer))
    return tuple(findings)


def _image_side(machine: str, count: int, example: str, need: ArchNeeds) -> list[str]:
    if count == 0:
        return [f"image platform {need.platform}"]
    side = [f"{count} {machine} executable(s), e.g. {example}"]
    if machine != need.platform:
        side.append(f"although the image declares platform {need.platform}")
    return side


def _compat(machine: str, host: str, count: int, example: str, offer: ArchOffers) -> Finding:
    option = COMPAT[machine][1]
    return Finding(
        id=f"{ID}.compat",
        mechanism=ID,
        severity="info",
        title=f"{machine} executables run on {host} through the kernel's 32-bit compatibility",
        explanation=(
            f"A {host} kernel runs {machine} programs natively when built with {option}, "
            "which distribution kernels enable; some arm64 CPUs have no 32-bit mode at all."
        ),
        evidence=Evidence(
            image=[f"{count} {machine} executable(s), e.g. {example}"],
            host=[host_evidence("kernel architecture", offer.machine)],
        ),
    )


def _foreign(
    machine: str, host: str, count: int, example: str, need: ArchNeeds, offer: ArchOffers
) -> Finding:
    image_side = _image_side(machine, count, example, need)
    if offer.binfmt.value is None:
        return unknown_fact(
            ID,
            "binfmt-unknown",
            fact="binfmt_misc handlers",
            fact_value=offer.binfmt,
            why_needed=f"The image needs {machine} executables to run on a {host} kernel, "
            "which only works through a registered emulator.",
            image_evidence=image_side,
            incidents=incidents.matching(ID, case="no-emulator"),
        )
    handler = _handler_for(machine, offer.binfmt.value)
    host_side = [
        host_evidence("kernel architecture", offer.machine),
        host_evidence(
            "binfmt_misc handlers",
            Known(
                tuple(h.name for h in offer.binfmt.value) or ("none",),
                offer.binfmt.source,
                None,
            ),
        ),
    ]
    if handler is None:
        ids = incidents.matching(ID, case="no-emulator")
        return Finding(
            id=f"{ID}.exec-format-error",
            subject="process",
            mechanism=ID,
            severity="fail",
            title=f"{machine} image on a {host} host with no emulator: exec format error",
            explanation=(
                f"The kernel cannot execute {machine} code and no enabled binfmt_misc handler "
                f"sends it to a qemu-user emulator, so the entrypoint fails with ENOEXEC."
            ),
            evidence=Evidence(image=image_side, host=host_side),
            mitigations_host=[
                f"register qemu-user for {machine} with the F flag (Debian: qemu-user-static "
                "and binfmt-support; or `docker run --privileged tonistiigi/binfmt --install "
                f"{QEMU_NAMES.get(machine, machine)}`)"
            ],
            mitigations_image=[f"publish a {host} variant (a multi-architecture index)"],
            incidents=ids,
            references=incidents.references(ids),
        )
    if "F" not in handler.flags:
        return Finding(
            id=f"{ID}.emulator-not-fixed",
            subject="process",
            mechanism=ID,
            severity="fail",
            title=f"the {handler.name} emulator is registered without the F flag",
            explanation=(
                "Without F the kernel opens the interpreter path at each exec, inside the "
                f"container's root filesystem, where {handler.interpreter} does not exist."
            ),
            evidence=Evidence(image=image_side, host=[*host_side, f"flags {handler.flags!r}"]),
            mitigations_host=["re-register the handler with the F (fix binary) flag"],
            references=["https://docs.kernel.org/admin-guide/binfmt-misc.html"],
        )
    ids = incidents.matching(ID, case="emulated")
    return Finding(
        id=f"{ID}.emulated",
        mechanism=ID,
        severity="risk",
        title=f"{machine} code runs under qemu-user emulation on this {host} host",
        explanation=(
            "It starts, but emulation is many times slower and qemu-user has known crashes "
            "(signals, sigaltstack, JIT runtimes): fine for a build, doubtful in production."
        ),
        evidence=Evidence(image=image_side, host=[*host_side, f"handler {handler.name}"]),
        mitigations_image=[f"publish a {host} variant (a multi-architecture index)"],
        incidents=ids,
        references=incidents.references(ids),
    )


MECHANISM: Mechanism[ArchNeeds, ArchOffers] = Mechanism(
    id=ID,
    title="CPU architecture",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=("https://docs.kernel.org/admin-guide/binfmt-misc.html",),
)
