"""Every system call an image may issue, by which path, and who reacts when it fails.

Paths: a binary issues the call itself (an instruction, libc's syscall(), a wrapper around
either: elf/syscalls), or through a libc function it imports or may look up with dlsym
(knowledge/libc). When the call fails, the libc reacts first (the libc model); whatever error
it passes on reaches the runtime above it, whose reaction the caller model knows for some
runtimes and versions (knowledge/callers, image/langruntimes): each binary's uses are split by
that reaction, so a Go program that falls back and a JVM that dies are judged apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from portwise.image.langruntimes import CallerOfCall
from portwise.knowledge.callers import CallerReaction, modelled_syscalls
from portwise.knowledge.libc import PROCESS, SyscallUse, libc_syscalls
from portwise.knowledge.syscalls import number as syscall_number
from portwise.model.image import ElfBinary, Libc, SyscallNeed, SyscallSource

EXAMPLES = 5
SITES = 5
SELF_PATHS = frozenset({"direct", "syscall()", "thunk"})
NAMED_WRAPPER_SOURCE = (
    "portwise: an imported libc function named after a system call is taken to issue it"
    " (glibc's and musl's thin wrappers); the libc model has no entry for it"
)
# what the caller does with an error, worst first: the one reported when several runtimes
# share a process (a Rust program linking GLib) and react differently
SEVERITY = ("fatal", "error-returned", "fallback-on-enosys", "fallback-on-any", "ignored")
CallerLookup = Callable[[str, str], Sequence[CallerOfCall]]


class Key(NamedTuple):
    syscall: str
    via: str
    path: str
    on_failure: str
    fallback: str | None
    fallback_errnos: tuple[str, ...]
    certain: bool
    source: str | None
    condition: str | None
    caller: str | None = None
    caller_on_failure: str | None = None
    caller_errnos: tuple[str, ...] = ()
    caller_other: str | None = None
    caller_source: str | None = None


@dataclass(slots=True)
class _Reach:
    binaries: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)


def _libc_key(u: SyscallUse, path: str, certain: bool) -> Key:
    return Key(
        u.syscall, u.function, path, u.on_failure, u.fallback, u.fallback_errnos,
        u.certain and certain, u.source, u.condition,
    )  # fmt: skip


def _named_wrappers(unknown: list[str], machine: str) -> list[SyscallUse]:
    """Uses for imported functions the libc model lacks but that are named after a call."""
    uses = []
    for name in unknown:
        if syscall_number(machine, name) is not None:
            uses.append(SyscallUse(name, name, "error-returned", None, (), NAMED_WRAPPER_SOURCE))
    return uses


def _reaches(reaction: CallerReaction, key: Key) -> bool:
    """Does the caller model's entry describe this use (its via against the use's path)?

    "libc:statx" is a call of glibc's statx(); "dlsym:statx" a lookup by name, which Rust's
    std falls back from to a raw syscall() when the symbol is missing; "direct" and
    "syscall()" are the runtime's own calls, whatever wrapper the compiler left around them.
    """
    kind, _, name = reaction.via.partition(":")
    if kind == "libc":
        return key.path == "libc" and key.via == name
    if kind == "dlsym":  # or linked directly, when the libc it was built against had it
        return (key.path in ("dlsym", "libc") and key.via == name) or key.path in SELF_PATHS
    return key.path in SELF_PATHS


def _refined(key: Key, binary: str, callers: CallerLookup | None) -> Key:
    """The key with the reaction of the runtime in this binary's process, when one is known."""
    if callers is None or key.on_failure in ("fallback-on-any", "ignored"):
        return key  # nothing reaches the caller, or it was already known
    if key.syscall not in modelled_syscalls():
        return key
    found: list[tuple[CallerOfCall, CallerReaction]] = [
        (caller, reaction)
        for caller in callers(binary, key.syscall)
        for reaction in caller.reactions
        if _reaches(reaction, key)
    ]
    if not found:
        return key
    caller, reaction = min(found, key=lambda cr: SEVERITY.index(cr[1].on_failure))
    runtime = caller.runtime
    where = f"{runtime.component} {runtime.version or '(version unknown)'}"  # binaries: examples
    condition = " and ".join(c for c in (key.condition, reaction.condition) if c) or None
    return key._replace(
        certain=key.certain and reaction.certain,
        condition=condition,
        caller=f"{where}: {reaction.api}",
        caller_on_failure=reaction.on_failure,
        caller_errnos=tuple(reaction.fallback_errnos),
        caller_other=reaction.on_other_errors,
        caller_source=reaction.source,
    )


def _static_startup(libc: list[Libc]) -> Callable[[str | None, str], dict[str, SyscallUse]]:
    """The calls a C library makes for every process (rseq registration...), per family and
    machine: a static binary carries that code, so its own instructions for these calls react
    as the libc model says. The version is the image's shipped libc, else unknown."""
    shipped: dict[str, str | None] = {lib.family: lib.version for lib in libc}
    memo: dict[tuple[str, str], dict[str, SyscallUse]] = {}

    def uses(family: str | None, machine: str) -> dict[str, SyscallUse]:
        if family is None or family not in ("glibc", "musl"):
            return {}
        if (family, machine) not in memo:
            found, _ = libc_syscalls(family, shipped.get(family), machine, ())
            # only calls the start-up code surely tolerates: a use with a fallback or ignored
            memo[(family, machine)] = {
                u.syscall: u for u in found if u.on_failure in ("ignored", "fallback-on-any")
            }
        return memo[(family, machine)]

    return uses


def _as_startup(key: Key, use: SyscallUse) -> Key:
    return key._replace(
        on_failure=use.on_failure,
        fallback=use.fallback,
        fallback_errnos=use.fallback_errnos,
        certain=False,  # the static copy's version is not read: the behaviour is the family's
        source=use.source,
        condition=f"the C library's start-up code, linked in ({use.condition or 'every process'})",
    )


def syscall_union(
    binaries: list[ElfBinary], libc: list[Libc], callers: CallerLookup | None = None
) -> list[SyscallNeed]:
    """Every syscall the image may issue, with the path that reaches it, its provenance and,
    where `callers` knows it, how the runtime above libc reacts when it fails.

    The libc model is asked once per (libc, architecture) for the union of imported names,
    then each binary picks the uses of its own imports: thousands of binaries share them.
    """
    shipped: dict[str, str | None] = {lib.family: lib.version for lib in libc}
    reached: dict[Key, _Reach] = {}
    groups: dict[tuple[str, str], list[ElfBinary]] = {}

    def add(key: Key, binary: str, sites: Sequence[str] = ()) -> None:
        reach = reached.setdefault(_refined(key, binary, callers), _Reach())
        reach.binaries.append(binary)
        reach.sites.extend(sites)

    startup = _static_startup(libc)
    for binary in binaries:
        direct = binary.direct_syscalls
        static_libc = binary.libc if binary.linkage != "dynamic" else None
        if direct is not None:
            for name in direct.resolved:
                for path in direct.paths.get(name) or ["direct"]:
                    sites = [
                        f"{binary.path} {e}"
                        for e in direct.evidence.get(name, ())
                        if e.split(" ", 2)[1] == path
                    ]
                    key = Key(name, path, path, "unknown", None, (), True, None, None)
                    known = startup(static_libc, binary.machine).get(name)
                    if known is not None and path == "direct":
                        key = _as_startup(key, known)
                    add(key, binary.path, sites)
        if binary.libc in ("glibc", "musl") and (binary.linkage == "dynamic" or binary.dlsym):
            groups.setdefault((str(binary.libc), binary.machine), []).append(binary)
    for (family, machine), members in groups.items():
        names = {name for b in members for name in (*b.libc_imports, *b.dlsym)}
        uses, unknown = libc_syscalls(family, shipped.get(family), machine, names)
        by_function: dict[str, list[SyscallUse]] = {}
        for u in [*uses, *_named_wrappers(unknown, machine)]:
            by_function.setdefault(u.function, []).append(u)
        for binary in members:
            process = binary.type == "EXEC" or binary.interpreter is not None
            chosen = [(n, "libc", True) for n in ([PROCESS] if process else [])]
            chosen += [(n, "libc", True) for n in binary.libc_imports]
            chosen += [(n, "dlsym", False) for n in binary.dlsym]
            for name, path, certain in chosen:
                for use in by_function.get(name, ()):
                    add(_libc_key(use, path, certain), binary.path)
    needs: dict[str, list[SyscallSource]] = {}
    for key, reach in sorted(reached.items(), key=lambda kv: (kv[0][:4], str(kv[0].caller))):
        needs.setdefault(key.syscall, []).append(
            SyscallSource(
                via=key.via,
                path=key.path,
                on_failure=key.on_failure,
                fallback=key.fallback,
                fallback_errnos=list(key.fallback_errnos),
                certain=key.certain,
                binaries=len(reach.binaries),
                examples=sorted(reach.binaries)[:EXAMPLES],
                sites=sorted(reach.sites)[:SITES],
                source=key.source,
                condition=key.condition,
                caller=key.caller,
                caller_on_failure=key.caller_on_failure,
                caller_fallback_errnos=list(key.caller_errnos),
                caller_other_errors=key.caller_other,
                caller_source=key.caller_source,
            )
        )
    return [SyscallNeed(name=name, sources=sources) for name, sources in sorted(needs.items())]
