"""OCI runtimes (runc, crun, youki, runsc) per version: how each enforces a seccomp profile.

The same profile gives different answers under different runtimes: runc >= 1.0.0-rc93 answers
ENOSYS for calls numbered above the highest one the profile names (so glibc falls back), older
runc and crun answer the profile's default errno, and gVisor implements the calls itself. The
data (oci_runtimes.json beside this file) records each behaviour from the release it began in,
with its source, and which runtime each engine uses when nothing configures one.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Literal

from pydantic import Field

from portwise.knowledge.indexed import Frozen, Indexed, Source, load_indexed

Stub = Literal["yes", "no", "unknown"]


class Behaviour(Frozen):
    """What a runtime does from release `since` on (until the next entry's `since`)."""

    since: str = Field(pattern=r"^\d+(\.\d+)+(-rc\d+)?$")
    enosys_stub: Stub = Field(
        description="answers ENOSYS for calls above the profile's highest named number"
    )
    unresolvable_names: Literal["skipped", "error", "unknown"] = Field(
        description="a profile name the linked libseccomp cannot resolve: the rule is skipped"
        " (the call falls to the default action) or the container fails to start"
    )
    checked_through: str | None = Field(
        None, description="the newest release the source was read at; later ones are unknown"
    )
    filters_syscalls: bool = Field(
        True, description="False: the runtime answers calls itself and the host filter is moot"
    )
    source: Source


class OciRuntime(Frozen):
    name: str = Field(pattern=r"^[a-z]+$")
    behaviours: tuple[Behaviour, ...] = Field(min_length=1)


class DefaultRuntime(Frozen):
    """The runtime an engine uses when its configuration names none."""

    engine: str
    distribution: str = Field(description="os-release ID, or * for every distribution")
    since: str = Field(description="first distribution release (VERSION_ID) with this default")
    engine_since: str | None = Field(None, description="first engine release with it (CRI-O)")
    runtime: str
    source: Source


class OciRuntimeData(Frozen):
    model_version: int
    runtimes: tuple[OciRuntime, ...]
    defaults: tuple[DefaultRuntime, ...]


@cache
def _data() -> OciRuntimeData:
    return _loaded().model


@cache
def _loaded() -> Indexed[OciRuntimeData, OciRuntime]:
    return load_indexed(
        __name__, "oci_runtimes.json", OciRuntimeData, lambda m: m.runtimes, lambda r: ()
    )


def release_key(version: str) -> tuple[int, ...]:
    """ "1.0.0-rc92" < "1.0.0-rc93" < "1.0.0" < "1.1.5+ds1": a pre-release sorts before its
    release; distribution suffixes (+ds1, -1ubuntu1) are ignored."""
    m = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:-rc\.?(\d+))?", version.strip())
    if m is None:
        return ()
    major, minor, patch, rc = m.groups()
    return (int(major), int(minor), int(patch or 0), 0 if rc else 1, int(rc or 0))


def known() -> tuple[str, ...]:
    return tuple(r.name for r in _data().runtimes)


def behaviour(runtime: str, version: str | None) -> Behaviour | None:
    """The recorded behaviour of `runtime` at `version`; None when either is unknown."""
    entry = next((r for r in _data().runtimes if r.name == runtime), None)
    if entry is None or version is None or not release_key(version):
        return None
    current = None
    for b in sorted(entry.behaviours, key=lambda b: release_key(b.since)):
        if release_key(b.since) <= release_key(version):
            current = b
    newer = current and current.checked_through
    if newer and release_key(version) > release_key(newer):
        return None  # a release newer than the source portwise read: not known
    return current


def first_with_stub(runtime: str) -> Behaviour | None:
    """The first release of `runtime` that answers ENOSYS above the profile, if any does."""
    entry = next((r for r in _data().runtimes if r.name == runtime), None)
    stubs = [b for b in entry.behaviours if b.enosys_stub == "yes"] if entry else []
    return min(stubs, key=lambda b: release_key(b.since)) if stubs else None


def default_runtime(
    engine: str,
    distribution: str | None,
    release: str | None,
    engine_version: str | None = None,
) -> DefaultRuntime:
    """The runtime `engine` uses unconfigured on this distribution release (most specific);
    where the default changed between engine releases, the engine's version decides, and
    without it there is no answer (KeyError)."""

    def applies(d: DefaultRuntime) -> bool:
        if d.engine != engine or d.distribution not in ("*", distribution):
            return False
        if d.distribution != "*" and (
            release is None or release_key(release + ".0") < release_key(d.since + ".0")
        ):
            return False
        if d.engine_since is None:
            return True
        return engine_version is not None and release_key(engine_version) >= release_key(
            d.engine_since
        )

    candidates = [d for d in _data().defaults if applies(d)]
    if not candidates:
        raise KeyError(f"no default runtime recorded for {engine} {engine_version or ''}".strip())
    return max(
        candidates,
        key=lambda d: (
            d.distribution != "*",
            release_key(d.since + ".0"),
            release_key(d.engine_since or "0.0"),
        ),
    )


def data_version() -> str:
    return _loaded().version()
