"""Seccomp: what the engine's default profile answers for each syscall the image may issue.

For every syscall the image's binaries or their libc may issue, portwise asks the host engine's
default profile (knowledge/seccomp, derived from the released profile files) what happens, as
this host enforces it: allowed; the profile's errno; ENOSYS from the OCI runtime in effect for
numbers above the highest one the profile names (runc >= 1.0.0-rc93 has that stub; crun and
youki do not: knowledge/oci_runtimes); or the default action because the libseccomp build the
runtime uses cannot resolve the name (a distribution's backports count: Debian 12's 2.5.4
resolves fchmodat2). gVisor's runsc answers calls itself, which portwise does not model: a risk.
That answer is then combined with how the caller reacts (rules/fallback): EPERM where glibc or
musl fall back only on ENOSYS is a FAIL (clone3 under Docker 20.10.9, faccessat2 under Docker
19.03, statx under Docker 17.x); a denied call whose error the program sees as an ordinary
failure (mount, ptrace without the capability) is only noted. A foreign image run through
qemu-user meets the filter with the emulator's calls, judged by name on the host's architecture.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache

from portwise.host.seccomp_table import UNCONFINED, Enforcer, enforcer
from portwise.knowledge import incidents, oci_runtimes, privileged, seccomp
from portwise.knowledge.architectures import machine_of
from portwise.lastcall import last_call
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.verdict import Evidence, Finding
from portwise.rules.base import Known, Mechanism, host_evidence, known, unknown_fact
from portwise.rules.fallback import Use, describe, errno_name, outcome, uses

ID = "seccomp"
# what breaks when the call fails and nothing falls back (man pages of each call)
EFFECTS = {
    "clone3": "threads and child processes are not created",
    "clone": "threads and child processes are not created",
    "faccessat2": "access checks on files fail ([ -x FILE ], access(), realpath())",
    "statx": "file status cannot be read (ls -l, stat, file metadata)",
    "fchmodat2": "changing a file's mode by path fails (chmod)",
    "copy_file_range": "file copies fail",
    "getrandom": "random numbers are not available (TLS, keys, hash seeds)",
    "close_range": "inherited descriptors are not closed before running a program",
    "pidfd_open": "process handles fail (waiting for and signalling children)",
    "pidfd_send_signal": "signalling a process through its handle fails",
    "openat2": "opening files with path-resolution limits fails",
    "io_uring_setup": "asynchronous I/O rings cannot be created",
    "epoll_pwait2": "waiting for events with a fine timeout fails",
    "rseq": "restartable sequences are not registered",
    "memfd_create": "anonymous memory files are not created",
}
ENOSYS = 38


@dataclass(frozen=True, slots=True)
class SeccompNeeds:
    machine: str
    libc: tuple[str, ...]  # libc families the image ships, for citing incidents
    uses: tuple[Use, ...]


@dataclass(frozen=True, slots=True)
class SeccompOffers:
    profile: Known[str]
    arch: Known[str]
    libseccomp: Known[str]
    enforcer: Enforcer
    kernel: str | None
    emulating: str | None = None  # the image's machine, when qemu-user runs it on this host

    @property
    def stub(self) -> bool | None:
        return self.enforcer.stub


def needs(image: ImageProfile) -> SeccompNeeds:
    machines = {b.machine for b in image.binaries}
    machine = (
        next(iter(machines)) if len(machines) == 1 else machine_of(image.platform.architecture)
    )
    return SeccompNeeds(machine, tuple(sorted({c.family for c in image.libc})), uses(image))


def offers(host: HostProfile) -> SeccompOffers:
    return SeccompOffers(
        known(host.engines.seccomp_profile),
        known(host.kernel.architecture),
        known(host.engines.libseccomp),
        enforcer(host),
        _kernel_version(host.kernel.release.value),
    )


def _kernel_version(release: str | None) -> str | None:
    """Only the version matters (profiles' minKernel); patch suffixes would split groups."""
    if release is None:
        return None
    parts = re.match(r"\d+(?:\.\d+){0,2}", release)
    return parts.group(0) if parts else None


def _decide(
    profile: str,
    syscall: str,
    arch: str,
    offer: SeccompOffers,
    stub: bool | None,
    *,
    every_name_known: bool = False,
) -> seccomp.SeccompDecision:
    """The answer under this host's runtime and libseccomp; every_name_known: as if the
    libseccomp resolved every name (the newest release)."""
    how = offer.enforcer
    return _decide_cached(
        profile,
        syscall,
        arch,
        None if every_name_known else how.libseccomp,
        how.libseccomp_extra,
        stub,
        how.runtime or "the runtime",
        offer.kernel,
    )


@lru_cache(maxsize=65536)
def _decide_cached(
    profile: str,
    syscall: str,
    arch: str,
    libseccomp: str | None,
    extra: frozenset[str],
    stub: bool | None,
    runtime: str,
    kernel: str | None,
) -> seccomp.SeccompDecision:
    return seccomp.decide(
        profile,
        syscall,
        arch,
        libseccomp=libseccomp,
        libseccomp_extra=extra,
        enosys_stub=stub,
        runtime=runtime,
        kernel=kernel,
    )


@last_call
def _by_syscall(need: SeccompNeeds) -> tuple[tuple[str, tuple[Use, ...]], ...]:
    """The image's uses grouped by call, in the calls' order (kept for the last need: the
    matrix judges one image's needs against every host in turn)."""
    by_syscall: dict[str, list[Use]] = defaultdict(list)
    for use in need.uses:
        by_syscall[use.syscall].append(use)
    return tuple((syscall, tuple(group)) for syscall, group in sorted(by_syscall.items()))


@lru_cache(maxsize=4096)
def _answers(
    profile: str,
    arch: str,
    libseccomp: str | None,
    extra: frozenset[str],
    stub: bool | None,
    runtime: str | None,
    kernel: str | None,
) -> dict[str, seccomp.SeccompDecision]:
    """The filter's answers under one host setting, filled in as calls are asked about: what
    _decide answers for these arguments (a dictionary read costs less than its memo's key)."""
    return {}


def judge(need: SeccompNeeds, offer: SeccompOffers) -> tuple[Finding, ...]:
    if not need.uses:
        return ()
    for label, fact in (("seccomp profile", offer.profile), ("kernel architecture", offer.arch)):
        if fact.value is None:
            return (
                unknown_fact(
                    ID,
                    "profile-unknown",
                    fact=label,
                    fact_value=fact,
                    why_needed=f"The image may issue {len(need.uses)} kinds of system calls, "
                    "and what the engine's seccomp filter answers decides whether they work.",
                ),
            )
    profile, arch = str(offer.profile.value), str(offer.arch.value)
    if profile == UNCONFINED:
        return ()
    if arch != need.machine:
        # run through qemu-user (if at all: the arch mechanism judges that), the image's calls
        # reach the filter as the emulator's own calls of the same names on this host's arch
        offer = replace(offer, emulating=need.machine)
    if offer.enforcer.filters is False:
        return (_sandboxed(need, offer),)
    how = offer.enforcer
    answers = _answers(
        profile, arch, how.libseccomp, how.libseccomp_extra, offer.stub, how.runtime, offer.kernel
    )
    findings: list[Finding] = []
    returned: list[str] = []
    for syscall, uses_of_it in _by_syscall(need):
        decision = answers.get(syscall)
        if decision is None:
            decision = answers[syscall] = _decide(profile, syscall, arch, offer, offer.stub)
        if decision.action in ("allow", "log"):
            continue
        group = list(uses_of_it)
        if decision.action in ("kill", "trap"):
            findings.append(_killed(syscall, group, decision, offer))
            continue
        code = decision.errno if decision.errno is not None else ENOSYS  # trace, no tracer
        outcomes = {use: outcome(use, code) for use in group}
        broken = [u for u, o in outcomes.items() if o == "broken"]
        unknown = [u for u, o in outcomes.items() if o == "unknown"]
        stub_fixes = offer.stub is None and _stub_answers_enosys(syscall, arch, offer)
        if broken:
            findings.append(_broken(syscall, broken, code, decision, need, offer, stub_fixes))
        elif unknown and not _refused_by_the_kernel(profile, syscall):
            # even a call every release of this engine denies (io_uring since docker 25):
            # a program that needs it fails on all of them, and portwise does not know
            findings.append(_direct(syscall, unknown, code, decision, offer))
        elif unknown:
            returned.append(
                f"{syscall} ({errno_name(code)}; the kernel also requires"
                f" {privileged.required_capability(syscall)}, which a default container lacks:"
                f" {privileged.source(syscall)})"
            )
        elif any(o == "returned" for o in outcomes.values()):
            returned.append(f"{syscall} ({errno_name(code)})")
    if returned:
        findings.append(_returned(returned, offer))
    if offer.emulating:
        findings.extend(_emulator(profile, arch, offer))
    return tuple(findings)


QEMU_THREAD = (
    "https://gitlab.com/qemu-project/qemu/-/blob/v7.2.0/util/qemu-thread-posix.c"
    " (qemu_thread_create: error_exit, abort) and util/rcu.c (the call_rcu thread, created"
    " at start)"
)


def _emulator(profile: str, arch: str, offer: SeccompOffers) -> tuple[Finding, ...]:
    """qemu-user's own calls meet the filter too: at start it creates its RCU thread, and a
    qemu built statically with glibc 2.34 or newer does so with clone3 first, falling back only
    on ENOSYS; qemu aborts when the thread cannot be created, whatever the image's code."""
    decision = _decide(profile, "clone3", arch, offer, offer.stub)
    if _works(decision):
        return ()
    answer = (
        errno_name(decision.errno if decision.errno is not None else ENOSYS)
        if decision.action == "errno"
        else decision.action
    )
    return (
        Finding(
            id=f"{ID}.emulator-thread",
            subject="process",
            mechanism=ID,
            severity="risk",
            title=f"qemu-user's own thread creation gets {answer} from clone3 under this profile",
            explanation=(
                "The emulator runs under the engine's filter as well: at start qemu-user creates"
                " a helper thread (call_rcu) with pthread_create, and a qemu linked statically"
                " with glibc 2.34 or newer (Debian's qemu-user-static since bookworm) issues"
                " clone3 for it, falling back to clone only on ENOSYS. When the thread cannot be"
                " created qemu prints 'qemu_thread_create: Operation not permitted' and aborts"
                " before the image's program runs (as PID 1 without an init it then hangs)."
                " Which C library the host's qemu was built with is not in the host profile."
            ),
            evidence=Evidence(
                image=[f"the image is {offer.emulating}: every program runs inside qemu-user"],
                host=_host_side("clone3", decision, offer),
            ),
            mitigations_host=[
                *_host_fixes("clone3", offer),
                "a seccomp profile that answers clone3 with ENOSYS (--security-opt seccomp=FILE)",
            ],
            mitigations_image=[f"publish a {arch} variant (a multi-architecture index)"],
            unknown=["the C library the host's qemu-user was built with (glibc >= 2.34: clone3)"],
            references=[decision.source, QEMU_THREAD],
        ),
    )


def _host_side(syscall: str, decision: seccomp.SeccompDecision, offer: SeccompOffers) -> list[str]:
    return [
        f"{offer.profile.value} default profile, {syscall}: {decision.reason} ({decision.source})",
        host_evidence("libseccomp", offer.libseccomp)
        + (
            f"; its build also resolves {syscall} ({offer.enforcer.libseccomp_extra_source})"
            if syscall in offer.enforcer.libseccomp_extra
            else ""
        ),
        offer.enforcer.describe(),
        *(
            [
                f"the image is {offer.emulating}: qemu-user passes most of its calls on as"
                f" {offer.arch.value} calls of the same names, which the filter judges (a call"
                " qemu does not implement gets ENOSYS from qemu itself)"
            ]
            if offer.emulating
            else []
        ),
    ]


def _stub_answers_enosys(syscall: str, arch: str, offer: SeccompOffers) -> bool:
    """Would an ENOSYS stub (runc#2750) change the answer? Matters when the runtime is unknown."""
    d = _decide(str(offer.profile.value), syscall, arch, offer, True)
    return d.action == "errno" and d.errno == ENOSYS


def _refused_by_the_kernel(profile: str, syscall: str) -> bool:
    """A privileged operation the kernel refuses without a capability the engine's default
    container does not have (settimeofday, pivot_root): EPERM on every host, by design."""
    needed = privileged.required_capability(syscall)
    return needed is not None and needed not in seccomp.default_capabilities(profile)


def _works(d: seccomp.SeccompDecision) -> bool:
    return d.action in ("allow", "log") or (d.action == "errno" and d.errno == ENOSYS)


def _runtime_fix(syscall: str, offer: SeccompOffers) -> str | None:
    """A runtime that answers ENOSYS above the profile, when that alone makes the call work:
    the first release of the runtime in effect that has the stub, else runc's."""
    profile, arch = str(offer.profile.value), str(offer.arch.value)
    if offer.stub or not _works(_decide(profile, syscall, arch, offer, True)):
        return None
    how = offer.enforcer
    own = oci_runtimes.first_with_stub(how.runtime) if how.runtime else None
    if own is not None and how.runtime is not None:
        return (
            f"{how.runtime} {own.since} or newer answers {syscall} with ENOSYS"
            f" ({own.source.url}); this host runs {how.runtime} {how.runtime_version or '?'}"
        )
    runc = oci_runtimes.first_with_stub("runc")
    since = runc.since if runc else "1.0.0-rc93"
    if how.runtime in (None, "runc"):
        return f"runc {since} or newer answers {syscall} with ENOSYS (runc#2750)"
    return (
        f"start containers with runc {since} or newer instead of {how.runtime}"
        f" {how.runtime_version or ''}".rstrip()
        + f": runc answers {syscall} with ENOSYS (runc#2750), {how.runtime} does not"
    )


def _host_fixes(syscall: str, offer: SeccompOffers) -> list[str]:
    """What to change on the host, each computed from the knowledge: the first libseccomp that
    resolves the name (when the profile names it but this libseccomp cannot), the first
    newer release of the same engine whose profile, under this host's libseccomp and runtime,
    answers differently (never a release whose profile gives the same answer), and a runtime
    with an ENOSYS stub when that alone changes the answer."""
    profile, arch = str(offer.profile.value), str(offer.arch.value)
    libseccomp, stub = offer.libseccomp.value, bool(offer.stub)
    fixes: list[str] = []
    if (
        libseccomp is not None
        and not _works(_decide(profile, syscall, arch, offer, stub))
        and _works(_decide(profile, syscall, arch, offer, stub, every_name_known=True))
    ):
        first = seccomp.libseccomp_first_known(syscall, arch)
        fixes.append(
            f"libseccomp {first} or newer, which resolves {syscall}: with {libseccomp} the"
            " profile's rule for it is skipped and the call gets the default action"
        )
    engine = profile.rpartition("-")[0]
    newer = [p for p in seccomp.profiles() if p.rpartition("-")[0] == engine]
    for name in newer[newer.index(profile) + 1 :] if profile in newer else []:
        if _works(_decide(name, syscall, arch, offer, stub)):
            fixes.append(
                f"upgrade the engine to {name} or later, whose default profile lets it work"
            )
            break
    runtime = _runtime_fix(syscall, offer)
    return [*fixes, runtime] if runtime else fixes


def _broken(
    syscall: str,
    broken: list[Use],
    code: int,
    decision: seccomp.SeccompDecision,
    need: SeccompNeeds,
    offer: SeccompOffers,
    stub_fixes: bool,
) -> Finding:
    certain = any(u.certain and not u.condition for u in broken) and not stub_fixes
    name = errno_name(code)
    ids = [i for family in need.libc for i in incidents.matching(ID, syscall=syscall, libc=family)]
    ids += [i for i in incidents.matching(ID, syscall=syscall) if i not in ids]
    host_fixes = _host_fixes(syscall, offer)
    host_fixes.append(
        f"run with a seccomp profile that answers {syscall} with ENOSYS "
        "(--security-opt seccomp=FILE); unconfined only to debug"
    )
    title, explanation = _why_broken(syscall, broken, name)
    return Finding(
        id=f"{ID}.{name.lower()}-no-fallback",
        subject=syscall,
        mechanism=ID,
        severity="fail" if certain else "risk",
        title=title,
        explanation=explanation
        + (
            f" If the host's OCI runtime answers ENOSYS above the profile (runc 1.0.0-rc93 or"
            f" newer) the call works: {_unknown_runtime(offer)}."
            if stub_fixes
            else ""
            if certain
            else " Only some calls are affected (see the conditions)."
        ),
        evidence=Evidence(
            image=[describe(u) for u in broken], host=_host_side(syscall, decision, offer)
        ),
        mitigations_host=host_fixes,
        mitigations_image=[
            f"rebuild on a base image whose libc does not issue {syscall} first"
            " (an older release), until the hosts are upgraded"
        ],
        unknown=["the OCI runtime in effect and its version"] if stub_fixes else [],
        incidents=ids,
        references=[decision.source, *incidents.references(ids)],
    )


def _unknown_runtime(offer: SeccompOffers) -> str:
    how = offer.enforcer
    if how.runtime is None:
        return f"the runtime in effect is not known ({how.runtime_source})"
    if how.runtime_version is None:
        return f"{how.runtime}'s version is not in the host profile"
    return f"portwise has no record of {how.runtime} {how.runtime_version}'s behaviour"


def _why_broken(syscall: str, broken: list[Use], name: str) -> tuple[str, str]:
    """Title and explanation: the libc's fallback misses this errno, or the runtime above it
    (caller model) does not cope with the error the libc passes on."""
    in_libc = [u for u in broken if u.caller is None]
    if in_libc:
        vias = sorted({u.via for u in in_libc})
        errnos = sorted({e for u in in_libc for e in u.fallback_errnos})
        title = (
            f"{syscall} gets {name} from the seccomp profile; {', '.join(vias)} "
            f"fall{'s' if len(vias) == 1 else ''} back only on {'/'.join(errnos) or 'nothing'}"
        )
        return title, (
            f"The image's libc tries {syscall} first and falls back to the older call only on "
            f"{', '.join(errnos) or 'no error'}. This host's default seccomp profile answers "
            f"{name}, so the function fails where it works on a newer engine: "
            f"{EFFECTS.get(syscall, 'the operation that needs it fails')}."
        )
    callers = sorted({str(u.caller).split(":", 1)[0] for u in broken})
    title = f"{syscall} gets {name} from the seccomp profile; {', '.join(callers)} cannot cope"
    return title, (
        f"The runtime that issues {syscall} ({'; '.join(callers)}) does not fall back when the "
        f"call fails with {name}: the operation fails or the process dies, where it works on "
        "a newer engine (see the caller model's source in the evidence)."
    )


def _direct(
    syscall: str,
    unknown: list[Use],
    code: int,
    decision: seccomp.SeccompDecision,
    offer: SeccompOffers,
) -> Finding:
    name = errno_name(code)
    return Finding(
        id=f"{ID}.denied-direct",
        subject=syscall,
        mechanism=ID,
        severity="risk",
        title=f"{syscall}, issued by the image's own code, is answered {name}",
        explanation=(
            f"Code in the image issues {syscall} itself (an instruction, libc's syscall() or a"
            f" wrapper: see the evidence); the profile answers {name}, and portwise does not"
            " know whether that code falls back."
        ),
        evidence=Evidence(
            image=[describe(u) for u in unknown], host=_host_side(syscall, decision, offer)
        ),
        mitigations_host=[
            *_host_fixes(syscall, offer),
            f"a seccomp profile that allows {syscall} or answers ENOSYS",
        ],
        unknown=[f"how {unknown[0].example} handles {name} from {syscall}"],
        references=[decision.source],
    )


def _killed(
    syscall: str, group: list[Use], decision: seccomp.SeccompDecision, offer: SeccompOffers
) -> Finding:
    certain = any(u.certain and not u.condition for u in group)
    return Finding(
        id=f"{ID}.killed",
        subject=syscall,
        mechanism=ID,
        severity="fail" if certain else "risk",
        title=f"{syscall} kills the process under the host's seccomp profile",
        explanation=f"The profile's action for {syscall} is {decision.action}: the process "
        "receives SIGSYS when it issues the call.",
        evidence=Evidence(
            image=[describe(u) for u in group], host=_host_side(syscall, decision, offer)
        ),
        mitigations_host=[f"a seccomp profile that answers {syscall} with an errno"],
        references=[decision.source],
    )


def _sandboxed(need: SeccompNeeds, offer: SeccompOffers) -> Finding:
    """gVisor's runsc answers every call in its own kernel, the profile unapplied by default:
    which of the image's calls it implements is not in portwise's knowledge."""
    how = offer.enforcer
    calls = sorted({u.syscall for u in need.uses})
    return Finding(
        id=f"{ID}.sandboxed-runtime",
        mechanism=ID,
        severity="risk",
        title=f"{how.runtime} answers the image's system calls itself",
        explanation=(
            f"The OCI runtime in effect, {how.runtime}, runs the container on its own kernel"
            " and does not apply the engine's seccomp profile unless told to: a call it does"
            " not implement gets ENOSYS. portwise does not know which of the image's"
            f" {len(calls)} calls it implements."
        ),
        evidence=Evidence(
            image=[f"{len(calls)} calls, e.g. {', '.join(calls[:8])}"],
            host=[how.describe()],
        ),
        mitigations_host=[
            f"run the image with runc or crun, or test it under {how.runtime}"
            " (portwise test --engine podman --runtime " + str(how.runtime) + ")"
        ],
        unknown=[f"which calls {how.runtime} implements"],
        references=[how.stub_source] if how.stub_source else [],
    )


def _returned(calls: list[str], offer: SeccompOffers) -> Finding:
    return Finding(
        id=f"{ID}.denied-returned",
        mechanism=ID,
        severity="info",
        title=f"{len(calls)} calls are denied and reported to the program as errors",
        explanation=(
            "The profile denies these; the libc functions that issue them return the error to"
            " the program, or the kernel would refuse them anyway to a container without the"
            " capability they need: the program sees an ordinary failure (permission denied,"
            " not implemented) rather than a broken fallback."
        ),
        evidence=Evidence(
            image=calls, host=[f"{offer.profile.value} default profile ({offer.profile.source})"]
        ),
    )


MECHANISM: Mechanism[SeccompNeeds, SeccompOffers] = Mechanism(
    id=ID,
    title="Seccomp profile and errno semantics",
    doc=__doc__ or "",
    needs=needs,
    offers=offers,
    judge=judge,
    references=(
        "https://github.com/opencontainers/runc/pull/2750",
        "https://github.com/moby/moby/pull/42836",
    ),
)
