"""OCI runtime knowledge: each behaviour from the release it began in, with its source."""

from __future__ import annotations

import pytest

from portwise.knowledge import oci_runtimes


@pytest.mark.parametrize(
    ("runtime", "version", "stub"),
    [
        ("runc", "1.0.0-rc92", "no"),
        ("runc", "1.0.0-rc93", "yes"),
        ("runc", "1.1.5+ds1", "yes"),
        ("crun", "1.8.1", "no"),
        ("crun", "0.10.6", "no"),
        ("youki", "0.3.3", "no"),
        ("runsc", "20240212.0", "no"),
    ],
)
def test_stub_by_release(runtime: str, version: str, stub: str) -> None:
    behaviour = oci_runtimes.behaviour(runtime, version)
    assert behaviour is not None and behaviour.enosys_stub == stub
    assert behaviour.source.url.startswith("https://github.com/")


def test_unknown_runtimes_and_releases_past_the_source_are_unknown() -> None:
    assert oci_runtimes.behaviour("kata", "3.0.0") is None
    assert oci_runtimes.behaviour("crun", "1.30") is None  # read through 1.29.1 only
    assert oci_runtimes.behaviour("crun", None) is None
    before = oci_runtimes.behaviour("crun", "0.9.1")
    assert before is not None and before.unresolvable_names == "unknown"


def test_gvisor_answers_calls_itself() -> None:
    behaviour = oci_runtimes.behaviour("runsc", "20200921.0")
    assert behaviour is not None and behaviour.filters_syscalls is False
    first = oci_runtimes.first_with_stub("runc")
    assert first is not None and first.since == "1.0.0-rc93"
    assert oci_runtimes.first_with_stub("crun") is None


def test_default_runtime_per_engine_distribution_and_engine_release() -> None:
    assert oci_runtimes.default_runtime("docker", "debian", "12").runtime == "runc"
    assert oci_runtimes.default_runtime("podman", "debian", "12").runtime == "crun"
    assert oci_runtimes.default_runtime("podman", "rhel", "10.0").runtime == "crun"
    assert oci_runtimes.default_runtime("crio", None, None, "1.30.4").runtime == "runc"
    assert oci_runtimes.default_runtime("crio", None, None, "1.31.0").runtime == "crun"
    with pytest.raises(KeyError, match="crio"):  # the default changed: the release decides
        oci_runtimes.default_runtime("crio", None, None)
