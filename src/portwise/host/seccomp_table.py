"""The effective seccomp answer of a host's default profile for the syscalls images trip over."""

from __future__ import annotations

import re

from portwise.knowledge.seccomp import SeccompDecision, decide
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


def runc_stub(host: HostProfile) -> bool | None:
    """runc >= 1.0.0-rc93 answers ENOSYS above the profile's highest syscall (runc#2750)."""
    runtimes = {t.name: t.version.value for t in host.engines.runtimes.value or []}
    version = runtimes.get("runc")
    if version is None:
        return None
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:3])
    if numbers >= (1, 0, 1) or (numbers[:3] == (1, 0, 0) and "rc" not in version):
        return True
    rc = re.search(r"rc(\d+)", version)
    return bool(rc and int(rc.group(1)) >= 93)


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
    return [
        (
            name,
            decide(
                profile,
                name,
                arch,
                libseccomp=host.engines.libseccomp.value,
                runc_enosys_stub=runc_stub(host),
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
