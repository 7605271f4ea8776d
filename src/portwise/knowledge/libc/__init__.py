"""Which system calls the image's C library issues for the functions a binary imports.

A newer glibc or musl tries a new system call first (clone3, faccessat2, statx, ...) and falls
back to the old one only on ENOSYS; an old engine's seccomp profile answers EPERM instead, and
the program fails. Rules need, per libc family, version and architecture, the calls issued in
order and what each errno does. That knowledge lives in libc_model.json beside this file: one
entry per behaviour, each with the source file or commit it was read from. It is validated when
first used, so a bad edit fails loudly instead of producing a wrong verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal, Self, get_args

from pydantic import Field, model_validator

from portwise.knowledge.indexed import Frozen, Indexed, Source, load_indexed

OnFailure = Literal["fallback-on-enosys", "fallback-on-any", "ignored", "error-returned", "fatal"]
ON_FAILURE_CLASSES: frozenset[str] = frozenset(get_args(OnFailure))
FALLBACK_CLASSES = frozenset({"fallback-on-enosys", "fallback-on-any"})
FAMILIES = ("glibc", "musl")
# Uses issued by the C library for every process (startup, first malloc), whatever it imports.
PROCESS = "<process>"
DATA_FILE = "libc_model.json"

_VERSION = re.compile(r"\d+(\.\d+)*\Z")
_LEADING_VERSION = re.compile(r"\d+(?:\.\d+)*")
_ERRNO = re.compile(r"E[A-Z0-9]+\Z")


class Step(Frozen):
    """One system call; fallback_errnos say which errors send the library to the next step."""

    syscall: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    on_failure: OnFailure
    fallback_errnos: tuple[str, ...] = ()
    other_errors: str = Field(min_length=3)

    @model_validator(mode="after")
    def _errnos(self) -> Self:
        errnos = set(self.fallback_errnos)
        if any(e != "*" and not _ERRNO.match(e) for e in errnos):
            raise ValueError(f"{self.syscall}: bad errno name in {self.fallback_errnos}")
        if self.on_failure == "fallback-on-enosys" and (
            "ENOSYS" not in errnos or "EPERM" in errnos or "*" in errnos
        ):
            raise ValueError(f"{self.syscall}: fallback-on-enosys needs ENOSYS and not EPERM")
        if self.on_failure == "fallback-on-any" and not (
            errnos == {"*"} or {"EPERM", "ENOSYS"} <= errnos
        ):
            raise ValueError(f"{self.syscall}: fallback-on-any needs '*' or EPERM and ENOSYS")
        if self.on_failure not in FALLBACK_CLASSES and errnos:
            raise ValueError(f"{self.syscall}: {self.on_failure} cannot have fallback errnos")
        return self


class Entry(Frozen):
    """A behaviour of some functions of one libc over a version range and some architectures."""

    id: str = Field(min_length=3)
    family: Literal["glibc", "musl"]
    functions: tuple[str, ...] = Field(min_length=1)
    introduced_in: str | None = None
    until: str | None = None
    arches: Literal["all"] | tuple[str, ...] = "all"
    arch_since: dict[str, str] = Field(default_factory=dict)
    when: str | None = None
    steps: tuple[Step, ...]
    source: Source
    verified: str = Field(min_length=10)
    confidence: Literal["high", "medium", "low"]
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        versions = [self.introduced_in, self.until, *self.arch_since.values()]
        for v in versions:
            if v is not None and not _VERSION.match(v):
                raise ValueError(f"{self.id}: bad version {v!r}")
        if self.until is not None:
            for low in (self.introduced_in, *self.arch_since.values()):
                if low is not None and version_tuple(low) >= version_tuple(self.until):
                    raise ValueError(f"{self.id}: range {low}..{self.until} is empty")
        if (
            self.arch_since
            and self.arches != "all"
            and not set(self.arch_since) <= set(self.arches)
        ):
            raise ValueError(f"{self.id}: arch_since names arches outside 'arches'")
        for i, step in enumerate(self.steps):
            last = i == len(self.steps) - 1
            if step.on_failure in FALLBACK_CLASSES and last:
                raise ValueError(f"{self.id}: {step.syscall} falls back but nothing follows")
            if step.on_failure not in FALLBACK_CLASSES and not last:
                raise ValueError(f"{self.id}: {step.syscall} does not fall back, yet steps follow")
        return self


class Note(Frozen):
    id: str
    family: Literal["glibc", "musl"]
    text: str = Field(min_length=10)
    source: Source


class LibcModel(Frozen):
    schema_version: Literal[1]
    model_version: str = Field(min_length=1)
    description: str
    architectures: tuple[str, ...]
    on_failure_classes: dict[str, str]
    entries: tuple[Entry, ...]
    notes: tuple[Note, ...] = ()

    @model_validator(mode="after")
    def _whole(self) -> Self:
        if set(self.on_failure_classes) != ON_FAILURE_CLASSES:
            raise ValueError("on_failure_classes must describe exactly the allowed classes")
        ids = [e.id for e in self.entries] + [n.id for n in self.notes]
        if len(ids) != len(set(ids)):
            raise ValueError("entry and note ids must be unique")
        known = set(self.architectures)
        for e in self.entries:
            named = set(e.arch_since) | (set() if e.arches == "all" else set(e.arches))
            if not named <= known:
                raise ValueError(f"{e.id}: unknown architectures {sorted(named - known)}")
        return self


@dataclass(frozen=True, slots=True)
class SyscallUse:
    """One system call the libc may issue because a binary imports `function`."""

    syscall: str
    function: str
    on_failure: str
    fallback: str | None
    fallback_errnos: tuple[str, ...]
    source: str
    step: int = 0  # 0: tried first; n: issued only after step n-1 failed with a fallback errno
    certain: bool = True  # False: the libc version (or arch) is unknown and only some issue it
    condition: str | None = None  # the call happens only under these arguments or states
    other_errors: str = ""
    confidence: str = "high"
    entry: str = ""


def version_tuple(version: str) -> tuple[int, ...]:
    """'2.36' -> (2, 36); trailing zero components dropped so '2.36' == '2.36.0'."""
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def parse_libc_version(version: str | None) -> tuple[int, ...] | None:
    """The numeric head of a version string ('2.36-9+deb12u4' -> (2, 36)); None if there is none.

    An unparseable version is treated like an unknown one, which widens the answer rather than
    narrowing it.
    """
    if version is None:
        return None
    found = _LEADING_VERSION.match(version.strip())
    return version_tuple(found.group(0)) if found else None


def _libc_keys(entry: Entry) -> list[tuple[str, str]]:
    return [(entry.family, function) for function in entry.functions]


@cache
def _compiled() -> Indexed[LibcModel, Entry]:
    return load_indexed(
        __name__,
        DATA_FILE,
        LibcModel,
        lambda m: m.entries,
        _libc_keys,
    )


def load_model() -> LibcModel:
    """The validated data (raises pydantic.ValidationError if the file breaks its rules)."""
    return _compiled().model


def model_version() -> str:
    """Data version plus a content digest, so a cache key changes with any edit of the data."""
    return _compiled().version()


def _bounds(entry: Entry, arch: str | None) -> tuple[tuple[int, ...] | None, bool]:
    """Lower version bound for the arch, and whether the entry applies to the arch at all.

    arch None means unknown: the entry may apply, from its lowest bound on any architecture.
    """
    low = version_tuple(entry.introduced_in) if entry.introduced_in else None
    if arch is None:
        candidates = [version_tuple(v) for v in entry.arch_since.values()]
        if candidates and (entry.arches != "all" and set(entry.arches) <= set(entry.arch_since)):
            lowest = min(candidates)
            low = lowest if low is None else max(low, lowest)
        return low, True
    if entry.arches != "all" and arch not in entry.arches:
        return None, False
    since = entry.arch_since.get(arch)
    if since is not None:
        low = version_tuple(since) if low is None else max(low, version_tuple(since))
    return low, True


def _matches(entry: Entry, version: tuple[int, ...] | None, arch: str | None) -> tuple[bool, bool]:
    """(applies, certain) for one entry."""
    low, arch_ok = _bounds(entry, arch)
    if not arch_ok:
        return False, False
    until = version_tuple(entry.until) if entry.until else None
    if version is None:
        certain = arch is not None and low is None and until is None
        return True, certain
    if (low is not None and version < low) or (until is not None and version >= until):
        return False, False
    restricted = entry.arches != "all" or bool(entry.arch_since)
    return True, arch is not None or not restricted


def matching_entries(
    family: str, function: str, version: str | None, arch: str
) -> list[tuple[Entry, bool]] | None:
    """The entries that describe `function` for this libc, each with whether it surely applies.

    None when the model has no entry for the function in this family at all; an empty list
    when it knows the function but nothing applies to this version and architecture.
    """
    fam = family.lower()
    if fam not in FAMILIES:
        return None
    compiled = _compiled()
    entries = compiled.index.get((fam, function))
    if entries is None:
        return None
    wanted = parse_libc_version(version)
    where = arch if arch in compiled.model.architectures else None
    out: list[tuple[Entry, bool]] = []
    for entry in entries:
        applies, certain = _matches(entry, wanted, where)
        if applies:
            out.append((entry, certain))
    return out


def libc_syscalls(
    family: str,
    version: str | None,
    arch: str,
    imported: Iterable[str],
    *,
    include_process: bool = True,
) -> tuple[list[SyscallUse], list[str]]:
    """Map imported libc functions to the system calls this libc issues for them.

    Returns (uses, unknown): `unknown` lists imported names the model has no entry for in this
    family (most of them plain functions such as strlen; the model only tracks functions whose
    calls some hosts may deny). A version of None, or one without a numeric head, means
    "unknown": every use any version could make is returned with certain=False. An arch the
    model does not know is treated the same way. With include_process, the calls the libc makes
    for every process (rseq registration, getrandom for malloc) are included under the function
    name "<process>".
    """
    names = sorted(set(imported))
    if family.lower() not in FAMILIES:
        return [], names
    uses: list[SyscallUse] = []
    seen: set[tuple[object, ...]] = set()
    unknown: list[str] = []
    for name in ([PROCESS] if include_process else []) + names:
        matched = matching_entries(family, name, version, arch)
        if matched is None:
            if name != PROCESS:
                unknown.append(name)
            continue
        for entry, certain in matched:
            for i, step in enumerate(entry.steps):
                falls_back = step.on_failure in FALLBACK_CLASSES
                use = SyscallUse(
                    syscall=step.syscall,
                    function=name,
                    on_failure=step.on_failure,
                    fallback=entry.steps[i + 1].syscall if falls_back else None,
                    fallback_errnos=step.fallback_errnos,
                    source=entry.source.url,
                    step=i,
                    certain=certain,
                    condition=entry.when,
                    other_errors=step.other_errors,
                    confidence=entry.confidence,
                    entry=entry.id,
                )
                key = (name, i, step.syscall, step.on_failure, use.fallback, step.fallback_errnos)
                if key not in seen:
                    seen.add(key)
                    uses.append(use)
    return uses, unknown


__all__ = [
    "ON_FAILURE_CLASSES",
    "PROCESS",
    "Entry",
    "LibcModel",
    "Step",
    "SyscallUse",
    "libc_syscalls",
    "load_model",
    "matching_entries",
    "model_version",
    "parse_libc_version",
    "version_tuple",
]
