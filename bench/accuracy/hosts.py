"""Host variants that exercise seccomp history: a catalog host with a few facts overridden.

Every variant starts from the catalog's debian-12 host (libseccomp 2.5.4-1+deb12u1, runc 1.1.5:
this machine's own, so what the model is told is what can be enforced here) and changes the engine's
default profile, the OCI runtime and its version, and the kernel release, through the suite
override vocabulary (portwise.suite.overrides), as a suite file would. Every variant is an x86-64
host with this machine's binfmt_misc handlers (security.binfmt, read from /proc/sys/fs/binfmt_misc
once, as `portwise host` reads it): a foreign image runs on it through qemu-user exactly when it
runs here, so the arch mechanism judges the handler the runs really use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from accuracy.enforce import Enforcement
from portwise.host.catalog import load_catalog_host
from portwise.host.files import HostFiles
from portwise.host.security import read_binfmt
from portwise.model.host import HostProfile
from portwise.suite.overrides import Override, apply

Runtime = Literal["runc", "crun"]
BASE = "debian-12"
LOCAL_RUNC = "1.1.5"
LOCAL_CRUN = "1.8.1"


@dataclass(frozen=True)
class Variant:
    name: str
    profile: str
    runtime: Runtime
    runtime_version: str  # what the model is told; the run uses this machine's runtime
    kernel: str
    stub: bool  # runc's ENOSYS stub (imposed by hand when False, see enforce.py)
    why: str
    engine: tuple[str, str] | None = None  # (docker, 20.10.9): the engine version, for realism
    libseccomp_upstream: str | None = None  # the model is told upstream X, the run imitates it

    def enforcement(self) -> Enforcement:
        return Enforcement(self.profile, self.stub, self.kernel, self.libseccomp_upstream)

    def host(self) -> HostProfile:
        source = f"bench/accuracy variant {self.name}"
        overrides = [
            Override("engines.seccomp_profile", self.profile, source),
            Override("kernel.release", self.kernel, source),
            Override(f"engines.runtimes.{self.runtime}", self.runtime_version, source),
            Override("engines.default_runtime", self.runtime, source),
        ]
        if self.engine is not None:
            overrides.append(Override(f"engines.engines.{self.engine[0]}", self.engine[1], source))
        if self.libseccomp_upstream is not None:  # an upstream build: no distribution package
            overrides += [
                Override("engines.libseccomp", self.libseccomp_upstream, source),
                Override("engines.libseccomp_package", self.libseccomp_upstream, source),
            ]
        host = apply(load_catalog_host(BASE), overrides, name=self.name)
        data = host.model_dump()
        data["security"]["binfmt"] = local_binfmt()
        if self.runtime == "crun":  # the host has crun only: runc's facts must not apply
            tools = data["engines"]["runtimes"]["value"]
            data["engines"]["runtimes"]["value"] = [t for t in tools if t["name"] == "crun"]
        return HostProfile.model_validate(data)


@cache
def local_binfmt() -> dict[str, object]:
    """This machine's binfmt_misc handlers as a host fact (the catalog cannot know them: they
    are registered per machine), read once so every variant of a run is told the same."""
    fact = read_binfmt(HostFiles(Path("/")))
    return fact.model_dump()


def _v(
    name: str,
    profile: str,
    runtime: str,
    kernel: str,
    why: str,
    engine: tuple[str, str] | None = None,
    libseccomp: str | None = None,
) -> Variant:
    if runtime == "crun":
        return Variant(name, profile, "crun", LOCAL_CRUN, kernel, True, why, engine, libseccomp)
    stub = runtime != "runc-rc92"
    version = LOCAL_RUNC if stub else "1.0.0-rc92"
    return Variant(name, profile, "runc", version, kernel, stub, why, engine, libseccomp)


VARIANTS: tuple[Variant, ...] = (
    _v("d17.03-nostub-k5.4", "docker-17.03.2", "runc-rc92", "5.4.0", "statx EPERM (docker 17.x)"),
    _v("d17.03-stub-k5.15", "docker-17.03.2", "runc", "5.15.0", "old profile, new runc: stub"),
    _v("d19.03-nostub-k5.15", "docker-19.03.15", "runc-rc92", "5.15.0", "faccessat2/clone3 EPERM"),
    _v("d19.03-stub-k5.15", "docker-19.03.15", "runc", "5.15.0", "19.03 profile, runc stub"),
    _v("d20.10.0-nostub-k5.15", "docker-20.10.0", "runc-rc92", "5.15.0", "20.10.0 with runc rc92"),
    _v("d20.10.9-stub-k5.15", "docker-20.10.9", "runc", "5.15.0", "clone3 EPERM below the stub"),
    _v("d20.10.9-nostub-k5.15", "docker-20.10.9", "runc-rc92", "5.15.0", "clone3 EPERM, no stub"),
    _v("d20.10.10-stub-k5.15", "docker-20.10.10", "runc", "5.15.0", "clone3 ENOSYS (moby#42681)"),
    _v("d20.10.10-stub-k4.19", "docker-20.10.10", "runc", "4.19.0", "old kernel: ENOSYS for new"),
    _v("d25.0.0-stub-k6.8", "docker-25.0.0", "runc", "6.8.0", "io_uring denied (moby#46762)"),
    _v("d29.7.2-stub-k6.12", "docker-29.7.2", "runc", "6.12.0", "a current engine: baseline"),
    _v("d19.03-crun-k5.15", "docker-19.03.15", "crun", "5.15.0", "19.03 profile under crun"),
    _v("d20.10.9-crun-k5.15", "docker-20.10.9", "crun", "5.15.0", "20.10.9 profile under crun"),
    _v("p0.50.1-crun-k5.14", "podman-common-0.50.1", "crun", "5.14.0", "podman (RHEL 9) + crun"),
    _v("p0.64.1-crun-k6.8", "podman-common-0.64.1", "crun", "6.8.0", "podman + crun, newer"),
    _v("d20.10.10-crun-k6.8", "docker-20.10.10", "crun", "6.8.0", "crun: no stub above 20.10.10"),
    _v("d27.5.1-crun-k6.8", "docker-27.5.1", "crun", "6.8.0", "Debian's libseccomp backports"),
    _v(
        "d27.5.1-crun-up2.5.4-k6.8",
        "docker-27.5.1",
        "crun",
        "6.8.0",
        "upstream 2.5.4 skips fchmodat2, cachestat...",
        libseccomp="2.5.4",
    ),
    _v(
        "d27.5.1-nostub-up2.5.4-k6.8",
        "docker-27.5.1",
        "runc-rc92",
        "6.8.0",
        "upstream 2.5.4 names, runc without stub",
        libseccomp="2.5.4",
    ),
)
QUICK = ("d17.03-nostub-k5.4", "d20.10.9-stub-k5.15", "d20.10.10-stub-k5.15", "p0.50.1-crun-k5.14")
