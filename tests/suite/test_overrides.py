"""The override vocabulary on real catalog hosts: which facts change, and what is refused."""

from __future__ import annotations

import pytest

from portwise.host.catalog import load_catalog_host
from portwise.host.seccomp_table import runc_stub
from portwise.suite.overrides import Override, OverrideError, apply, check_value


def test_a_runtime_version_is_set_and_turns_runcs_stub_on() -> None:
    host = load_catalog_host("ubuntu-20.04-docker-20.10.9")
    assert runc_stub(host) is None  # the catalog does not know the runc of containerd.io
    changed = apply(host, [Override("engines.runtimes.runc", "1.0.2", "suite s.yaml:3")], "x")
    (runc,) = changed.engines.runtimes.value or []
    assert (runc.name, runc.path, runc.version.value, runc.version.source) == (
        "runc",
        "/usr/bin/runc",
        "1.0.2",
        "suite s.yaml:3",
    )
    assert runc_stub(changed) is True
    assert changed.name == "x"
    assert changed.engines.runtimes.source == host.engines.runtimes.source


def test_an_engine_upgrade_brings_the_profile_that_release_ships() -> None:
    host = load_catalog_host("ubuntu-20.04-docker-20.10.9")
    upgraded = apply(host, [Override("engines.engines.docker", "20.10.12", "suite s.yaml:9")])
    assert upgraded.engines.seccomp_profile.value == "docker-20.10.10"
    assert upgraded.engines.seccomp_profile.source == (
        "suite s.yaml:9: the default profile docker 20.10.12 ships"
    )
    (docker,) = upgraded.engines.engines.value or []
    assert docker.version.value == "20.10.12"
    both = apply(
        host,
        [
            Override("engines.engines.docker", "20.10.12", "s:1"),
            Override("engines.seccomp_profile", "unconfined", "s:2"),
        ],
    )
    assert both.engines.seccomp_profile.value == "unconfined"  # said explicitly: kept


def test_any_fact_by_its_path_including_a_sysctl_with_dots() -> None:
    host = load_catalog_host("debian-12")
    changed = apply(
        host,
        [
            Override("kernel.release", "4.19.0-27-amd64", "s:1"),
            Override("kernel.page_size", "65536", "s:2"),
            Override("security.sysctls.user.max_user_namespaces", "0", "s:3"),
        ],
    )
    assert changed.kernel.release.value == "4.19.0-27-amd64"
    assert changed.kernel.page_size.value == 65536
    assert changed.security.sysctls["user.max_user_namespaces"].value == "0"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("kernel.nope", "1", "kernel has no fact 'nope'; known: release, version"),
        ("kernel", "1", "kernel is a group of facts; name one"),
        ("kernel.release.major", "4", "kernel.release is a fact; it has no 'major'"),
        ("engines.runtimes", "1.0.2", "name one tool: engines.runtimes.NAME"),
        ("name", "other", "a host has no fact 'name'"),
        ("security.sysctls", "0", "name one entry: security.sysctls.NAME"),
        ("engines.seccomp_profile", "docker-1.0", "unknown seccomp profile 'docker-1.0'"),
    ],
)
def test_refused_overrides(key: str, value: str, message: str) -> None:
    with pytest.raises(OverrideError) as caught:
        check_value(key, value)
    assert caught.value.key == key
    assert message in caught.value.message


def test_a_value_of_the_wrong_type_names_its_key() -> None:
    host = load_catalog_host("debian-12")
    with pytest.raises(OverrideError) as caught:
        apply(host, [Override("kernel.page_size", "huge", "s:1")])
    assert caught.value.key == "kernel.page_size"
    assert "valid integer" in caught.value.message
