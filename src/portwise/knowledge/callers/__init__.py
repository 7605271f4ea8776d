"""What the runtimes and libraries above the C library do when a system call they issue fails.

The libc model says what glibc and musl do with an errno; above them, Go, Rust's std, CPython,
OpenJDK, GLib, libuv and OpenSSL each decide again, and the decision changes between their
releases: one falls back on ENOSYS and EPERM, another only on ENOSYS, another aborts. That
knowledge lives in callers.json beside this file, one entry per behaviour of one component over a
version range, each with the source it was read from. It is validated when first used, so a bad
edit fails loudly instead of producing a wrong verdict.

Rules ask one question: `reactions(component, version, syscall)`, usually through
portwise.image.langruntimes.reactions_for(image, binary_path, syscall), which finds the
runtimes in that binary's process and their versions. For one reaction and the host's errno,
`CallerReaction.outcome(errno)` is 'fallback' or 'ignored' (the program goes on),
'error-returned' (the program sees the error: RISK unless it is known to cope) or 'fatal'. An
empty answer means the model does not know this caller: RISK, naming it. A use whose 'via' is
libc:NAME reaches the kernel through the C library first: the libc model's own fallback (glibc's
statx on ENOSYS, pthread_create's clone3 -> clone on ENOSYS) applies before the caller sees
anything.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache
from typing import Literal, Self, get_args

from pydantic import Field, model_validator

from portwise.knowledge.indexed import Frozen, Indexed, Source, load_indexed
from portwise.versions import version_key

OnFailure = Literal["fallback-on-enosys", "fallback-on-any", "ignored", "error-returned", "fatal"]
OtherErrors = Literal["ignored", "error-returned", "fatal"]
ON_FAILURE_CLASSES: frozenset[str] = frozenset(get_args(OnFailure))
FALLBACK_CLASSES = frozenset({"fallback-on-enosys", "fallback-on-any"})
DATA_FILE = "callers.json"

_VERSION = re.compile(r"\d+(\.\d+)*\Z")
_ERRNO = re.compile(r"E[A-Z0-9]+\Z")
# direct | syscall() | libc:<wrapper> | dlsym:<wrapper>
_VIA = re.compile(r"(?:direct|syscall\(\)|(?:libc|dlsym):[a-z_][a-z0-9_]*)\Z")


class Entry(Frozen):
    """How one component reacts to failures of some calls over a version range."""

    id: str = Field(min_length=3)
    component: str
    api: str = Field(min_length=3, description="the functions of the component that issue it")
    syscalls: tuple[str, ...] = Field(min_length=1)
    via: str
    introduced_in: str | None = None
    until: str | None = None
    when: str | None = None
    on_failure: OnFailure
    fallback_errnos: tuple[str, ...] = ()
    fallback: str | None = None
    on_other_errors: OtherErrors
    other_errors: str = Field(min_length=3)
    source: Source
    verified: str = Field(min_length=10)
    confidence: Literal["high", "medium", "low"]
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for name in self.syscalls:
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                raise ValueError(f"{self.id}: bad syscall name {name!r}")
        if not _VIA.match(self.via):
            raise ValueError(f"{self.id}: 'via' must be direct, syscall(), libc:NAME or dlsym:NAME")
        for v in (self.introduced_in, self.until):
            if v is not None and not _VERSION.match(v):
                raise ValueError(f"{self.id}: bad version {v!r}")
        if (
            self.introduced_in is not None
            and self.until is not None
            and version_key(self.introduced_in) >= version_key(self.until)
        ):
            raise ValueError(f"{self.id}: range {self.introduced_in}..{self.until} is empty")
        errnos = set(self.fallback_errnos)
        if any(e != "*" and not _ERRNO.match(e) for e in errnos):
            raise ValueError(f"{self.id}: bad errno name in {self.fallback_errnos}")
        if self.on_failure == "fallback-on-enosys" and (
            "ENOSYS" not in errnos or "EPERM" in errnos or "*" in errnos
        ):
            raise ValueError(f"{self.id}: fallback-on-enosys needs ENOSYS and not EPERM")
        if self.on_failure == "fallback-on-any" and not (
            errnos == {"*"} or {"EPERM", "ENOSYS"} <= errnos
        ):
            raise ValueError(f"{self.id}: fallback-on-any needs '*' or EPERM and ENOSYS")
        if self.on_failure not in FALLBACK_CLASSES:
            if errnos:
                raise ValueError(f"{self.id}: {self.on_failure} cannot have fallback errnos")
            if self.on_other_errors != self.on_failure:
                raise ValueError(f"{self.id}: on_other_errors must repeat {self.on_failure}")
        elif self.fallback is None:
            raise ValueError(f"{self.id}: a fallback class needs the fallback named")
        return self


class CallersModel(Frozen):
    schema_version: Literal[1]
    model_version: str = Field(min_length=1)
    description: str
    on_failure_classes: dict[str, str]
    components: dict[str, str]
    entries: tuple[Entry, ...]

    @model_validator(mode="after")
    def _whole(self) -> Self:
        if set(self.on_failure_classes) != ON_FAILURE_CLASSES:
            raise ValueError("on_failure_classes must describe exactly the allowed classes")
        ids = [e.id for e in self.entries]
        if len(ids) != len(set(ids)):
            raise ValueError("entry ids must be unique")
        for e in self.entries:
            if e.component not in self.components:
                raise ValueError(f"{e.id}: unknown component {e.component!r}")
        _check_overlaps(self.entries)
        return self


def _check_overlaps(entries: tuple[Entry, ...]) -> None:
    """Two entries of one component for the same call and API must not cover the same version:
    the answer for a known version has to be one reaction, not a choice."""
    seen: dict[tuple[str, str, str], list[Entry]] = {}
    for e in entries:
        for name in e.syscalls:
            seen.setdefault((e.component, e.api, name), []).append(e)
    for (component, _, name), group in seen.items():
        spans = sorted(
            (
                version_key(e.introduced_in) if e.introduced_in else (),
                version_key(e.until) if e.until else None,
                e.id,
            )
            for e in group
        )
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            if end is None or start < end:
                raise ValueError(f"{component} {name}: {first} and {second} overlap")


@dataclass(frozen=True, slots=True)
class CallerReaction:
    """What `component` (at `versions`) does when `syscall` fails, for the rules to apply.

    on_failure and fallback_errnos read like a libc-model use: under a host's errno, the caller
    falls back if the errno is listed (or '*'), and otherwise does `on_other_errors`.
    """

    component: str
    versions: str  # "1.23 <= v", "1.27.0 <= v < 1.41.0", "all"
    syscall: str
    via: str
    on_failure: str
    fallback: str | None
    fallback_errnos: tuple[str, ...]
    on_other_errors: str
    certain: bool  # False: the version is unknown and the versions' reactions differ
    source: str
    api: str = ""
    condition: str | None = None
    other_errors: str = ""
    confidence: str = "high"
    entry: str = ""

    def outcome(self, errno_name: str) -> str:
        """'fallback' when this errno sends the caller to its fallback, else on_other_errors
        ('ignored', 'error-returned' or 'fatal')."""
        if self.on_failure == "ignored":
            return "ignored"
        if self.on_failure in FALLBACK_CLASSES and (
            "*" in self.fallback_errnos or errno_name in self.fallback_errnos
        ):
            return "fallback"
        return self.on_other_errors


def _callers_keys(entry: Entry) -> list[tuple[str, str]]:
    return [(entry.component, name) for name in entry.syscalls]


@cache
def _compiled() -> Indexed[CallersModel, Entry]:
    return load_indexed(
        __name__,
        DATA_FILE,
        CallersModel,
        lambda m: m.entries,
        _callers_keys,
    )


def load_model() -> CallersModel:
    """The validated data (raises pydantic.ValidationError if the file breaks its rules)."""
    return _compiled().model


def model_version() -> str:
    """Data version plus a content digest, so a cache key changes with any edit of the data."""
    return _compiled().version()


def components() -> tuple[str, ...]:
    """The component names the model knows, sorted."""
    return tuple(sorted(_compiled().model.components))


@cache
def modelled_syscalls() -> frozenset[str]:
    """Every system call some component's entry names: the others need no caller lookup."""
    return frozenset(name for (_, name) in _compiled().index)


def syscalls_of(component: str) -> tuple[str, ...]:
    """Every system call the model has an entry for in this component, sorted."""
    return tuple(sorted({name for (c, name) in _compiled().index if c == component}))


_OPENSSL_LETTERS = re.compile(r"(\d+)\.(\d+)\.(\d+)([a-z]{1,2})(?![a-z])")


def parse_version(version: str | None, component: str | None = None) -> tuple[int, ...] | None:
    """The numeric parts of a version as found ('go1.22.5' -> (1, 22, 5), '21.0.2+13' ->
    (21, 0, 2, 13)); None when there are none, which widens the answer to every version.
    OpenSSL's letter releases count as a fourth number: '1.1.1d' -> (1, 1, 1, 4), and after
    'z' come 'za' ... as OpenSSL 0.9.8 had them ('za' -> 677, above 'z' -> 26)."""
    if version is None:
        return None
    if component == "openssl":
        lettered = _OPENSSL_LETTERS.search(version)
        if lettered is not None:
            letters = lettered[4]
            number = sum(26**i * (ord(c) - 96) for i, c in enumerate(reversed(letters)))
            return (int(lettered[1]), int(lettered[2]), int(lettered[3]), number)
    key = version_key(version)
    return key or None


def _span(entry: Entry) -> str:
    if entry.introduced_in is None and entry.until is None:
        return "all"
    low = f"{entry.introduced_in} <= v" if entry.introduced_in else "v"
    return f"{low} < {entry.until}" if entry.until else low


def _applies(entry: Entry, version: tuple[int, ...]) -> bool:
    if entry.introduced_in is not None and version < version_key(entry.introduced_in):
        return False
    return entry.until is None or version < version_key(entry.until)


def _signature(entry: Entry) -> tuple[object, ...]:
    return (entry.on_failure, entry.fallback_errnos, entry.on_other_errors)


def reactions(component: str, version: str | None, syscall: str) -> tuple[CallerReaction, ...]:
    """How `component` at `version` reacts when `syscall` fails, one reaction per API that
    issues it. Empty when the model knows nothing for this version (the caller is unknown:
    treat as RISK). A version of None (or without digits) returns the reactions of every
    version, each with certain=False when that API's versions disagree."""
    entries = _compiled().index.get((component, syscall), ())
    wanted = parse_version(version, component)
    if wanted is not None:
        chosen = [e for e in entries if _applies(e, wanted)]
        return tuple(_reaction(e, syscall, certain=True) for e in chosen)
    # an API whose versions react differently cannot say which reaction this image gets
    by_api: dict[str, set[tuple[object, ...]]] = {}
    for e in entries:
        by_api.setdefault(e.api, set()).add(_signature(e))
    return tuple(_reaction(e, syscall, certain=len(by_api[e.api]) == 1) for e in entries)


def _reaction(entry: Entry, syscall: str, *, certain: bool) -> CallerReaction:
    return CallerReaction(
        component=entry.component,
        versions=_span(entry),
        syscall=syscall,
        via=entry.via,
        on_failure=entry.on_failure,
        fallback=entry.fallback,
        fallback_errnos=entry.fallback_errnos,
        on_other_errors=entry.on_other_errors,
        certain=certain,
        source=entry.source.url,
        api=entry.api,
        condition=entry.when,
        other_errors=entry.other_errors,
        confidence=entry.confidence,
        entry=entry.id,
    )


__all__ = [
    "ON_FAILURE_CLASSES",
    "CallerReaction",
    "CallersModel",
    "Entry",
    "components",
    "load_model",
    "model_version",
    "modelled_syscalls",
    "parse_version",
    "reactions",
    "syscalls_of",
]
