"""Several engines on one host: docker (Debian's docker.io) and podman, both really installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hostkit import fact, host_with

from portwise.check import engine_views, one_engine
from portwise.errors import UsageError
from portwise.host.collect import collect_host
from portwise.host.files import HostFiles
from portwise.host.kubelet import seccomp_default
from portwise.host.libseccomp import bundled
from portwise.host.meaning import with_seccomp
from portwise.host.seccomp_table import enforcer
from portwise.knowledge.seccomp import libseccomp_build
from portwise.model.host import HostProfile

both = pytest.mark.skipif(
    not (shutil.which("dockerd") and shutil.which("podman")),
    reason="needs docker.io and podman (scripts/setup.sh installs both)",
)


@pytest.fixture(scope="module")
def here() -> HostProfile:
    return collect_host(Path("/"), "here")


@both
def test_each_engine_is_recorded_with_its_own_profile_and_runtime(here: HostProfile) -> None:
    setups = {s.engine: s for s in here.engines.setups}
    assert set(setups) == {"docker", "podman"}
    docker, podman = setups["docker"], setups["podman"]
    dockerd = subprocess.run(["dockerd", "--version"], capture_output=True, text=True).stdout
    assert docker.version.value is not None and docker.version.value in dockerd
    assert str(docker.seccomp_profile.value).startswith("docker-")
    assert str(podman.seccomp_profile.value).startswith("podman-common-")
    assert docker.runtime.value == "runc"  # dockerd's default: nothing configures another
    # podman names its own runtime; whatever it is, its version is the one installed
    reported = subprocess.run(
        ["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], capture_output=True, text=True
    ).stdout.strip()
    assert podman.runtime.value == reported
    assert podman.runtime.source == "podman info (Host.OCIRuntime)"


@both
def test_check_views_the_host_once_per_engine(here: HostProfile) -> None:
    views = engine_views(here)
    assert sorted(v.name for v in views) == ["here (docker)", "here (podman)"]
    for view in views:
        (setup,) = view.engines.setups
        assert view.engines.seccomp_profile == setup.seccomp_profile
        assert enforcer(view).runtime == setup.runtime.value
    (only,) = engine_views(here, "docker")
    assert only.name == "here" and str(only.engines.seccomp_profile.value).startswith("docker-")
    with pytest.raises(UsageError, match="records the engines podman, docker"):
        engine_views(here, "cri-o")


@both
def test_check_gives_one_verdict_per_engine(real_images: Path, tmp_path: Path) -> None:
    ref = f"oci:{real_images}/oci/debian-trixie-amd64:latest"
    args = [sys.executable, "-m", "portwise", "check", ref, "--host", "local"]
    args += ["--cache-dir", str(tmp_path), "-f", "json", "--fail-on", "never"]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    hosts = sorted(v["host"] for v in json.loads(done.stdout)["verdicts"])
    assert hosts == ["local (docker)", "local (podman)"]
    one = subprocess.run([*args, "--engine", "podman"], capture_output=True, text=True)
    assert [v["host"] for v in json.loads(one.stdout)["verdicts"]] == ["local"]
    wrong = subprocess.run([*args, "--engine", "lxc"], capture_output=True, text=True)
    assert wrong.returncode != 0 and "--engine lxc" in wrong.stderr


def test_libseccomp_names_are_read_from_the_library_itself(here: HostProfile) -> None:
    """Debian 12's 2.5.4-1+deb12u1 resolves fchmodat2 (upstream 2.5.5's table); the host profile
    measures that by asking the library, and the knowledge data records the same set."""
    engines = here.engines
    assert engines.libseccomp.value is not None
    measured = engines.libseccomp_resolves
    assert measured.value is not None, measured.unknown
    assert "seccomp_syscall_resolve_name_arch" in str(measured.source)
    build = libseccomp_build(engines.libseccomp_package.value)
    if build is not None:  # a package portwise records: the data must agree with the library
        assert sorted(build.resolves_beyond["x86-64"]) == sorted(measured.value)


def test_libseccomp_names_resolved_agree_with_python3_seccomp(here: HostProfile) -> None:
    """Second opinion through Debian's own binding (python3-seccomp, the system Python)."""
    python = "/usr/bin/python3"
    if subprocess.run([python, "-c", "import seccomp"], check=False).returncode != 0:
        pytest.skip("Debian's python3-seccomp is not installed")
    names = here.engines.libseccomp_resolves.value or []
    code = (
        "import seccomp, sys\n"
        "for n in sys.argv[1:]:\n"
        "    try: print(n, seccomp.resolve_syscall(seccomp.Arch.X86_64, n))\n"
        "    except Exception: print(n, -1)\n"
    )
    out = subprocess.run([python, "-c", code, *names], capture_output=True, text=True).stdout
    assert names and all(int(line.split()[1]) >= 0 for line in out.splitlines())


def test_kubelet_seccomp_default_is_read_from_its_configuration(tmp_path: Path) -> None:
    config = tmp_path / "var/lib/kubelet/config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("kind: KubeletConfiguration\nseccompDefault: true\n")
    on = seccomp_default(HostFiles(tmp_path))
    assert on.value is True and on.source == "/var/lib/kubelet/config.yaml seccompDefault"
    config.write_text("kind: KubeletConfiguration\ncgroupDriver: systemd\n")
    off = seccomp_default(HostFiles(tmp_path))
    assert off.value is False and "does not set seccompDefault" in str(off.source)
    config.unlink()
    assert seccomp_default(HostFiles(tmp_path)).value is None


def test_a_pod_that_asks_for_runtime_default_gets_the_cri_profile() -> None:
    """A node whose kubelet leaves pods Unconfined: runtime-default judges the pods that ask."""
    node = host_with(
        "debian-12",
        "node",
        engines__seccomp_profile=fact("unconfined", "kubelet seccompDefault off"),
        engines__runtime_default_profile=fact("containerd-1.7.13", "containerd CRI default"),
    )
    asked = with_seccomp(node, "runtime-default")
    assert asked.engines.seccomp_profile.value == "containerd-1.7.13"
    assert asked.name == "node+seccomp=containerd-1.7.13"
    assert with_seccomp(node, "unconfined").engines.seccomp_profile.value == "unconfined"


def test_engine_on_a_host_that_describes_one_engine() -> None:
    """Catalog hosts describe one engine: --engine must name it, or it is a usage error."""
    ubuntu = host_with("ubuntu-20.04-docker-20.10.9", "ubuntu")
    assert [h.name for h in engine_views(ubuntu, "docker")] == ["ubuntu"]
    with pytest.raises(UsageError, match="--engine podman: host ubuntu records docker"):
        engine_views(ubuntu, "podman")


@both
def test_a_run_emulates_one_engine_named_by_the_user(here: HostProfile) -> None:
    with pytest.raises(UsageError, match="records several engines"):
        one_engine(here, None)
    docker = one_engine(here, "docker")
    assert str(docker.engines.seccomp_profile.value).startswith("docker-")


def test_a_runtime_that_links_libseccomp_statically_brings_its_own_release() -> None:
    """Upstream runc release binaries carry libseccomp inside and print its release; Debian's
    runc loads the system's library, so the host's package (and its backports) apply."""
    runc = shutil.which("runc")
    assert runc is not None
    said = subprocess.run([runc, "--version"], capture_output=True, text=True).stdout
    assert "libseccomp: " in said
    assert bundled(Path(runc), said) is None  # DT_NEEDED libseccomp.so.2
    static = Path("/bin/busybox")  # a statically linked ELF standing in for a static runc
    fact = bundled(static, "runc version 1.2.5\nlibseccomp: 2.5.5\n")
    assert fact is not None and fact.value == "2.5.5"
    assert bundled(static, "crun version 1.8.1\n") is None  # says nothing: not assumed
