"""Container engines and OCI runtimes present, with versions, and the libseccomp they use.

Versions come from the tools themselves (`--version`), so they are only read on a live host;
under --root nothing is executed and they are unknown, said so. libseccomp's version comes from
its library file name, which works under a root too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from portwise.host.engine_config import (
    containers_conf,
    docker_daemon_config,
    podman_seccomp_file,
    profile_by_content,
    storage_conf,
    storage_d_type,
    storage_driver,
    storage_filesystem,
    storage_mount,
)
from portwise.host.files import HostFiles
from portwise.host.kernel import read_architecture
from portwise.host.kubelet import kubelet_setup, seccomp_default
from portwise.host.libseccomp import bundled, package_version, resolved_beyond
from portwise.host.setups import docker_setup, podman_setup, runtime_of
from portwise.knowledge.seccomp import by_content, for_engine
from portwise.model.host import EngineFacts, Fact, Tool

ENGINES = ("docker", "dockerd", "podman", "containerd", "crio", "nerdctl")
RUNTIMES = ("runc", "crun", "youki", "runsc")
VERSION = re.compile(r"\bv?(\d+\.\d+(?:\.\d+)?(?:[-+~][\w.+~-]*)?)")
LIBSECCOMP = re.compile(r"^libseccomp\.so\.(\d+\.\d+\.\d+)$")
LIB_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
)
TIMEOUT_S = 10


def parse_version(output: str) -> str | None:
    """The first version-looking token of a tool's `--version` output."""
    first = output.strip().splitlines()[0] if output.strip() else ""
    match = VERSION.search(first)
    return match.group(1) if match else None


def _tool(name: str) -> Tool | None:
    path = shutil.which(name)
    if path is None:
        return None
    command = f"{name} --version"
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Tool(name=name, path=path, version=Fact.missing(f"{command} failed: {exc}"))
    version = parse_version(done.stdout or done.stderr)
    fact: Fact[str] = (
        Fact.of(version, command) if version else Fact.missing(f"{command} printed no version")
    )
    return Tool(name=name, path=path, version=fact)


def _libseccomp(files: HostFiles) -> tuple[Fact[str], Path | None]:
    for directory in LIB_DIRS:
        folder = files.resolve(directory)
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            match = LIBSECCOMP.match(entry.name)
            if match:
                return Fact.of(match.group(1), f"file name {directory}/{entry.name}"), entry
    return Fact.missing("no libseccomp.so.X.Y.Z in the usual library directories"), None


def _resolves(files: HostFiles, release: Fact[str], library: Path | None) -> Fact[list[str]]:
    arch = read_architecture(files).value
    if not files.is_live:
        return Fact.missing("the library is not loaded under --root (the package version is read)")
    if library is None or release.value is None or arch is None:
        return Fact.missing("no libseccomp library or architecture")
    return resolved_beyond(library, release.value, str(arch))


def read_engines(files: HostFiles) -> EngineFacts:
    settings, used = containers_conf(files)
    storage, storage_files = storage_conf(files)
    mount = storage_mount(files, storage)  # /proc/mounts read once for both storage facts
    where = f"containers.conf ({', '.join(used)})" if used else ""
    libseccomp, library = _libseccomp(files)
    configured = EngineFacts(
        engines=Fact.missing("tools are not run under --root"),
        runtimes=Fact.missing("tools are not run under --root"),
        libseccomp=libseccomp,
        libseccomp_package=package_version(files),
        libseccomp_resolves=_resolves(files, libseccomp, library),
        kubelet_seccomp_default=seccomp_default(files),
        default_ulimits=_setting(settings, "containers", "default_ulimits", where),
        default_runtime=_setting(settings, "engine", "runtime", where),
        storage_driver=storage_driver(storage, storage_files),
        storage_filesystem=storage_filesystem(mount),
        storage_d_type=storage_d_type(files, mount),
        iptables_backend=_iptables(files),
        iptables_rules=_iptables_rules(files),
    )
    if not files.is_live:
        return configured.model_copy(
            update={"seccomp_profile": _seccomp_profile(files, settings, [])}
        )
    engines = [t for t in map(_tool, ENGINES) if t]
    runtimes = [t for t in map(_tool, RUNTIMES) if t]
    by_name = {t.name: t for t in engines}
    runtimes_by_name = {t.name: t for t in runtimes}
    own = _bundled(runtimes)
    setups = []
    if "podman" in by_name:
        asked = _podman_runtime(by_name["podman"])
        podman = (
            configured
            if asked is None
            else configured.model_copy(update={"default_runtime": asked})
        )
        setups.append(
            podman_setup(files, by_name["podman"], runtimes_by_name, podman, settings, own)
        )
    if "dockerd" in by_name:
        setups.append(docker_setup(files, by_name["dockerd"], runtimes_by_name, configured, own))
    kubelet = configured.kubelet_seccomp_default
    if kubelet.value is not None and "containerd" in by_name:
        runtime, version = runtime_of("containerd", Fact.missing("CRI"), runtimes_by_name)
        setups.append(kubelet_setup(kubelet, by_name["containerd"], runtime, version, configured))
    return configured.model_copy(
        update={
            "engines": Fact.of(engines, "PATH lookup and --version"),
            "runtimes": Fact.of(runtimes, "PATH lookup and --version"),
            "seccomp_profile": _seccomp_profile(files, settings, engines),
            "setups": setups,
        }
    )


def _bundled(runtimes: list[Tool]) -> dict[str, Fact[str]]:
    """Runtimes that carry their own libseccomp (static upstream runc): name -> release."""
    found: dict[str, Fact[str]] = {}
    for tool in runtimes:
        try:
            done = subprocess.run(
                [tool.path, "--version"], capture_output=True, text=True, timeout=TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        fact = bundled(Path(tool.path), done.stdout)
        if fact is not None:
            found[tool.name] = fact
    return found


def _podman_runtime(podman: Tool) -> Fact[str] | None:
    """The runtime podman itself reports using (`podman info`), the authority on a live host."""
    command = [podman.path, "info", "--format", "{{.Host.OCIRuntime.Name}}"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    name = done.stdout.strip()
    return Fact.of(name, "podman info (Host.OCIRuntime)") if done.returncode == 0 and name else None


def _seccomp_profile(
    files: HostFiles, settings: dict[str, dict[str, Any]], engines: list[Tool]
) -> Fact[str]:
    """podman's: the file containers.conf names, recognised by content; docker's: built into
    the daemon, so its version picks the released profile (the newest at or below it)."""
    names = {t.name: t for t in engines}
    podman_files = files.resolve("/usr/share/containers/seccomp.json").exists()
    if "podman" in names or (not files.is_live and podman_files):
        return profile_by_content(files, podman_seccomp_file(files, settings), by_content())
    docker = names.get("dockerd")  # the daemon: a docker client alone runs no containers here
    daemon, daemon_file = docker_daemon_config(files)
    custom = daemon.get("seccomp-profile")
    if daemon_file and isinstance(custom, str) and custom not in ("", "builtin"):
        if custom == "unconfined":
            return Fact.of("unconfined", f"{daemon_file} seccomp-profile")
        return profile_by_content(files, custom, by_content())
    if docker is None or docker.version.value is None:
        return Fact.missing("no podman or dockerd (with a version) found")
    profile = for_engine("docker", docker.version.value)
    if profile is None:
        return Fact.missing(f"docker {docker.version.value} predates every profile in the data")
    return Fact.of(
        profile,
        f"docker {docker.version.value}: its built-in default profile "
        "(the newest released one at or below that version)",
    )


def parse_iptables_backend(version_output: str) -> str | None:
    """`iptables v1.8.9 (nf_tables)` or `(legacy)`; iptables before 1.8 is always legacy."""
    match = re.search(r"\((nf_tables|legacy)\)", version_output)
    if match:
        return match.group(1)
    return "legacy" if re.search(r"v1\.[0-7]\.", version_output) else None


def _iptables(files: HostFiles) -> Fact[str]:
    if not files.is_live:
        return Fact.missing("tools are not run under --root")
    path = shutil.which("iptables")
    if path is None:
        return Fact.missing("iptables is not installed")
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Fact.missing(f"iptables --version failed: {exc}")
    backend = parse_iptables_backend(done.stdout)
    return (
        Fact.of(backend, "iptables --version")
        if backend
        else Fact.missing(f"iptables --version said {done.stdout.strip()!r}")
    )


IPTABLES_SAVE = {"legacy": "iptables-legacy-save", "nf_tables": "iptables-nft-save"}


def count_rules(save_output: str) -> int:
    """Rules in iptables-save output: one `-A CHAIN ...` line each (policies are not rules)."""
    return sum(1 for line in save_output.splitlines() if line.startswith("-A "))


def _iptables_rules(files: HostFiles) -> Fact[dict[str, int]]:
    """How many rules each back end holds: rules written through the other back end than the
    one `iptables` drives (e.g. an engine's legacy rules on an nf_tables host) go unseen."""
    if not files.is_live:
        return Fact.missing("tools are not run under --root")
    if os.geteuid() != 0:
        return Fact.missing("listing rules needs root (iptables-legacy-save, iptables-nft-save)")
    counts: dict[str, int] = {}
    used: list[str] = []
    failures: list[str] = []
    for backend, name in IPTABLES_SAVE.items():
        path = shutil.which(name)
        if path is None:
            continue
        try:
            done = subprocess.run(
                [path], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            failures.append(f"{name} failed: {exc}")
            continue
        if done.returncode != 0:
            failures.append(f"{name} exited {done.returncode}")
            continue
        counts[backend] = count_rules(done.stdout)
        used.append(name)
    if not counts:
        return Fact.missing(
            "; ".join(failures) or "neither iptables-legacy-save nor iptables-nft-save is installed"
        )
    return Fact.of(counts, f"{', '.join(used)} (-A lines counted)")


def _setting(settings: dict[str, dict[str, Any]], table: str, key: str, where: str) -> Fact[Any]:
    value = settings.get(table, {}).get(key)
    if value is None:
        return Fact.missing(f"[{table}] {key} is not set in any containers.conf (engine default)")
    return Fact.of(value, where)
