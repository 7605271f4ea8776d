"""From a HostProfile to the constraints one machine can impose: what it emulates, what it cannot.

The host's default seccomp profile is written out as an OCI filter that lists every syscall of
this machine's architecture with the answer portwise's model gives for that host (knowledge/
seccomp.decide: the profile's rules, its errno, names the host's libseccomp does not know, runc's
ENOSYS stub or its absence). Listing every call also switches off the local runc's own stub, so
an old runc's EPERM is reproduced faithfully. The host kernel's age is emulated by answering
ENOSYS for calls newer than it, and a 2.6 kernel by the UNAME26 personality. Whatever cannot
be imposed here (page size, vsyscall mode, cgroup version, FIPS, ...) is listed as not emulated,
so a passing run is never read as proof of it.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portwise.host.cpu import read_cpu
from portwise.host.files import HostFiles
from portwise.host.kernel import MACHINE_NAMES
from portwise.host.seccomp_table import UNCONFINED, enforcer
from portwise.knowledge import seccomp, syscalls
from portwise.knowledge.architectures import machine_of
from portwise.knowledge.cpu_levels import LEVEL_ORDER
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.versions import version_key

ENOSYS = 38


@dataclass(frozen=True)
class Emulation:
    host: str
    seccomp: dict[str, Any] | None  # OCI linux.seccomp; None runs without a filter
    uname26: bool  # run under the UNAME26 personality (a 2.6 kernel's uname)
    foreign: str | None  # the image's machine when it differs from this one (qemu-user)
    cpu_model: str | None = None  # qemu -cpu model imposing the host's lower x86-64 level
    rlimits: tuple[tuple[str, int, int], ...] = ()  # (RLIMIT_*, soft, hard) from the host
    emulated: list[str] = field(default_factory=list)
    not_emulated: list[str] = field(default_factory=list)
    # mechanisms and finding ids whose cause this run cannot reproduce: a run that passes
    # says nothing about them, so their findings make a probe's prediction a risk
    unreproduced: frozenset[str] = frozenset()


def local_machine() -> str:
    machine = platform.machine()
    return MACHINE_NAMES.get(machine, machine)


def _action(decision: seccomp.SeccompDecision) -> tuple[str, int | None]:
    return f"SCMP_ACT_{decision.action.upper()}", decision.errno


def _rule(rule: dict[str, Any], name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"names": [name], "action": f"SCMP_ACT_{rule['action'].upper()}"}
    out["args"] = [
        {"index": i, "op": op, "value": value, "valueTwo": two}
        for i, op, value, two in rule["args"]
    ]
    if rule["action"] == "errno":
        out["errnoRet"] = int(rule.get("errnoRet") or 1)
    return out


def seccomp_filter(host: HostProfile, machine: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The host's effective default profile as an OCI filter for syscalls issued on `machine`."""
    profile = host.engines.seccomp_profile.value
    if profile is None:
        why = host.engines.seccomp_profile.unknown or "not recorded"
        return None, [f"seccomp profile unknown ({why}): run with no filter"]
    if profile == UNCONFINED:
        return None, []
    release = host.kernel.release.value
    kernel = ".".join(map(str, version_key(release)[:3])) if release else None
    shape = seccomp.shape(profile, machine, kernel=kernel)
    answers: dict[tuple[str, int | None], list[str]] = {}
    rules: list[dict[str, Any]] = []
    notes: list[str] = []
    newer: list[str] = []
    how = enforcer(host)
    for name in sorted(set(syscalls.table(machine).values())):
        decision = seccomp.decide(
            profile,
            name,
            machine,
            libseccomp=how.libseccomp,
            libseccomp_extra=how.libseccomp_extra,
            enosys_stub=how.stub,
            runtime=how.runtime or "the runtime",
            kernel=kernel,
        )
        if decision.reason.startswith("conditional") and name in shape.conditional:
            rules.extend(_rule(r, name) for r in shape.conditional[name])
            continue
        action = _action(decision)
        since = syscalls.introduced(name, machine)
        if (
            action[0] == "SCMP_ACT_ALLOW"
            and kernel
            and since
            and version_key(since) > version_key(kernel)
        ):
            action = ("SCMP_ACT_ERRNO", ENOSYS)
            newer.append(name)
        answers.setdefault(action, []).append(name)
    for (scmp, errno), names in sorted(answers.items(), key=lambda i: (i[0][0], i[0][1] or 0)):
        entry: dict[str, Any] = {"names": names, "action": scmp}
        if errno is not None:
            entry["errnoRet"] = errno
        rules.append(entry)
    if newer:
        notes.append(f"kernel {kernel}: {len(newer)} newer syscalls answer ENOSYS")
    document: dict[str, Any] = {
        "defaultAction": f"SCMP_ACT_{shape.default_action.upper()}",
        "architectures": list(shape.arches),
        "syscalls": rules,
    }
    if shape.default_errno is not None:
        document["defaultErrnoRet"] = shape.default_errno
    return document, notes


def plan(host: HostProfile, image: ImageProfile) -> Emulation:
    here = local_machine()
    wanted = machine_of(image.platform.architecture)
    filt, notes = seccomp_filter(host, here)
    emulated: list[str] = []
    not_emulated: list[str] = []
    profile = host.engines.seccomp_profile.value
    if filt is not None:
        how = enforcer(host)
        stub = {True: "yes", False: "no", None: "unknown, taken as no"}[how.stub]
        emulated.append(
            f"seccomp: {profile} default profile as {host.name} answers it"
            f" ({how.runtime or 'runtime unknown'}; ENOSYS stub: {stub})"
        )
    elif profile == UNCONFINED:
        emulated.append("seccomp: none (the host's engine runs containers unconfined)")
    for note in notes:
        (not_emulated if note.startswith("seccomp profile unknown") else emulated).append(note)
    release = host.kernel.release.value
    uname26 = bool(release) and version_key(release or "")[:1] == (2,)
    if uname26:
        emulated.append(f"uname: 2.6 personality for kernel {release}")
    elif release and release != os.uname().release:
        not_emulated.append(f"uname still reports {os.uname().release}, not {release}")
    foreign = wanted if wanted != here else None
    if foreign:
        host_arch = host.kernel.architecture.value
        emulated.append(f"{foreign} through qemu-user on this {here} machine")
        if host_arch == foreign:
            not_emulated.append(
                f"a native {foreign} host: here qemu runs it, and the filter sees {here} calls"
            )
    not_emulated.extend(_not_emulated(host))
    # glibc's kernel check of dynamic programs: ld.so reads the version from the vDSO, which no
    # personality changes (measured: knowledge/real-engine-here.md); static programs do see it
    unreproduced = {*NEVER_REPRODUCED, "kernel.too-old-for-libc"}
    if uname26:
        not_emulated.append("glibc's kernel check in dynamically linked programs (vDSO)")
    if not foreign:
        unreproduced.add("arch")
    rlimits, limit_notes = _rlimits(host)
    for note in limit_notes:
        (emulated if note.startswith("ulimit") else not_emulated).append(note)
    cpu_model, cpu_note = _cpu_model(host, wanted, here)
    if cpu_model and cpu_note:
        unreproduced.discard("cpu")
        emulated.append(cpu_note)
    elif cpu_note:
        not_emulated.append(cpu_note)
    return Emulation(
        host.name,
        filt,
        uname26,
        foreign,
        cpu_model,
        rlimits,
        emulated,
        not_emulated,
        frozenset(unreproduced),
    )


RLIMITS = {
    "nofile": ("RLIMIT_NOFILE", resource.RLIMIT_NOFILE),
    "nproc": ("RLIMIT_NPROC", resource.RLIMIT_NPROC),
}


def _rlimits(host: HostProfile) -> tuple[tuple[tuple[str, int, int], ...], list[str]]:
    """The engine's default ulimits, where this machine lets a container have them."""
    out: list[tuple[str, int, int]] = []
    notes: list[str] = []
    for item in host.engines.default_ulimits.value or []:
        name, _, value = item.partition("=")
        soft_text, _, hard_text = value.partition(":")
        if name not in RLIMITS or not soft_text.lstrip("-").isdigit():
            notes.append(f"default ulimit {item} (not understood)")
            continue
        soft, hard = int(soft_text), int(hard_text or soft_text)
        oci, number = RLIMITS[name]
        local_hard = resource.getrlimit(number)[1]
        if local_hard != resource.RLIM_INFINITY and max(soft, hard) > local_hard:
            notes.append(f"default ulimit {item}: above this machine's hard limit {local_hard}")
            continue
        out.append((oci, soft, hard))
        notes.append(f"ulimit {item} (the engine's default)")
    return tuple(out), notes


# qemu's CPU models whose features are exactly an x86-64 level's (qemu's TCG has no AVX-512,
# so x86-64-v4 cannot be imposed). Measured here: a -march=x86-64-v3 program dies with SIGILL
# under Nehalem and runs under Haswell.
QEMU_CPU_MODELS = {"x86-64-baseline": "qemu64", "x86-64-v2": "Nehalem", "x86-64-v3": "Haswell"}
QEMU_X86_64 = "qemu-x86_64-static"


def _cpu_model(host: HostProfile, wanted: str, here: str) -> tuple[str | None, str | None]:
    """A qemu CPU model when the host's level is below this machine's, else why not."""
    level = host.cpu.x86_64_level.value
    if level is None or wanted != "x86-64" or here != "x86-64":
        return None, None
    local = read_cpu(HostFiles(Path("/")), here).x86_64_level.value
    if local is None or LEVEL_ORDER.index(level) >= LEVEL_ORDER.index(local):
        return None, None
    model = QEMU_CPU_MODELS.get(level)
    if model is None or shutil.which(QEMU_X86_64) is None:
        return None, f"CPU level {level} (this machine's {local} CPU is used)"
    return model, (
        f"CPU {level}: each probe's first program runs under {QEMU_X86_64} -cpu {model} "
        "(programs it starts run natively)"
    )


# Mechanisms whose host side no option on one machine imposes (see _not_emulated).
NEVER_REPRODUCED = (
    "cpu",
    "pagesize",
    "vsyscall",
    "cgroups",
    "fips",
    "gpu",
    "network",
    "hostconfig",
)


def _not_emulated(host: HostProfile) -> list[str]:
    """Host facts that differ from this machine and that no option here can impose."""
    out: list[str] = []
    page = host.kernel.page_size.value
    if page is not None and page != os.sysconf("SC_PAGESIZE"):
        out.append(f"page size {page}")
    if host.kernel.vsyscall.value not in (None, "xonly"):
        out.append(f"vsyscall={host.kernel.vsyscall.value}")
    if host.cgroup.version.value is not None:
        out.append(f"cgroup {host.cgroup.version.value} (this machine's hierarchy is used)")
    if host.security.fips.value:
        out.append("FIPS mode")
    if host.gpu.nvidia_driver.value is not None:
        out.append(f"NVIDIA driver {host.gpu.nvidia_driver.value}")
    if host.engines.iptables_backend.value is not None:
        out.append(f"iptables back end {host.engines.iptables_backend.value}")
    return out
