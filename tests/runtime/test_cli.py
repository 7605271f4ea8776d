"""`portwise test` from the command line: report, exit codes, and cleanup when interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portwise", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def image(runtime_images: Path, name: str = "debian-trixie") -> str:
    return f"oci:{runtime_images}/oci/{name}:latest"


def test_clone3_run_exits_2_with_a_json_report(runtime_images: Path, tmp_path: Path) -> None:
    done = run(
        "test",
        image(runtime_images),
        "--host",
        "ubuntu-20.04-docker-20.10.9",
        "--json",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    threads = next(p for p in report["probes"] if p["name"] == "threads")
    assert threads["outcome"] == "fail"
    assert report["predicted"] == "FAIL"
    assert any("docker-20.10.9" in e for e in report["emulated"])


def test_a_passing_run_exits_0_and_prints_the_table(runtime_images: Path, tmp_path: Path) -> None:
    done = run(
        "test",
        image(runtime_images),
        "--host",
        "debian-12",
        "--probe",
        "true",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert done.returncode == 0, done.stderr
    assert "probe-1" in done.stdout and "pass" in done.stdout
    assert "not emulated" in done.stdout


def test_bad_input_is_refused(runtime_images: Path) -> None:
    done = run("test", image(runtime_images), "--host", "debian-12", "--engine", "docker")
    assert done.returncode == 2 and "unknown --engine 'docker'" in done.stderr
    done = run("test", "oci:/nonexistent:latest", "--host", "debian-12")
    assert done.returncode != 0 and done.stdout == ""


def test_interrupted_run_leaves_nothing_behind(runtime_images: Path, tmp_path: Path) -> None:
    """SIGTERM in the middle of a probe: the container, its state and the bundle are removed."""
    work = tmp_path / "tmp"
    work.mkdir()
    env = {**os.environ, "TMPDIR": str(work)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portwise",
            "test",
            image(runtime_images),
            "--host",
            "debian-12",
            "--probe",
            "sleep 60",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    state = None
    while time.monotonic() < deadline:  # wait until the container is running
        states = list(work.glob("portwise-bundle-*/state/portwise-*"))
        if states:
            state = states[0]
            break
        time.sleep(0.2)
    assert state is not None, proc.communicate(timeout=30)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert list(work.iterdir()) == []
    sleeping = subprocess.run(["pgrep", "-f", "sleep 60"], capture_output=True, text=True)
    assert sleeping.stdout.strip() == ""


def test_nothing_that_ran_is_not_run_never_pass(runtime_images: Path, tmp_path: Path) -> None:
    """A probe whose program is absent is skipped, and one that fails without the host's
    constraints too (as a foreign binary with no binfmt handler does: exec format error) says
    nothing about the host: when no probe ran to an outcome the run is NOT RUN, exit 3."""
    done = run(
        "test",
        image(runtime_images),
        "--host",
        "debian-12",
        "--probe",
        "/usr/bin/no-such-program",
        "--probe",
        "false",
        "--json",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "NOT RUN"
    assert report["agreement"] == "inconclusive"
    assert {p["outcome"] for p in report["probes"]} == {"skipped"}
    assert "no-such-program" in report["not_run_why"]
    assert "fails without the host's constraints too" in report["not_run_why"]
    assert "not run:" in done.stderr
