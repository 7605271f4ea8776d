"""HostProfile: what a container host (level 3A) provides, each fact with how it was learned."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

HOST_SCHEMA_VERSION = "1.1"
T = TypeVar("T")


class Fact(BaseModel, Generic[T]):
    """A value with its provenance, or None with the reason it is unknown: never a guess."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    value: T | None = None
    source: str | None = Field(None, description="file, command or option it was read from")
    unknown: str | None = Field(None, description="why the value could not be learned")

    @classmethod
    def of(cls, value: T, source: str) -> Fact[T]:
        return cls(value=value, source=source)

    @classmethod
    def missing(cls, reason: str) -> Fact[T]:
        return cls(unknown=reason)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KernelFacts(Frozen):
    release: Fact[str]
    version: Fact[str]
    architecture: Fact[str]
    page_size: Fact[int]
    vsyscall: Fact[str] = Field(description="none | xonly | emulate (x86-64 legacy vsyscall)")
    config: Fact[dict[str, str]] = Field(description="the kernel options that matter to images")
    modules: Fact[dict[str, str]] = Field(
        default_factory=lambda: Fact[dict[str, str]].missing("not read"),
        description="modules that engines need: name -> loaded | builtin",
    )


class CpuFacts(Frozen):
    model: Fact[str]
    flags: Fact[list[str]]
    x86_64_level: Fact[str] = Field(description="highest psABI level every CPU flag supports")
    missing_for_next_level: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return _drop(data, "vendor")  # judged by no rule: the flags decide the level


class CgroupFacts(Frozen):
    version: Fact[str] = Field(description="v1 | v2 | hybrid")
    controllers: Fact[list[str]]


class BinfmtHandler(Frozen):
    name: str
    enabled: bool
    interpreter: str | None
    flags: str = Field(description="F: interpreter opened at registration (works in containers)")
    magic: str | None = None


def _drop(data: Any, *retired: str) -> Any:
    """Documents written before a fact was retired still load: the retired key is dropped."""
    if isinstance(data, dict) and any(k in data for k in retired):
        return {k: v for k, v in data.items() if k not in retired}
    return data


class SecurityFacts(Frozen):
    fips: Fact[bool]
    selinux: Fact[str] = Field(description="enforcing | permissive | disabled")
    sysctls: dict[str, Fact[str]] = Field(
        description="sysctls that break images: user namespaces, io_uring, map count, BPF"
    )
    binfmt: Fact[list[BinfmtHandler]] = Field(description="foreign binaries the kernel can run")
    lsms: Fact[list[str]] = Field(
        default_factory=lambda: Fact[list[str]].missing("not read"),
        description="the security modules active since boot, in order (Landlock needs its name)",
    )

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return _drop(data, "apparmor")  # judged by no rule; the active LSM list (lsms) says it


class Tool(Frozen):
    name: str
    path: str
    version: Fact[str]


class Enforcement(Frozen):
    """What decides a profile's answers besides the profile: shared by a host's engine facts
    and each engine setup."""

    runtime_default_profile: Fact[str] = Field(
        default_factory=lambda: Fact[str].missing("the same as seccomp_profile"),
        description="the profile a container or pod that asks for RuntimeDefault gets, where"
        " it differs from what containers get unasked (a kubelet without seccompDefault)",
    )
    libseccomp_package: Fact[str] = Field(
        default_factory=lambda: Fact[str].missing("not read"),
        description="the distribution's package version (2.5.4-1+deb12u1): backports differ",
    )
    libseccomp_resolves: Fact[list[str]] = Field(
        default_factory=lambda: Fact[list[str]].missing("not read"),
        description="names the library resolves beyond its upstream release (backports)",
    )


class EngineSetup(Enforcement):
    """One engine as the containers it starts see the host: its profile, runtime, libseccomp."""

    engine: str = Field(description="docker | podman | containerd | crio | kubelet")
    version: Fact[str]
    runtime: Fact[str] = Field(description="the OCI runtime it starts containers with")
    runtime_version: Fact[str]
    seccomp_profile: Fact[str]
    libseccomp: Fact[str] = Field(description="upstream release of the runtime's libseccomp")


class EngineFacts(Enforcement):
    engines: Fact[list[Tool]] = Field(description="docker, podman, containerd, cri-o, nerdctl")
    runtimes: Fact[list[Tool]] = Field(description="OCI runtimes: runc, crun")
    libseccomp: Fact[str]
    seccomp_profile: Fact[str] = Field(
        default_factory=lambda: Fact[str].missing("not derived"),
        description="the engine's effective default seccomp profile, a knowledge/seccomp name",
    )
    default_ulimits: Fact[list[str]] = Field(
        default_factory=lambda: Fact[list[str]].missing("not read")
    )
    default_runtime: Fact[str] = Field(default_factory=lambda: Fact[str].missing("not read"))
    storage_driver: Fact[str] = Field(default_factory=lambda: Fact[str].missing("not read"))
    storage_filesystem: Fact[str] = Field(
        default_factory=lambda: Fact[str].missing("not read"),
        description="filesystem under the storage root: overlay needs d_type (xfs ftype=1)",
    )
    iptables_backend: Fact[str] = Field(
        default_factory=lambda: Fact[str].missing("not read"),
        description="nf_tables | legacy: what `iptables` drives (engines write rules through it)",
    )
    storage_d_type: Fact[bool] = Field(
        default_factory=lambda: Fact[bool].missing("not read"),
        description="whether the storage root's filesystem records d_type (overlay needs it)",
    )
    iptables_rules: Fact[dict[str, int]] = Field(
        default_factory=lambda: Fact[dict[str, int]].missing("not read"),
        description="rules per back end (legacy, nf_tables): which one holds the engines' rules",
    )
    kubelet_seccomp_default: Fact[bool] = Field(
        default_factory=lambda: Fact[bool].missing("no kubelet configuration read"),
        description="Kubernetes: pods without a seccompProfile get RuntimeDefault (True) or"
        " run Unconfined (False, the kubelet's default)",
    )
    setups: list[EngineSetup] = Field(
        default_factory=list,
        description="each engine on the host with its own profile and runtime; check judges"
        " every one (the fields above then describe the one being judged)",
    )


class GpuFacts(Frozen):
    nvidia_driver: Fact[str]
    compute_capability: Fact[list[str]]


class HostProfile(Frozen):
    schema_version: str = HOST_SCHEMA_VERSION
    name: str
    root: str = Field(description="the filesystem root the facts were read under")
    kernel: KernelFacts
    cpu: CpuFacts
    cgroup: CgroupFacts
    security: SecurityFacts
    engines: EngineFacts
    gpu: GpuFacts = Field(
        default_factory=lambda: GpuFacts(
            nvidia_driver=Fact[str].missing("not read"),
            compute_capability=Fact[list[str]].missing("not read"),
        )
    )
    portwise_version: str
