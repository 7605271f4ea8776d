"""A catalog host's default seccomp answers: the clone3 incident trio, and runc's ENOSYS stub."""

from __future__ import annotations

import subprocess
import sys

import pytest

from portwise.host.catalog import load_catalog_host
from portwise.host.seccomp_table import describe, runc_stub, seccomp_table
from portwise.model.host import EngineFacts, Fact, Tool


@pytest.mark.parametrize(
    ("host", "clone3"),
    [
        ("ubuntu-20.04-docker-19.03", "errno EPERM"),
        ("ubuntu-20.04-docker-20.10.9", "errno EPERM"),
        ("ubuntu-20.04-docker-20.10.10", "errno ENOSYS"),
    ],
)
def test_clone3_incident_trio(host: str, clone3: str) -> None:
    """moby/moby#42681: Docker 20.10.10 answers clone3 with ENOSYS so glibc falls back."""
    rows = seccomp_table(load_catalog_host(host))
    assert rows is not None
    answers = {name: describe(decision) for name, decision in rows}
    assert answers["clone3"] == clone3
    assert answers["statx"] == "allow"


def with_runc(version: str) -> EngineFacts:
    return EngineFacts(
        engines=Fact.of([], "test"),
        libseccomp=Fact.missing("test"),
        runtimes=Fact.of(
            [Tool(name="runc", path="/usr/bin/runc", version=Fact.of(version, "runc --version"))],
            "test",
        ),
    )


@pytest.mark.parametrize(
    ("version", "stub"),
    [
        ("1.1.5+ds1", True),
        ("1.0.0", True),
        ("1.0.0-rc93", True),
        ("1.0.0-rc92", False),
        ("1.0.0-rc10", False),
        ("0.1.1", False),
    ],
)
def test_runc_stub_by_version(version: str, stub: bool) -> None:
    host = load_catalog_host("debian-12").model_copy(update={"engines": with_runc(version)})
    assert runc_stub(host) is stub


def test_cli_seccomp_table() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "portwise",
            "host",
            "show",
            "ubuntu-20.04-docker-20.10.10",
            "--seccomp",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "docker-20.10.10" in done.stdout and "clone3" in done.stdout


def test_this_host_seccomp_table() -> None:
    """The live host: podman's shipped profile (named by content) answers for real names."""
    done = subprocess.run(
        [sys.executable, "-m", "portwise", "host", "--seccomp"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "podman-common-" in done.stdout and "clone3" in done.stdout
