"""The reference-host catalog: every entry validates, every fact is sourced or explained."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portwise.errors import InputError, UsageError
from portwise.host.catalog import (
    CATALOG_DIR,
    catalog_errors,
    catalog_names,
    load_catalog_host,
)
from portwise.host.seccomp_table import UNCONFINED, runtime_in_effect
from portwise.knowledge.seccomp import by_content, for_engine, profiles
from portwise.model.host import HostProfile

KNOWN_PROFILES = set(profiles())  # the packaged seccomp knowledge (knowledge/seccomp)
INCIDENT_TRIO = {
    "ubuntu-20.04-docker-19.03": "docker-19.03.15",
    "ubuntu-20.04-docker-20.10.9": "docker-20.10.9",
    "ubuntu-20.04-docker-20.10.10": "docker-20.10.10",
}


def _facts(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Fact-shaped object in a raw JSON document, with its dotted location."""
    if isinstance(node, dict):
        if {"value", "source", "unknown"} >= node.keys() and (
            "source" in node or "unknown" in node
        ):
            yield where, node
        for key, child in node.items():
            yield from _facts(child, f"{where}.{key}" if where else key)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _facts(child, f"{where}[{i}]")


def test_catalog_has_the_priority_hosts() -> None:
    names = catalog_names()
    for wanted in [
        "rhel-7.9",
        "rhel-8.10",
        "rhel-9.4",
        "rhel-10.0",
        "ubuntu-22.04",
        "debian-12",
        *INCIDENT_TRIO,
    ]:
        assert wanted in names


@pytest.mark.parametrize("name", catalog_names())
def test_entry_validates_and_is_named_after_its_file(name: str) -> None:
    profile = load_catalog_host(name)
    assert isinstance(profile, HostProfile)
    assert profile.name == name
    assert profile.root == "catalog"
    assert profile.portwise_version == "0.1.0"


@pytest.mark.parametrize("name", catalog_names())
def test_every_fact_is_sourced_by_url_or_explained(name: str) -> None:
    doc = json.loads((CATALOG_DIR / f"{name}.json").read_text())
    facts = list(_facts(doc))
    assert len(facts) > 15
    for where, fact in facts:
        if fact.get("value") is not None:
            assert (fact.get("source") or "").startswith("https://"), f"{name}: {where}"
            assert not fact.get("unknown"), f"{name}: {where} is both known and unknown"
        else:
            assert (fact.get("unknown") or "").strip(), f"{name}: {where} lacks a reason"


# GA kernels not yet confirmed against a public page: unknown (with where to check) until someone
# reads the page; every other entry must name its kernel.
UNCONFIRMED_KERNELS: set[str] = {
    "gke-cos-k8s-1.32",
    "gke-autopilot-k8s-1.32",
    "aks-ubuntu-22.04-2026-08",
    "openshift-4.18",
}
# Hosts that are not x86-64 (their page size is recorded unknown until a page states it).
NON_X86_HOSTS = {"docker-desktop-4.39.0-macos-arm64": "aarch64"}


@pytest.mark.parametrize("name", catalog_names())
def test_kernel_basics_present(name: str) -> None:
    profile = load_catalog_host(name)
    if name in UNCONFIRMED_KERNELS:
        assert "check https://" in (profile.kernel.release.unknown or "")
    else:
        assert profile.kernel.release.value
    if name in NON_X86_HOSTS:
        assert profile.kernel.architecture.value == NON_X86_HOSTS[name]
        assert profile.kernel.page_size.value is None  # arm64 page size not confirmed
    else:
        assert profile.kernel.architecture.value == "x86-64"
        assert profile.kernel.page_size.value == 4096
    assert profile.cgroup.version.value in {"v1", "v2", "hybrid"}


def test_incident_trio_uses_known_seccomp_profiles() -> None:
    known = KNOWN_PROFILES
    for name, profile_id in INCIDENT_TRIO.items():
        profile = load_catalog_host(name)
        assert profile.engines.seccomp_profile.value == profile_id
        assert profile_id in known


def test_every_named_seccomp_profile_exists() -> None:
    known = KNOWN_PROFILES | {UNCONFINED}
    for name in catalog_names():
        value = load_catalog_host(name).engines.seccomp_profile.value
        assert value is None or value in known, name


def test_sourced_ga_kernels() -> None:
    """The GA / last-point-release kernels read from public pages (elrepo specs, Debian pages)."""
    expected = {
        "centos-6": "2.6.32-754.el6.x86_64",
        "rhel-7.9": "3.10.0-1160.el7.x86_64",
        "rhel-8.10": "4.18.0-553.el8_10.x86_64",
        "rhel-9.4": "5.14.0-427.13.1.el9_4.x86_64",
        "rhel-10.0": "6.12.0-55.9.1.el10_0.x86_64",
    }
    for name, release in expected.items():
        fact = load_catalog_host(name).kernel.release
        assert fact.value == release, name
        assert "github.com/" in (fact.source or ""), name
    for name, prefix in {"debian-11": "5.10.0-", "debian-12": "6.1.0-"}.items():
        fact = load_catalog_host(name).kernel.release
        assert (fact.value or "").startswith(prefix), name
        assert "packages.debian.org" in (fact.source or ""), name


def test_docker_before_1_10_is_unconfined() -> None:
    """Docker added its default seccomp profile in 1.10.0; EL6's docker-io 1.7 has none."""
    fact = load_catalog_host("centos-6").engines.seccomp_profile
    assert fact.value == UNCONFINED
    assert "moby/moby/blob/" in (fact.source or "") and "1.10.0" in (fact.source or "")


def test_incident_trio_engine_versions() -> None:
    versions = {
        name: [t.version.value for t in load_catalog_host(name).engines.engines.value or []]
        for name in INCIDENT_TRIO
    }
    assert versions == {
        "ubuntu-20.04-docker-19.03": ["19.03.15"],
        "ubuntu-20.04-docker-20.10.9": ["20.10.9"],
        "ubuntu-20.04-docker-20.10.10": ["20.10.10"],
    }


def test_unknown_name_lists_known_hosts() -> None:
    with pytest.raises(UsageError) as err:
        load_catalog_host("no-such-host")
    assert "no-such-host" in err.value.message
    assert "portwise hosts" in (err.value.hint or "")  # the listing is one command away
    with pytest.raises(UsageError) as close:
        load_catalog_host("rhel-7.8")
    assert "rhel-7.9" in (close.value.hint or "")  # did you mean


def _user_entry(name: str) -> dict[str, Any]:
    doc = json.loads((CATALOG_DIR / "debian-12.json").read_text())
    doc["name"] = name
    return doc


def test_user_directory_extends_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "my-host.json").write_text(json.dumps(_user_entry("my-host")))
    override = _user_entry("rhel-7.9")
    override["kernel"]["release"] = {"value": "3.10.0-9999", "source": "https://example.org/x"}
    (tmp_path / "rhel-7.9.json").write_text(json.dumps(override))
    assert "my-host" in catalog_names([tmp_path])
    assert load_catalog_host("my-host", [tmp_path]).name == "my-host"
    assert load_catalog_host("rhel-7.9", [tmp_path]).kernel.release.value == "3.10.0-9999"
    assert load_catalog_host("rhel-7.9").kernel.release.value != "3.10.0-9999"
    assert catalog_errors(tmp_path) == []


def test_broken_user_file_names_file_and_field(tmp_path: Path) -> None:
    doc = _user_entry("broken")
    doc["kernel"]["page_size"] = {"value": "four kilobytes", "source": "https://example.org"}
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps(doc))
    (tmp_path / "garbage.json").write_text("{not json")
    with pytest.raises(InputError) as err:
        load_catalog_host("broken", [tmp_path])
    assert str(bad) in err.value.message
    assert "kernel.page_size.value" in err.value.message
    problems = catalog_errors(tmp_path)
    assert len(problems) == 2
    assert any("broken.json" in p and "kernel.page_size" in p for p in problems)
    assert any("garbage.json" in p for p in problems)


def test_name_must_match_file(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_user_entry("b")))
    [problem] = catalog_errors(tmp_path)
    assert "a.json" in problem and "'b'" in problem


def test_missing_directory(tmp_path: Path) -> None:
    assert catalog_errors(tmp_path / "nope")
    with pytest.raises(UsageError):
        catalog_names([tmp_path / "nope"])


@pytest.mark.parametrize("name", catalog_names())
def test_entry_matches_published_json_schema(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads((CATALOG_DIR / f"{name}.json").read_text())
    jsonschema.validate(doc, HostProfile.model_json_schema())


def test_runner_and_node_hosts() -> None:
    for name in ("github-actions-ubuntu-22.04", "github-actions-ubuntu-24.04"):
        runner = load_catalog_host(name)
        versions = {t.name: t.version.value for t in runner.engines.engines.value or []}
        assert versions["docker"] == "28.0.4"
        assert runner.engines.seccomp_profile.value == "docker-27.5.1"
        assert "actions/runner-images/blob/" in (runner.kernel.release.source or "")
    node = load_catalog_host("bottlerocket-1.26-aws-k8s-1.31")
    # the kubelet leaves pods unconfined; pods that ask for RuntimeDefault get containerd's
    assert node.engines.seccomp_profile.value == "unconfined"
    assert node.engines.runtime_default_profile.value == "containerd-1.7.13"
    assert node.engines.kubelet_seccomp_default.value is False
    assert [t.name for t in node.engines.engines.value or []] == ["containerd"]
    assert node.security.selinux.value == "enforcing"
    fcos = load_catalog_host("fedora-coreos-40-stable")
    assert fcos.engines.seccomp_profile.value == "podman-common-0.60.4"
    assert fcos.cgroup.version.value == "v2"
    rhel7 = load_catalog_host("rhel-7.9")
    assert [t.version.value for t in rhel7.engines.engines.value or []] == ["1.13.1"]


def test_no_unverified_markers_left() -> None:
    for path in CATALOG_DIR.glob("*.json"):
        assert "not checked against the page" not in path.read_text(), path.name


def test_ubuntu_lts_docker_io_from_updates() -> None:
    """jammy and noble updates carry docker.io 29.1.3 (docker.io-app); profile by for_engine."""
    for name in ("ubuntu-22.04", "ubuntu-24.04"):
        engines = load_catalog_host(name).engines
        [docker] = engines.engines.value or []
        assert docker.version.value == "29.1.3", name
        assert "packages.ubuntu.com/source/" in (docker.version.source or ""), name
        assert engines.seccomp_profile.value == for_engine("docker", "29.1.3"), name


def test_ubuntu_18_04_statx_host() -> None:
    """18.04.1 ships libseccomp 2.3.1, older than the 2.3.3 that knows statx (statx incident)."""
    host = load_catalog_host("ubuntu-18.04")
    assert host.engines.libseccomp.value == "2.3.1"
    assert "qgis/qgis-docker/issues/1" in (host.engines.libseccomp.source or "")
    assert host.kernel.release.value == "4.15"
    assert host.engines.seccomp_profile.value is None


def test_rhel_10_0_host() -> None:
    """GA kernel from ELRepo's corrected el10 spec; crun only (runc removed), cgroup v2; the
    podman build, containers-common's seccomp.json and the x86-64-v3 floor stay unknown."""
    host = load_catalog_host("rhel-10.0")
    assert "a29d534edbfe5c0bd42c7438364f6d3add7ea8ae" in (host.kernel.release.source or "")
    assert host.cgroup.version.value == "v2"
    assert [t.name for t in host.engines.runtimes.value or []] == ["crun"]
    [podman] = host.engines.engines.value or []
    assert podman.name == "podman" and podman.version.value is None
    assert host.engines.seccomp_profile.value is None
    assert host.cpu.x86_64_level.value is None
    assert "x86-64-v3" in (host.cpu.x86_64_level.unknown or "")


def test_docker_desktop_4_39_on_apple_silicon() -> None:
    """Engine 28.0.1 and kernel 6.10.14 from the 4.39.0 release notes, runc from for-mac#7644,
    cgroup v2 since 4.3.0; binfmt stays unknown (handler and flags of 4.39.0 not read)."""
    host = load_catalog_host("docker-desktop-4.39.0-macos-arm64")
    assert host.kernel.release.value == "6.10.14"
    assert "docker/docs/blob/" in (host.kernel.release.source or "")
    [docker] = host.engines.engines.value or []
    assert (docker.name, docker.version.value) == ("docker", "28.0.1")
    assert [(t.name, t.version.value) for t in host.engines.runtimes.value or []] == [
        ("runc", "1.2.4")
    ]
    assert host.engines.seccomp_profile.value == for_engine("docker", "28.0.1")
    assert host.cgroup.version.value == "v2"
    assert host.security.binfmt.value is None
    assert "qemu-x86_64" in (host.security.binfmt.unknown or "")


def test_rhel_7_9_seccomp_profile_differs_from_every_stored_one() -> None:
    """projectatomic/docker's docker-1.13.1-rhel profile hashes to no stored profile."""
    fact = load_catalog_host("rhel-7.9").engines.seccomp_profile
    assert fact.value is None
    digest = "1beb7b8ac377eff7c69c34a61d55dcce79520d86c8e1c5af0b471689123699f7"
    assert digest in (fact.unknown or "")
    assert digest not in by_content()


MANAGED_NODES = {
    # name: (what pods get unasked, kubelet seccompDefault, runtime in effect)
    "eks-al2023-k8s-1.31": ("unconfined", False, "runc"),
    "gke-cos-k8s-1.32": ("unconfined", False, "runc"),
    "gke-autopilot-k8s-1.32": (None, True, "runc"),  # containerd's profile, release unknown
    "aks-ubuntu-22.04-2026-08": ("unconfined", False, "runc"),
    "openshift-4.18": (None, None, "crun"),  # restricted-v2: CRI-O's profile, not in the data
    "bottlerocket-1.26-aws-k8s-1.31": ("unconfined", False, "runc"),
}


@pytest.mark.parametrize("name", sorted(MANAGED_NODES))
def test_managed_kubernetes_nodes_record_what_pods_get(name: str) -> None:
    node = load_catalog_host(name)
    profile, seccomp_default, runtime = MANAGED_NODES[name]
    assert node.engines.seccomp_profile.value == profile
    if profile is None:
        assert node.engines.seccomp_profile.unknown
    assert node.engines.kubelet_seccomp_default.value is seccomp_default
    assert runtime_in_effect(node)[0] == runtime
