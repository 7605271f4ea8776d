"""`portwise test` from the command line: report, exit codes, and cleanup when interrupted."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import ptykit


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
    assert done.returncode == 64 and "unknown --engine 'docker'" in done.stderr
    done = run("test", "oci:/nonexistent:latest", "--host", "debian-12")
    assert done.returncode != 0 and done.stdout == ""


def test_interrupted_run_leaves_nothing_behind(runtime_images: Path, tmp_path: Path) -> None:
    """SIGTERM in the middle of a probe: the container, its state and the bundle are removed.
    The probe sleeps for a duration no other process on the machine uses, so the search for a
    leftover finds only what this test started."""
    work = tmp_path / "tmp"
    work.mkdir()
    sleep = f"sleep {3600 + secrets.randbelow(100000)}"
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
            sleep,
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
    sleeping = subprocess.run(["pgrep", "-f", sleep], capture_output=True, text=True)
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


def test_a_disagreement_is_its_own_status_and_exit_code(
    runtime_images: Path, tmp_path: Path
) -> None:
    """A probe that says nothing of what it exercises is predicted from the image-wide findings
    only: check foresees no failure for it, yet xz -T2 dies of clone3's EPERM under Docker
    20.10.9. Observed FAIL, predicted pass: DISAGREE, exit 5, journalled; never a plain FAIL."""
    cache = tmp_path / "cache"
    done = run(
        "test",
        image(runtime_images),
        "--host",
        "ubuntu-20.04-docker-20.10.9",
        "--probe",
        "echo portwise | xz -T2 >/dev/null",
        "--json",
        "--cache-dir",
        str(cache),
    )
    assert done.returncode == 5, done.stderr
    report = json.loads(done.stdout)
    assert report["schema_version"] == "2.0"
    schema = json.loads(run("schema", "run").stdout)
    assert schema["$id"].endswith("/run/2.0.json")
    jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
    assert (report["status"], report["outcome"], report["agreement"]) == (
        "DISAGREE",
        "FAIL",
        "disagree",
    )
    (line,) = report["disagreements"]
    assert line.startswith("probe-1: predicted pass, observed fail")
    journal = (cache / "disagreements.jsonl").read_text().splitlines()
    assert json.loads(journal[-1])["status"] == "DISAGREE"
    table = run(
        "test",
        image(runtime_images),
        "--host",
        "ubuntu-20.04-docker-20.10.9",
        "--probe",
        "echo portwise | xz -T2 >/dev/null",
        "--cache-dir",
        str(cache),
    )
    assert table.returncode == 5
    assert "DISAGREE (observed FAIL), predicted FAIL, disagree" in table.stdout


def test_progress_goes_to_a_terminal_stderr_only(runtime_images: Path, tmp_path: Path) -> None:
    """stderr a real terminal (a pty): each step is drawn there, stdout stays pure JSON;
    --quiet draws nothing; stderr not a terminal gets no progress (the other tests)."""

    args = ("--host", "debian-12", "--probe", "true", "--json", "--cache-dir", str(tmp_path))

    def on_a_terminal(*extra: str) -> tuple[int, str, str]:
        code, stdout, drawn = ptykit.on_a_terminal(
            ["test", image(runtime_images), *args, *extra],
            stdout_too=False,
            term="xterm",
            columns=80,
        )
        return code, stdout.decode(), drawn.decode(errors="replace")

    code, stdout, terminal = on_a_terminal()
    assert code == 0, terminal
    assert json.loads(stdout)["status"] == "PASS"  # nothing but the report on stdout
    for step in (
        "scanning the image",
        "unpacking the image into a bundle for runc (umoci)",
        "probe 1/1: probe-1 (/bin/sh -c true)",
    ):
        assert step in terminal
    code, stdout, terminal = on_a_terminal("--quiet")
    assert code == 0 and json.loads(stdout)["status"] == "PASS"
    assert "probe 1/1" not in terminal and "unpacking" not in terminal


def test_help_renders_at_80_columns_and_bad_arguments_are_refused(runtime_images: Path) -> None:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    done = run("test", "--help", env=env)
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    text = " ".join(done.stdout.split())
    assert "5 DISAGREE" in text and "3 NOT RUN" in text and "--no-binfmt-setup" in text
    done = run("test", image(runtime_images), "--host", "debian-12", "--timeout", "0")
    assert done.returncode == 64 and "--timeout must be more than 0" in done.stderr
    done = run("test", image(runtime_images), "--host", "no-such-host")
    assert done.returncode == 64 and done.stdout == "" and "Traceback" not in done.stderr
    done = run("test", image(runtime_images), "--host", "debian-12", "--binfmt-setup=no")
    assert done.returncode == 64 and "Traceback" not in done.stderr
