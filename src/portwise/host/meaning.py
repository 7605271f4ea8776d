"""Host profiles read from files are checked for meaning, not only for types.

A hand-written or foreign-tool profile says `x86_64` or `amd64` where portwise says `x86-64`,
`v3` for `x86-64-v3`, or names a seccomp profile portwise has no data for. The usual aliases
are accepted and written the one way the rules compare; anything else is an input error that
names the file, the field and the valid values, instead of a wrong verdict later.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from portwise.errors import InputError, UsageError
from portwise.host.kernel import MACHINE_NAMES
from portwise.host.seccomp_table import UNCONFINED
from portwise.knowledge import oci_runtimes, seccomp
from portwise.knowledge.architectures import OCI_ARCHITECTURES
from portwise.knowledge.cpu_levels import LEVEL_ORDER
from portwise.model.host import HostProfile

MACHINES: dict[str, str] = {
    **{machine: machine for machine, _ in OCI_ARCHITECTURES.values()},
    **{oci: machine for oci, (machine, _) in OCI_ARCHITECTURES.items()},
    **{qemu: machine for machine, qemu in OCI_ARCHITECTURES.values()},
    **MACHINE_NAMES,  # uname -m
}
LEVELS: dict[str, str] = {
    **{level: level for level in LEVEL_ORDER},
    **{level.removeprefix("x86-64-"): level for level in LEVEL_ORDER},
    "x86_64": LEVEL_ORDER[0],
    "x86-64": LEVEL_ORDER[0],
}


def _fix(data: dict[str, Any], where: str, path: tuple[str, str], names: dict[str, str]) -> None:
    fact = data[path[0]][path[1]]
    value = fact.get("value")
    if value is None:
        return
    canonical = names.get(str(value).lower())
    if canonical is None:
        valid = ", ".join(sorted(set(names.values())))
        raise InputError(
            f"{where}: {'.'.join(path)} {value!r} is not one portwise knows; valid: {valid}",
            hint=f"accepted aliases: {', '.join(sorted(names))}",
        )
    fact["value"] = canonical


def checked(host: HostProfile, where: str) -> HostProfile:
    """The profile with aliases written canonically; InputError for values with no meaning."""
    data = host.model_dump()
    _fix(data, where, ("kernel", "architecture"), MACHINES)
    _fix(data, where, ("cpu", "x86_64_level"), LEVELS)
    engines = data["engines"]
    _profile_known(engines["seccomp_profile"], where, "engines.seccomp_profile")
    _profile_known(engines["runtime_default_profile"], where, "engines.runtime_default_profile")
    for i, setup in enumerate(engines["setups"]):
        for key in ("seccomp_profile", "runtime_default_profile"):
            _profile_known(setup[key], where, f"engines.setups[{i}].{key}")
        runtime = setup["runtime"].get("value")
        if runtime is not None and runtime not in oci_runtimes.known():
            raise InputError(
                f"{where}: engines.setups[{i}].runtime {runtime!r} is not a runtime portwise"
                f" has data for; valid: {', '.join(oci_runtimes.known())}"
            )
    return HostProfile.model_validate(data)


def _profile_known(fact: dict[str, Any], where: str, field: str) -> None:
    profile = fact.get("value")
    profiles = [*seccomp.profiles(), UNCONFINED]
    if profile is not None and profile not in profiles:
        raise InputError(
            f"{where}: {field} {profile!r} is not a profile portwise has data"
            f" for; valid: {', '.join(profiles)}",
            hint="`portwise hosts` shows the catalog; a profile file of your own is judged by"
            " its content when `portwise host` collects it",
        )


RUNTIME_DEFAULT = "runtime-default"


def with_seccomp(host: HostProfile, choice: str) -> HostProfile:
    """The host as a pod or container that chose its seccomp profile would see it, like a
    Kubernetes pod's seccompProfile: `unconfined`, `runtime-default` (the engine's default
    profile, also on a node whose kubelet runs unasked pods unconfined), a released profile's
    name, or a profile FILE recognised by its content."""
    names = [*seccomp.profiles(), UNCONFINED]
    if choice == RUNTIME_DEFAULT:
        asked = host.engines.runtime_default_profile
        if asked.value is None or asked.value == host.engines.seccomp_profile.value:
            return host
        source = f"--seccomp runtime-default: {asked.source}"
        fact = {"value": asked.value, "source": source, "unknown": None}
    elif choice in names:
        fact = {"value": choice, "source": "--seccomp", "unknown": None}
    else:
        path = Path(choice)
        if not path.is_file():
            raise UsageError(
                f"--seccomp {choice!r}: not unconfined, runtime-default, a known profile or a file",
                hint=f"known profiles: {', '.join(names)}",
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        name = seccomp.by_content().get(digest)
        if name is None:
            raise UsageError(
                f"--seccomp {choice}: its content (sha256 {digest[:12]}) matches no released"
                " default profile, and portwise judges only profiles it has data for",
                hint="a released docker/podman/containerd profile file, or one of their names",
            )
        source = f"--seccomp {choice} (sha256 of its content)"
        fact = {"value": name, "source": source, "unknown": None}
    data = host.model_dump()
    data["engines"]["seccomp_profile"] = fact
    data["name"] = f"{host.name}+seccomp={fact['value']}"
    return HostProfile.model_validate(data)
