"""Real runs on runc, crun and podman under the default profiles of the engine versions involved.

The images are real Debian roots (tests/fixtures/runtime); the profiles are those portwise
derived from the engines' released profile files. Each case reproduces a documented incident
and checks that `portwise check` predicted it: static and dynamic must agree.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hostkit import fact, host_with

from portwise.host.catalog import load_catalog_host
from portwise.model.host import HostProfile, Tool
from portwise.model.image import ImageProfile
from portwise.model.observation import ProbeResult, RunReport
from portwise.runtime.run import RunOptions, run_test

Profiles = Callable[[str], ImageProfile]


def docker_host(profile: str, runc: str, **changes: object) -> HostProfile:
    tool = Tool(name="runc", path="/usr/bin/runc", version=fact(runc))
    return host_with(
        "debian-12",
        f"{profile}+runc-{runc}",
        engines__seccomp_profile=fact(profile),
        engines__runtimes=fact([tool.model_dump()]),
        **changes,
    )


def probe(report: RunReport, name: str) -> ProbeResult:
    return next(p for p in report.probes if p.name == name)


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Bundles and stores go here, so the test can see that nothing is left behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def left_behind(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.glob("portwise-*"))


def test_clone3_eperm_fails_threads_and_enosys_passes(
    runtime_profile: Profiles, private_tmp: Path
) -> None:
    """moby/moby#42680 for real: xz -T2 in trixie under Docker 20.10.9's profile."""
    trixie = runtime_profile("debian-trixie")
    broken = run_test(trixie, docker_host("docker-20.10.9", "1.0.2"), RunOptions(trace=True))
    threads = probe(broken, "threads")
    assert (threads.outcome, threads.predicted, threads.agreement) == ("fail", "fail", "agree")
    assert "Cannot allocate memory" in threads.stderr
    assert "clone3 EPERM" in threads.failed_syscalls
    assert (broken.status, broken.predicted, broken.agreement) == ("FAIL", "FAIL", "agree")
    fixed = run_test(trixie, docker_host("docker-20.10.10", "1.0.2"), RunOptions())
    assert probe(fixed, "threads").outcome == "pass"
    assert fixed.disagreements == []
    assert left_behind(private_tmp) == []


def test_faccessat2_eperm_breaks_test_x(runtime_profile: Profiles) -> None:
    """actions/runner-images#2658: glibc >= 2.33 `[ -x ]` under a pre-20.10 profile."""
    trixie = runtime_profile("debian-trixie")
    old = run_test(trixie, docker_host("docker-19.03.15", "1.0.0-rc92"), RunOptions())
    check = probe(old, "access-check")
    assert (check.outcome, check.predicted, check.agreement) == ("fail", "fail", "agree")
    new = run_test(trixie, docker_host("docker-20.10.0", "1.0.0-rc92"), RunOptions())
    assert probe(new, "access-check").outcome == "pass"
    assert new.disagreements == []


def test_statx_eperm_breaks_ls_in_bullseye(runtime_profile: Profiles) -> None:
    """moby/moby#36417: bullseye's ls under Docker 17.12 with the runc of its time."""
    bullseye = runtime_profile("debian-bullseye")
    old = run_test(bullseye, docker_host("docker-17.12.0", "1.0.0-rc2"), RunOptions())
    status = probe(old, "file-status")
    assert (status.outcome, status.predicted, status.agreement) == ("fail", "fail", "agree")
    assert "Operation not permitted" in status.stderr
    new = run_test(bullseye, docker_host("docker-18.09.0", "1.0.0-rc2"), RunOptions())
    assert probe(new, "file-status").outcome == "pass"
    assert new.disagreements == []


def test_an_old_kernel_is_emulated_by_enosys_and_trixie_copes(runtime_profile: Profiles) -> None:
    """On a 4.19 kernel clone3 (5.3) and faccessat2 (5.8) answer ENOSYS: glibc falls back."""
    host = docker_host("docker-25.0.3", "1.1.12", kernel__release=fact("4.19.0-27-amd64"))
    report = run_test(runtime_profile("debian-trixie"), host, RunOptions())
    assert any("newer syscalls answer ENOSYS" in e for e in report.emulated)
    assert report.status == "PASS"
    assert report.disagreements == []


def test_static_glibc_sees_a_2_6_kernel_and_aborts(runtime_profile: Profiles) -> None:
    """vgteam/vg#2458: static glibc 2.31 (busybox-static) under a 2.6.32 uname personality."""
    bullseye = runtime_profile("debian-bullseye")
    report = run_test(
        bullseye, load_catalog_host("centos-6"), RunOptions(commands=["/bin/busybox true"])
    )
    (result,) = report.probes
    assert result.outcome == "fail"
    assert "FATAL: kernel too old" in result.stderr
    assert result.predicted == "risk"  # the static binary's glibc version is not recorded
    assert any("2.6 personality" in e for e in report.emulated)


def test_arm64_image_runs_through_qemu(runtime_profile: Profiles) -> None:
    report = run_test(
        runtime_profile("debian-bookworm-arm64"),
        docker_host("docker-25.0.3", "1.1.12"),
        RunOptions(commands=["uname -m"]),
    )
    (result,) = report.probes
    assert (result.outcome, result.stdout.strip()) == ("pass", "aarch64")
    assert any("qemu-user" in e for e in report.emulated)


def test_isolation_no_network_no_capabilities_read_only(runtime_profile: Profiles) -> None:
    report = run_test(
        runtime_profile("debian-trixie"),
        docker_host("docker-25.0.3", "1.1.12"),
        RunOptions(
            commands=[
                "/bin/busybox grep -c : /proc/net/dev",  # lo only
                "/bin/busybox grep CapEff /proc/self/status",
                "touch /portwise-was-here",
                "/bin/busybox grep NoNewPrivs /proc/self/status",
            ]
        ),
    )
    net, caps, write, nnp = report.probes
    assert net.stdout.strip() == "1"
    assert caps.stdout.split()[-1] == "0000000000000000"
    assert write.outcome == "skipped" and "fails without the host's constraints too" in (
        write.why or ""
    )
    assert nnp.stdout.split()[-1] == "1"


def test_timeout_is_an_outcome(runtime_profile: Profiles, private_tmp: Path) -> None:
    report = run_test(
        runtime_profile("debian-trixie"),
        docker_host("docker-25.0.3", "1.1.12"),
        RunOptions(commands=["sleep 20"], timeout=1),
    )
    assert report.probes[0].outcome == "timeout"
    assert left_behind(private_tmp) == []


@pytest.mark.parametrize("engine", ["crun", "podman"])
def test_other_engines_reproduce_clone3(
    runtime_profile: Profiles, engine: str, private_tmp: Path
) -> None:
    """crun on the bundle (scripts/setup.sh moves hugetlb off the v2 mount so crun accepts
    this VM's hybrid cgroups), podman with a private store and runc underneath."""
    options = RunOptions(
        engine=engine,  # type: ignore[arg-type]
        commands=["echo portwise | xz -T2 >/dev/null", "true"],
        podman_runtime="runc" if engine == "podman" else None,
    )
    report = run_test(
        runtime_profile("debian-trixie"), docker_host("docker-20.10.9", "1.0.2"), options
    )
    threads, plain = report.probes
    assert report.engine == engine
    assert (threads.outcome, plain.outcome) == ("fail", "pass")
    assert left_behind(private_tmp) == []


@pytest.fixture(scope="module")
def v3_image(
    runtime_images: Path, isa_bins: Path, tmp_path_factory: pytest.TempPathFactory
) -> ImageProfile:
    """trixie plus a program Debian's gcc built with -march=x86-64-v3 (no ISA note: found by
    disassembly, so the image is scanned with the CPU scan on)."""
    import shutil
    import subprocess
    import tarfile

    from portwise.image.analyzers import with_options
    from portwise.image.scan import ScanOptions, scan

    work = tmp_path_factory.mktemp("v3")
    layout = work / "layout"
    shutil.copytree(runtime_images / "oci" / "debian-trixie", layout)
    layer = work / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        tar.add(isa_bins / "vec-v3", arcname="usr/local/bin/vec-v3")
    subprocess.run(
        ["umoci", "raw", "add-layer", "--image", f"{layout}:latest", str(layer)], check=True
    )
    options = ScanOptions(cache_dir=work / "cache", analyzers=with_options(cpu_scan=True))
    (profile,) = scan(f"oci:{layout}:latest", options)
    return profile


def test_x86_64_v3_program_dies_under_a_v2_cpu_model(v3_image: ImageProfile) -> None:
    """x86-64-v2-rhel9's mechanism for real: qemu's Nehalem model stands for a v2 host CPU."""
    v2 = docker_host("docker-25.0.3", "1.1.12", cpu__x86_64_level=fact("x86-64-v2"))
    report = run_test(v3_image, v2, RunOptions(commands=["/usr/local/bin/vec-v3"]))
    (result,) = report.probes
    assert any("-cpu Nehalem" in e for e in report.emulated)
    assert result.exercises == ["isa:x86-64-v3"]
    assert (result.outcome, result.exit_code) == ("fail", 132)  # SIGILL
    assert (result.predicted, result.agreement) == ("fail", "agree")
    v3 = docker_host("docker-25.0.3", "1.1.12", cpu__x86_64_level=fact("x86-64-v3"))
    (fine,) = run_test(v3_image, v3, RunOptions(commands=["/usr/local/bin/vec-v3"])).probes
    assert (fine.outcome, fine.agreement) == ("pass", "agree")


def test_the_engines_default_ulimit_reaches_the_container(runtime_profile: Profiles) -> None:
    host = docker_host(
        "docker-25.0.3", "1.1.12", engines__default_ulimits=fact(["nofile=1024:4096"])
    )
    (result,) = run_test(
        runtime_profile("debian-trixie"), host, RunOptions(commands=["ulimit -n"])
    ).probes
    assert result.stdout.strip() == "1024"


def test_a_run_that_contradicts_the_verdict_is_disagree_not_pass(
    runtime_profile: Profiles,
) -> None:
    """A probe declared to exercise clone3 that never calls it: check predicts its failure
    under Docker 20.10.9, it passes. The run observed PASS, the verdict is FAIL: DISAGREE."""
    report = run_test(
        runtime_profile("debian-trixie"),
        docker_host("docker-20.10.9", "1.0.2"),
        RunOptions(commands=["true"], exercises=(("clone3",),)),
    )
    (result,) = report.probes
    assert (result.outcome, result.predicted, result.agreement) == ("pass", "fail", "disagree")
    assert (report.status, report.outcome, report.predicted) == ("DISAGREE", "PASS", "FAIL")
    assert report.disagreements == ["probe-1: predicted fail, observed pass"]
