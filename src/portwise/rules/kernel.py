"""Kernel version: what the image's user space expects of the host kernel's age.

Three checks. glibc before 2.36 refuses to start on a kernel older than the minimum it was
configured for ("FATAL: kernel too old"); 2.36 removed that check (release announcement, and
bullseye's ld.so has the message where bookworm's does not). The minimum is the ABI-tag note
of libc.so.6. Statically linked glibc programs carry the same check in their own note. And every
system call the image may issue that is newer than the host kernel answers ENOSYS there: fine
where the caller falls back on ENOSYS (glibc's clone3, statx), fatal where it does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter

from portwise.knowledge import incidents, syscalls
from portwise.knowledge.architectures import machine_of
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact
from portwise.rules.fallback import Use, describe, outcome, uses
from portwise.versions import version_key

ID = "kernel"
ENOSYS = 38
CHECK_REMOVED = (2, 36)  # glibc 2.36: "The Linux kernel version check has been removed"
ANNOUNCEMENT = "https://sourceware.org/pipermail/libc-announce/2022/000034.html"
STATIC_GLIBC = "static-glibc"  # finding subject: the image's statically linked glibc programs
_OLD_LIBC = re.compile(r"/libc-2\.\d+\.so\Z")


@dataclass(frozen=True, slots=True)
class KernelNeeds:
    machine: str
    glibc: str | None  # shipped version
    libc_minimum: tuple[str, str] | None  # (min kernel, path of libc.so.6)
    static_minimum: tuple[str, str] | None  # highest among static glibc programs
    issues_syscalls: bool  # whether any syscall use was found at all
    # (kernel version that introduced the call, as a key and as text, use), newest first: a
    # host is judged by walking this until the calls are older than its kernel
    by_age: tuple[tuple[tuple[int, ...], str, Use], ...] = ()


@dataclass(frozen=True, slots=True)
class KernelOffers:
    release: Known[str]


def _is_libc(path: str) -> bool:
    """libc.so.6, or libc-2.NN.so before glibc 2.34 made libc.so.6 the file itself."""
    if path.endswith("/libc.so.6"):
        return True
    return "/libc-2." in path and bool(_OLD_LIBC.search(path))


def _highest(pairs: list[tuple[str, str]]) -> tuple[str, str] | None:
    return max(pairs, key=lambda p: (version_key(p[0]), p[1]), default=None)


def needs(image: ImageProfile) -> KernelNeeds:
    libc: list[tuple[str, str]] = []
    static: list[tuple[str, str]] = []
    for b in image.binaries:
        if b.min_kernel:
            if _is_libc(b.path):
                libc.append((b.min_kernel, b.path))
            if b.linkage != "dynamic" and b.libc == "glibc":
                static.append((b.min_kernel, b.path))
    glibc = next((c.version for c in image.libc if c.family == "glibc"), None)
    machine = machine_of(image.platform.architecture)
    found = uses(image)
    by_age = sorted(
        (
            (dated[0], dated[1], u)
            for u in found
            if (dated := _introduced(u.syscall, machine)) is not None
        ),
        key=itemgetter(0),
        reverse=True,
    )
    return KernelNeeds(machine, glibc, _highest(libc), _highest(static), bool(found), tuple(by_age))


@lru_cache(maxsize=8192)
def _introduced(syscall: str, machine: str) -> tuple[tuple[int, ...], str] | None:
    """The kernel version that brought the call, as a key and as text (asked per use of every
    image: a fleet asks the same few hundred)."""
    if machine not in syscalls.ARCHES:  # no table (architecture unknown: the arch rule says so)
        return None
    since = syscalls.introduced(syscall, machine)
    return None if since is None else (version_key(since), since)


def offers(host: HostProfile) -> KernelOffers:
    return KernelOffers(known(host.kernel.release))


def _release(text: str) -> tuple[int, ...]:
    return version_key(text)[:3]


def judge(need: KernelNeeds, offer: KernelOffers) -> tuple[Finding, ...]:
    if not (need.issues_syscalls or need.libc_minimum or need.static_minimum):
        return ()
    if offer.release.value is None:
        return (
            unknown_fact(
                ID,
                "release-unknown",
                fact="kernel release",
                fact_value=offer.release,
                why_needed="The image's libc and system calls expect a minimum kernel version.",
            ),
        )
    host = _release(offer.release.value)
    host_side = [host_evidence("kernel release", offer.release)]
    findings: list[Finding] = []
    if need.libc_minimum and version_key(need.libc_minimum[0]) > host:
        findings.append(_too_old(need, need.libc_minimum, host_side, static=False))
    if need.static_minimum and version_key(need.static_minimum[0]) > host:
        findings.append(_too_old(need, need.static_minimum, host_side, static=True))
    findings.extend(_missing_calls(need, host, host_side))
    return tuple(findings)


def _too_old(
    need: KernelNeeds, minimum: tuple[str, str], host_side: list[str], *, static: bool
) -> Finding:
    version, path = minimum
    checks = None if static or need.glibc is None else version_key(need.glibc) < CHECK_REMOVED
    ids = incidents.matching(ID, case="kernel-too-old")
    if checks is False:
        severity, title = "risk", f"glibc {need.glibc} was built for kernel {version} or newer"
        why = (
            f"glibc {need.glibc} no longer refuses to start on an older kernel (the check went "
            "in 2.36), but it was configured assuming every call of that kernel exists; "
            "functions without a fallback fail with ENOSYS."
        )
    else:
        severity = "fail" if checks else "risk"
        title = f"FATAL: kernel too old: {path} requires kernel {version} or newer"
        why = (
            "glibc before 2.36 compares the running kernel with the minimum it was configured "
            "for and aborts at startup, before the program runs."
            + (
                ""
                if checks
                else " The glibc version of this program is not known, so portwise cannot "
                "tell whether it still performs the check (2.36 removed it)."
            )
        )
    return Finding(
        id=f"{ID}.too-old-for-libc" if checks is not False else f"{ID}.below-libc-minimum",
        subject=STATIC_GLIBC if static else "process",
        mechanism=ID,
        severity=severity,
        title=title,
        explanation=why,
        evidence=Evidence(
            image=[
                f"{path}: ABI-tag note minimum kernel {version}"
                + (f" (glibc {need.glibc})" if need.glibc and not static else "")
            ],
            host=host_side,
        ),
        mitigations_host=[f"a host kernel {version} or newer"],
        mitigations_image=["a base image from a distribution release that supports this kernel"],
        unknown=[] if checks is not None else [f"glibc version linked into {path}"],
        incidents=ids,
        references=[ANNOUNCEMENT, *incidents.references(ids)],
    )


def _missing_calls(need: KernelNeeds, host: tuple[int, ...], host_side: list[str]) -> list[Finding]:
    findings: list[Finding] = []
    handled: list[str] = []
    for since_key, since, use in need.by_age:
        if since_key <= host:
            break
        result = outcome(use, ENOSYS)
        if result in ("ok", "returned"):
            handled.append(f"{use.syscall} (Linux {since}) via {use.via}: {result}")
            continue
        certain = result == "broken" and use.certain and not use.condition
        findings.append(
            Finding(
                id=f"{ID}.missing-syscall",
                subject=use.syscall,
                mechanism=ID,
                severity="fail" if certain else "risk",
                title=f"{use.syscall} needs Linux {since}; this kernel answers ENOSYS",
                explanation=(
                    f"{use.syscall} first appeared in Linux {since}. "
                    + (
                        "Its caller does not fall back, so the operation fails."
                        if result == "broken"
                        else "portwise does not know whether its caller falls back."
                    )
                ),
                evidence=Evidence(image=[describe(use)], host=host_side),
                mitigations_host=[f"a host kernel {since} or newer"],
                mitigations_image=["a base image built for older kernels"],
                unknown=[] if result == "broken" else [f"how {use.example} handles ENOSYS"],
                references=["https://man7.org/linux/man-pages/man2/syscalls.2.html"],
            )
        )
    if handled:
        findings.append(
            Finding(
                id=f"{ID}.newer-syscalls-handled",
                mechanism=ID,
                severity="info",
                title=f"{len(handled)} system calls are newer than this kernel; callers cope",
                explanation=(
                    "These calls answer ENOSYS here; their callers fall back to an older call "
                    "or report an ordinary error, as the libc model records."
                ),
                evidence=Evidence(image=handled[:20], host=host_side),
            )
        )
    return findings


MECHANISM: Mechanism[KernelNeeds, KernelOffers] = Mechanism(
    id=ID,
    title="Kernel version",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=(ANNOUNCEMENT,),
)
