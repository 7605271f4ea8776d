"""Each container engine on a host as its containers see it: profile, runtime, libseccomp.

With docker and podman both installed, one host has two answers: docker's built-in profile
under runc, podman's seccomp.json under crun. The collector records one EngineSetup per engine
whose daemon or binary is present; `per_engine` turns a host into one profile per setup, so
`check` gives a verdict per engine and never silently judges one of them.
"""

from __future__ import annotations

from typing import Any

from portwise.host.engine_config import (
    docker_daemon_config,
    podman_seccomp_file,
    profile_by_content,
)
from portwise.host.files import HostFiles
from portwise.knowledge import oci_runtimes
from portwise.knowledge.seccomp import by_content, for_engine
from portwise.model.host import EngineFacts, EngineSetup, Fact, HostProfile, Tool

UNCONFINED = "unconfined"


def runtime_of(
    engine: str,
    configured: Fact[str],
    runtimes: dict[str, Tool],
    engine_version: str | None = None,
) -> tuple[Fact[str], Fact[str]]:
    """The runtime the engine uses (its configuration, else its documented default) and that
    runtime's version from its own --version."""
    if configured.value is not None:
        name, runtime = str(configured.value), configured
    else:
        try:
            default = oci_runtimes.default_runtime(engine, None, None, engine_version)
        except KeyError:
            missing = Fact[str].missing(f"{engine}: no runtime configured and no default recorded")
            return missing, Fact[str].missing("runtime unknown")
        name = default.runtime
        runtime = Fact.of(name, f"{engine}'s default, nothing configured ({default.source.url})")
    tool = runtimes.get(name)
    version = tool.version if tool else Fact[str].missing(f"{name} is not on PATH")
    return runtime, version


def docker_setup(
    files: HostFiles,
    dockerd: Tool,
    runtimes: dict[str, Tool],
    base: EngineFacts,
    bundled: dict[str, Fact[str]] | None = None,
) -> EngineSetup:
    daemon, where = docker_daemon_config(files)
    configured: Fact[str] = (
        Fact.of(str(daemon["default-runtime"]), f"{where} default-runtime")
        if where and isinstance(daemon.get("default-runtime"), str)
        else Fact.missing("daemon.json names no default-runtime")
    )
    runtime, version = runtime_of("docker", configured, runtimes)
    custom = daemon.get("seccomp-profile") if where else None
    profile: Fact[str]
    if custom == UNCONFINED:
        profile = Fact.of(UNCONFINED, f"{where} seccomp-profile")
    elif isinstance(custom, str) and custom not in ("", "builtin"):
        profile = profile_by_content(files, custom, by_content())
    elif dockerd.version.value is None:
        profile = Fact.missing("dockerd printed no version")
    else:
        name = for_engine("docker", dockerd.version.value)
        profile = (
            Fact.of(name, f"dockerd {dockerd.version.value}: its built-in default profile")
            if name
            else Fact.missing(f"dockerd {dockerd.version.value} predates every profile")
        )
    return setup("docker", dockerd.version, runtime, version, profile, base, bundled=bundled)


def podman_setup(
    files: HostFiles,
    podman: Tool,
    runtimes: dict[str, Tool],
    base: EngineFacts,
    settings: dict[str, dict[str, Any]],
    bundled: dict[str, Fact[str]] | None = None,
) -> EngineSetup:
    runtime, version = runtime_of("podman", base.default_runtime, runtimes)
    profile = profile_by_content(files, podman_seccomp_file(files, settings), by_content())
    return setup("podman", podman.version, runtime, version, profile, base, bundled=bundled)


def setup(
    engine: str,
    version: Fact[str],
    runtime: Fact[str],
    runtime_version: Fact[str],
    profile: Fact[str],
    base: EngineFacts,
    *,
    asked: Fact[str] | None = None,
    bundled: dict[str, Fact[str]] | None = None,
) -> EngineSetup:
    """An engine's setup on a host whose libseccomp facts are `base`'s, unless the runtime
    carries its own libseccomp (`bundled`: runtime name -> release); `asked`: the profile
    RuntimeDefault selects where it is not what containers get unasked."""
    own = (bundled or {}).get(str(runtime.value))
    inside: Fact[Any] = Fact.missing("linked into the runtime: its upstream release's names")
    return EngineSetup(
        engine=engine,
        version=version,
        runtime=runtime,
        runtime_version=runtime_version,
        seccomp_profile=profile,
        libseccomp=own or base.libseccomp,
        libseccomp_package=inside if own else base.libseccomp_package,
        libseccomp_resolves=inside if own else base.libseccomp_resolves,
        **({"runtime_default_profile": asked} if asked is not None else {}),
    )


def per_engine(host: HostProfile) -> list[HostProfile]:
    """One host profile per engine setup (the engine fields set to that setup's); a host
    with one setup or none is returned as it is, under its own name."""
    setups = host.engines.setups
    if len(setups) <= 1:
        return [with_setup(host, setups[0], rename=False)] if setups else [host]
    return [with_setup(host, s) for s in setups]


def with_setup(host: HostProfile, chosen: EngineSetup, *, rename: bool = True) -> HostProfile:
    runtime = chosen.runtime.value
    engines = host.engines.model_copy(
        update={
            "engines": Fact.of(
                [Tool(name=chosen.engine, path="", version=chosen.version)], "engine setup"
            ),
            "runtimes": Fact.of(
                [Tool(name=str(runtime), path="", version=chosen.runtime_version)]
                if runtime
                else [],
                "engine setup",
            ),
            "default_runtime": chosen.runtime,
            "seccomp_profile": chosen.seccomp_profile,
            "runtime_default_profile": chosen.runtime_default_profile,
            "libseccomp": chosen.libseccomp,
            "libseccomp_package": chosen.libseccomp_package,
            "libseccomp_resolves": chosen.libseccomp_resolves,
            "setups": [chosen],
        }
    )
    name = f"{host.name} ({chosen.engine})" if rename else host.name
    return host.model_copy(update={"name": name, "engines": engines})
