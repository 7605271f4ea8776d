"""The effective seccomp answer of a host's default profile for the syscalls images trip over."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from portwise.knowledge import oci_runtimes
from portwise.knowledge.seccomp import SeccompDecision, decide, libseccomp_build
from portwise.model.host import HostProfile

# New calls a libc or runtime tries first and old profiles deny (knowledge/libc, incidents),
# plus calls whose denial breaks common programs.
WATCHED = (
    "clone3",
    "faccessat2",
    "statx",
    "openat2",
    "close_range",
    "fchmodat2",
    "rseq",
    "getrandom",
    "copy_file_range",
    "pidfd_open",
    "pidfd_send_signal",
    "epoll_pwait2",
    "execveat",
    "memfd_create",
    "membarrier",
    "io_uring_setup",
    "io_uring_enter",
    "landlock_create_ruleset",
    "futex_waitv",
    "mseal",
    "personality",
    "ptrace",
)
ERRNO_NAMES = {1: "EPERM", 38: "ENOSYS"}
UNCONFINED = "unconfined"  # the engine runs containers without a seccomp filter


@dataclass(frozen=True, slots=True)
class Enforcer:
    """What turns the profile into a filter on this host: the OCI runtime in effect and the
    libseccomp build it resolves names with. Unknown parts are None, never a guess."""

    runtime: str | None
    runtime_version: str | None
    runtime_source: str  # how the runtime in effect was decided, or why it is unknown
    stub: bool | None  # answers ENOSYS above the profile's highest named call
    stub_source: str | None
    filters: bool | None  # False: the runtime answers calls itself (gVisor), the profile is moot
    libseccomp: str | None  # upstream release
    libseccomp_extra: frozenset[str]  # names the build resolves beyond that release
    libseccomp_extra_source: str | None

    def describe(self) -> str:
        if self.runtime is None:
            return f"OCI runtime in effect: unknown ({self.runtime_source})"
        version = self.runtime_version or "version unknown"
        stub = {True: "answers ENOSYS", False: "no ENOSYS stub", None: "stub unknown"}[self.stub]
        return (
            f"OCI runtime in effect: {self.runtime} {version} ({self.runtime_source});"
            f" calls above the profile's highest named one: {stub}"
            + (f" ({self.stub_source})" if self.stub_source else "")
        )


def runtime_in_effect(host: HostProfile) -> tuple[str | None, str]:
    """The runtime the engine starts containers with: configured, the only one installed, or
    the engine's documented default; else unknown."""
    engines = host.engines
    configured = engines.default_runtime.value
    if configured is not None:
        return str(configured), f"{engines.default_runtime.source}"
    installed = [t.name for t in engines.runtimes.value or []]
    if len(installed) == 1:
        return installed[0], "the only OCI runtime installed"
    names = [t.name for t in engines.engines.value or []]
    if len(names) == 1:
        try:
            default = oci_runtimes.default_runtime(names[0], None, None)
        except KeyError:
            pass
        else:
            return default.runtime, f"{names[0]}'s default ({default.source.url})"
    return None, engines.default_runtime.unknown or "no runtime configured or installed"


def enforcer(host: HostProfile) -> Enforcer:
    runtime, how = runtime_in_effect(host)
    versions = {t.name: t.version.value for t in host.engines.runtimes.value or []}
    version = versions.get(runtime) if runtime else None
    behaviour = oci_runtimes.behaviour(runtime, version) if runtime else None
    stub = None if behaviour is None else {"yes": True, "no": False}.get(behaviour.enosys_stub)
    extra: frozenset[str] = frozenset()
    extra_source = None
    arch = host.kernel.architecture.value
    measured = host.engines.libseccomp_resolves
    build = libseccomp_build(host.engines.libseccomp_package.value)
    if measured.value is not None:
        extra, extra_source = frozenset(measured.value), measured.source
    elif build is not None and arch is not None:
        extra = frozenset(build.resolves_beyond.get(str(arch), ()))
        extra_source = f"{build.distribution} {build.package} ({build.source.url})"
    return Enforcer(
        runtime=runtime,
        runtime_version=version,
        runtime_source=how,
        stub=stub,
        stub_source=behaviour.source.url if behaviour else None,
        filters=behaviour.filters_syscalls if behaviour else None,
        libseccomp=host.engines.libseccomp.value,
        libseccomp_extra=extra,
        libseccomp_extra_source=extra_source,
    )


def runc_stub(host: HostProfile) -> bool | None:
    """Whether the runtime in effect answers ENOSYS above the profile's highest syscall."""
    return enforcer(host).stub


def seccomp_table(host: HostProfile) -> list[tuple[str, SeccompDecision]] | None:
    profile = host.engines.seccomp_profile.value
    arch = host.kernel.architecture.value
    if profile is None or arch is None:
        return None
    if profile == UNCONFINED:
        source = host.engines.seccomp_profile.source or ""
        return [
            (name, SeccompDecision("allow", None, "no seccomp filter (unconfined)", source))
            for name in WATCHED
        ]
    how = enforcer(host)
    return [
        (
            name,
            decide(
                profile,
                name,
                arch,
                libseccomp=how.libseccomp,
                libseccomp_extra=how.libseccomp_extra,
                enosys_stub=how.stub,
                runtime=how.runtime or "the runtime",
                kernel=host.kernel.release.value,
            ),
        )
        for name in WATCHED
    ]


def describe(decision: SeccompDecision) -> str:
    if decision.action == "errno":
        code = decision.errno or 1
        return f"errno {ERRNO_NAMES.get(code, str(code))}"
    return decision.action


def refused(host: HostProfile, names: Iterable[str]) -> frozenset[str]:
    """The calls among `names` that the engine's filter answers with something other than
    "allow" for every argument (no argument-filtered rule), on this host's architecture:
    whatever the kernel offers, such a call never reaches it. Empty when the profile or the
    architecture is unknown, or the engine runs unconfined."""
    profile, arch = host.engines.seccomp_profile.value, host.kernel.architecture.value
    if profile is None or arch is None or profile == UNCONFINED:
        return frozenset()
    how = enforcer(host)
    out = set()
    for name in names:
        try:
            decision = decide(
                str(profile),
                name,
                str(arch),
                libseccomp=how.libseccomp,
                libseccomp_extra=how.libseccomp_extra,
                enosys_stub=how.stub,
                kernel=host.kernel.release.value,
            )
        except ValueError:  # an architecture the profiles do not cover
            return frozenset()
        # EPERM or ENOSYS, stub or not: the call fails before the kernel's feature matters
        if decision.action not in ("allow", "log") and not decision.reason.startswith(
            "conditional"
        ):
            out.add(name)
    return frozenset(out)


def filters(host: HostProfile) -> bool:
    """The engine applies a seccomp filter, so the kernel supports filters (runc and crun
    refuse to start a container whose filter the kernel cannot load)."""
    profile = host.engines.seccomp_profile.value
    return profile is not None and profile != UNCONFINED
