"""What a caller does when one of its system calls fails with a given errno.

Shared by the seccomp and kernel mechanisms: both end in "the call returns errno E". Whether
that breaks the program depends on the caller, recorded per use in the image profile from the
libc model (knowledge/libc): glibc and musl retry the old call on ENOSYS only, so EPERM from an
old seccomp profile breaks them where ENOSYS from an old kernel does not.
"""

from __future__ import annotations

import errno as errno_codes
from typing import Literal, NamedTuple

from portwise.lastcall import last_call
from portwise.model.image import ImageProfile

Outcome = Literal["ok", "returned", "broken", "unknown"]


class Use(NamedTuple):
    """One way the image reaches a syscall, reduced to what judging needs.

    A named tuple rather than a frozen dataclass: an image has hundreds, built for every image
    of a fleet and hashed when images are grouped, and a tuple is built and hashed in C.
    """

    syscall: str
    via: str
    path: str  # direct | syscall() | thunk | libc | dlsym (model.image.SyscallSource.path)
    on_failure: str
    fallback: str | None
    fallback_errnos: tuple[str, ...]
    certain: bool
    condition: str | None
    binaries: int
    example: str
    source: str | None
    site: str | None = None  # "BINARY 0xADDR PATH": the first issuing point, for direct paths
    caller: str | None = None  # the runtime above libc that meets the error, when modelled
    caller_on_failure: str | None = None
    caller_errnos: tuple[str, ...] = ()
    caller_other: str | None = None
    caller_source: str | None = None


@last_call
def uses(image: ImageProfile) -> tuple[Use, ...]:
    """The image's syscall uses (the last image's are kept: every mechanism asks in turn)."""
    new = tuple.__new__  # Use(...) without its Python __new__: hundreds per image of a fleet
    return tuple(
        new(
            Use,
            (
                need.name,
                s.via,
                s.path,
                s.on_failure,
                s.fallback,
                tuple(s.fallback_errnos),
                s.certain,
                s.condition,
                s.binaries,
                s.examples[0] if s.examples else "",
                s.source,
                s.sites[0] if s.sites else None,
                s.caller,
                s.caller_on_failure,
                tuple(s.caller_fallback_errnos),
                s.caller_other_errors,
                s.caller_source,
            ),
        )
        for need in image.binary_summary.syscalls
        for s in need.sources
    )


# Python names 95 ENOTSUP and 35 EDEADLOCK; the kernel, the man pages and the knowledge files
# say EOPNOTSUPP and EDEADLK (the same numbers on Linux)
_KERNEL_NAMES = {errno_codes.EOPNOTSUPP: "EOPNOTSUPP", errno_codes.EDEADLK: "EDEADLK"}


def errno_name(code: int) -> str:
    return _KERNEL_NAMES.get(code) or errno_codes.errorcode.get(code, f"errno {code}")


def outcome(use: Use, code: int) -> Outcome:
    """ok: the caller carries on (falls back or ignores); returned: the function reports the
    error to the program, as it would for any failure; broken: a call that works elsewhere
    fails or the process dies; unknown: portwise does not know how the caller reacts.

    The libc reacts first; an error it passes on meets the runtime above it when the caller
    model knows that runtime: then that runtime's reaction decides (an error it returns to
    the program breaks an operation that works on other hosts).
    """
    name = errno_name(code)
    native = _libc_outcome(use, name)
    if use.caller_on_failure is None or native == "ok":
        return native
    return "ok" if caller_copes(use, name) else "broken"


def caller_copes(use: Use, errno: str) -> bool:
    """Does the modelled runtime fall back from, or ignore, this errno?"""
    if use.caller_on_failure == "ignored":
        return True
    if use.caller_on_failure in ("fallback-on-enosys", "fallback-on-any") and (
        "*" in use.caller_errnos or errno in use.caller_errnos
    ):
        return True
    return use.caller_other == "ignored"


def _libc_outcome(use: Use, name: str) -> Outcome:
    if use.on_failure == "fallback-on-any" or use.on_failure == "ignored":
        return "ok"
    if use.on_failure == "fallback-on-enosys":
        return "ok" if name in use.fallback_errnos or "*" in use.fallback_errnos else "broken"
    if use.on_failure == "fatal":
        return "broken"
    if use.on_failure == "error-returned":
        return "returned"
    return "unknown"


_PATHS = {
    "direct": "issued directly (a syscall instruction)",
    "syscall()": "issued through libc's syscall() with a constant number",
    "thunk": "issued through a wrapper function inside the binary",
}


def _path_text(use: Use) -> str:
    if use.path in _PATHS:
        return _PATHS[use.path]
    if use.path == "dlsym":
        return f"via {use.via}(), which the binary may look up by name with dlsym"
    return f"via {use.via}()"


def _caller_text(use: Use) -> str:
    errnos = ", ".join(use.caller_errnos) or "none"
    other = f"{use.caller_other} on other errors"
    if use.caller_on_failure == "ignored":
        return "ignores a failure"
    if use.caller_on_failure in ("fallback-on-enosys", "fallback-on-any"):
        every = "any error" if "*" in use.caller_errnos else errnos
        return f"falls back on {every}, {other}"
    return f"{use.caller_on_failure} (no fallback)"


def describe(use: Use) -> str:
    """`clone3 via pthread_create in 10 binaries (e.g. /usr/bin/sort): ...`."""
    text = f"{use.syscall} {_path_text(use)} in {use.binaries} binaries (e.g. {use.example})"
    if use.site:
        text += f", at {use.site.partition(' ')[2]}"
    if use.on_failure == "fallback-on-enosys":
        text += f"; falls back to {use.fallback} only on {', '.join(use.fallback_errnos)}"
    elif use.on_failure == "fallback-on-any":
        text += f"; falls back to {use.fallback} on any error"
    elif use.on_failure == "fatal":
        text += "; the process aborts if it fails"
    elif use.on_failure == "ignored":
        text += "; a failure is ignored"
    elif use.on_failure == "unknown" and not use.caller:
        text += "; how the caller handles failure is unknown"
    if use.caller:
        text += f"; the caller, {use.caller}: {_caller_text(use)} ({use.caller_source})"
    if use.condition:
        text += f"; {'' if use.condition.startswith('only') else 'only '}{use.condition}"
    if not use.certain and use.path == "dlsym":
        text += "; possible, not certain (a name in read-only data)"
    elif not use.certain:
        text += "; a version is unknown, so this use is possible, not certain"
    return text
