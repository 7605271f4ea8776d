"""Documented incidents: each valid, caught by a registered mechanism, and regression-tested.

The list below is the team's incident record (shared/knowledge/incidents.yaml at the time of
writing); a new incident is a data file plus a test that names its id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portwise.knowledge import incidents
from portwise.knowledge.incidents import IncidentDataError
from portwise.rules import MECHANISMS

TESTS = Path(__file__).resolve().parents[1]
DOCUMENTED = {
    "glibc234-clone3",
    "musl122-faccessat2",
    "glibc233-faccessat2-arch",
    "statx-old-docker",
    "rlimit-nofile-infinity",
    "vsyscall-none-centos6",
    "glibc-kernel-too-old",
    "x86-64-v2-rhel9",
    "x86-64-v3-rhel10",
    "avx-tensorflow",
    "arm64-pagesize-jemalloc",
    "exec-format-error-arch",
    "qemu-emulation-crash",
    "jvm-cgroupv2-unaware",
    "centos7-systemd-cgroupv2",
    "iptables-nft-vs-legacy-k8s",
    "dind-iptables-backend",
    "musl-dns-no-tcp",
    "fips-host-propagation",
    "userns-disabled-el7",
    "overlay-xfs-ftype0",
    "cuda-image-vs-driver",
}


def test_every_documented_incident_has_a_data_file() -> None:
    assert set(incidents.load()) >= DOCUMENTED


@pytest.mark.parametrize("incident_id", sorted(DOCUMENTED))
def test_incident_is_caught_by_a_registered_mechanism(incident_id: str) -> None:
    incident = incidents.load()[incident_id]
    assert incident.mechanism in {m.id for m in MECHANISMS}
    assert all(url.startswith("https://") for url in incident.sources)


@pytest.mark.parametrize("incident_id", sorted(DOCUMENTED))
def test_incident_has_a_regression_test(incident_id: str) -> None:
    """A test under tests/rules asserts the finding cites the incident (its id in the test)."""
    texts = [p.read_text() for p in (TESTS / "rules").glob("test_*.py")]
    assert any(f'"{incident_id}"' in text for text in texts), incident_id


def test_a_broken_incident_file_names_the_file_and_field(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    (data / "bad-one.json").write_text(json.dumps({"id": "bad-one", "title": "short"}))
    monkeypatch.setattr(incidents, "files", lambda _: tmp_path)
    incidents.load.cache_clear()
    try:
        with pytest.raises(IncidentDataError, match=r"bad-one\.json: .*title"):
            incidents.load()
    finally:
        monkeypatch.undo()
        incidents.load.cache_clear()


def test_matching_needs_every_key() -> None:
    assert incidents.matching("seccomp", syscall="clone3", libc="glibc") == ["glibc234-clone3"]
    assert incidents.matching("seccomp", syscall="clone3", libc="musl") == []
