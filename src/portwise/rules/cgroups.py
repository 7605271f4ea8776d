"""cgroups: runtimes that only understand cgroup v1, on hosts that mount the unified v2 tree.

Inside a container on a cgroup v2 host, /sys/fs/cgroup holds cgroup.controllers and memory.max
instead of memory/memory.limit_in_bytes. A JVM that only parses the v1 files (JDK 8 before
8u372, 11 before 11.0.16, feature releases before 15) finds no limit and sizes its heap and
thread pools from the host's memory and CPUs: it starts, then is OOM-killed under a memory
limit (a risk, not a certain failure: -Xmx or -XX:MaxRAM avoid it). systemd older than 230
cannot mount the cgroup2 filesystem when it runs as PID 1 and freezes at boot (a failure).
Hybrid and v1 hosts are fine for both.
"""

from __future__ import annotations

from dataclasses import dataclass

from portwise.image.runtimes import jvms, systemd_init
from portwise.knowledge import incidents
from portwise.knowledge.runtimes import jvm_reads_cgroup_v2, load
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact

ID = "cgroups"


@dataclass(frozen=True, slots=True)
class Runtime:
    kind: str  # jvm | systemd
    status: str  # aware | unaware | unknown-version | unconfirmed (IBM J9)
    evidence: str
    source: str | None  # the knowledge row that decided it


@dataclass(frozen=True, slots=True)
class CgroupNeeds:
    runtimes: tuple[Runtime, ...]  # only those that may not read cgroup v2


@dataclass(frozen=True, slots=True)
class CgroupOffers:
    version: Known[str]


def needs(image: ImageProfile) -> CgroupNeeds:
    found: list[Runtime] = []
    for jvm in jvms(image):
        if jvm.vendor == "ibm-j9":
            found.append(Runtime("jvm", "unconfirmed", f"IBM J9: {jvm.evidence}", None))
        elif jvm.feature is None or jvm.update is None:
            found.append(Runtime("jvm", "unknown-version", jvm.evidence, None))
        else:
            aware, rule = jvm_reads_cgroup_v2(jvm.feature, jvm.update)
            if not aware:
                found.append(Runtime("jvm", "unaware", jvm.evidence, rule.source))
    init = systemd_init(image)
    if init is not None:
        first = load().systemd_cgroup_v2
        if init.version is None:
            found.append(Runtime("systemd", "unknown-version", init.evidence, None))
        elif init.version < first.first_version:
            found.append(Runtime("systemd", "unaware", init.evidence, first.source))
    return CgroupNeeds(tuple(found))


def offers(host: HostProfile) -> CgroupOffers:
    return CgroupOffers(known(host.cgroup.version))


def judge(need: CgroupNeeds, offer: CgroupOffers) -> tuple[Finding, ...]:
    if not need.runtimes:
        return ()
    version = offer.version
    if version.value is None:
        return (
            unknown_fact(
                ID,
                "version-unknown",
                fact="cgroup version",
                fact_value=version,
                why_needed="The image runs a runtime that may only read cgroup v1 "
                "(it misjudges or fails on a cgroup v2 host).",
                image_evidence=[r.evidence for r in need.runtimes],
                incidents=_incidents(need),
                references=incidents.references(_incidents(need)),
            ),
        )
    if version.value != "v2":
        return ()
    return tuple(_finding(r, version) for r in need.runtimes)


def _incidents(need: CgroupNeeds) -> list[str]:
    kinds = dict.fromkeys(r.kind for r in need.runtimes)
    return [i for kind in kinds for i in incidents.matching(ID, runtime=kind)]


def _finding(runtime: Runtime, version: Known[str]) -> Finding:
    ids = incidents.matching(ID, runtime=runtime.kind)
    refs = incidents.references(ids) + ([runtime.source] if runtime.source else [])
    host = [host_evidence("cgroup version", version)]
    if runtime.kind == "systemd":
        if runtime.status == "unaware":
            return Finding(
                id=f"{ID}.systemd-no-v2",
                mechanism=ID,
                severity="fail",
                title="systemd as PID 1 predates cgroup v2 and freezes on this host",
                explanation=(
                    f"systemd before {load().systemd_cgroup_v2.first_version} cannot mount the "
                    "cgroup2 filesystem; as the container's init it fails to mount "
                    "/sys/fs/cgroup/systemd and stops ('Failed to mount API filesystems, "
                    "freezing')."
                ),
                evidence=Evidence(image=[runtime.evidence], host=host),
                mitigations_host=["boot with systemd.unified_cgroup_hierarchy=0 (cgroup v1)"],
                mitigations_image=["move the image to an EL8+ (systemd >= 239) base"],
                incidents=ids,
                references=list(dict.fromkeys(refs)),
            )
        return _unsure(runtime, version, ids, refs, "systemd as PID 1 of unknown version")
    if runtime.status == "unaware":
        return Finding(
            id=f"{ID}.jvm-v1-only",
            mechanism=ID,
            severity="risk",
            title="this JVM reads only cgroup v1: under a memory limit it sizes itself "
            "from the host and is OOM-killed",
            explanation=(
                "On a cgroup v2 host the JVM finds no v1 memory or CPU files, so it takes the "
                "host's memory and CPU count for its default heap, GC and thread pools. It "
                "starts, but a container memory limit then kills it; without limits nothing "
                "changes. JDK 8u372, 11.0.16 and 15 were the first to read cgroup v2."
            ),
            evidence=Evidence(image=[runtime.evidence], host=host),
            mitigations_host=["boot with systemd.unified_cgroup_hierarchy=0 (cgroup v1)"],
            mitigations_image=[
                "upgrade the JDK (8u372+, 11.0.16+, 17+)",
                "set -Xmx or -XX:MaxRAM explicitly",
            ],
            incidents=ids,
            references=list(dict.fromkeys(refs)),
        )
    what = "an IBM J9 JVM" if runtime.status == "unconfirmed" else "a JVM of unknown version"
    return _unsure(runtime, version, ids, refs, what)


def _unsure(
    runtime: Runtime, version: Known[str], ids: list[str], refs: list[str], what: str
) -> Finding:
    return Finding(
        id=f"{ID}.{runtime.kind}-unconfirmed",
        mechanism=ID,
        severity="risk",
        title=f"{what} on a cgroup v2 host: its cgroup v2 support is not known",
        explanation=(
            f"portwise cannot tell whether {what} reads cgroup v2; versions that do not "
            "misjudge their limits (JVM) or fail to boot (systemd) on this host."
        ),
        evidence=Evidence(
            image=[runtime.evidence], host=[host_evidence("cgroup version", version)]
        ),
        mitigations_image=["record the runtime's version in the image (package or env)"],
        unknown=[f"{runtime.kind} version"],
        incidents=ids,
        references=list(dict.fromkeys(refs)),
    )


MECHANISM: Mechanism[CgroupNeeds, CgroupOffers] = Mechanism(
    id=ID,
    title="cgroup version",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=("https://docs.kernel.org/admin-guide/cgroup-v2.html",),
)
