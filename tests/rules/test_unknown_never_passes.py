"""Property over every mechanism: replacing any host fact it reads by "unknown" never turns a
RISK or FAIL into a PASS. Real Debian images against every catalog host; every Fact in the host
profile is knocked out in turn (a mechanism that does not read it must not change at all).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hostkit import ScanReal

from portwise.host.catalog import catalog_names, load_catalog_host
from portwise.model.host import HostProfile
from portwise.rules import MECHANISMS

IMAGES = ("debian-bullseye-amd64", "debian-trixie-amd64", "debian-bookworm-arm64")
SEVERITY = {"info": 0, "risk": 1, "fail": 2}


def fact_paths(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every Fact in a dumped host profile: a dict with exactly value, source and unknown."""
    if isinstance(node, dict):
        if set(node) == {"value", "source", "unknown"}:
            if node["value"] is not None:
                yield path
            return
        for key, child in node.items():
            yield from fact_paths(child, (*path, key))


def knocked_out(host: HostProfile, path: tuple[str, ...]) -> HostProfile:
    data = host.model_dump()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = {"value": None, "source": None, "unknown": "knocked out by the property test"}
    return HostProfile.model_validate(data)


def worst(mechanism: Any, need: Any, host: HostProfile) -> int:
    found = mechanism.judge(need, mechanism.offers(host))
    return max((SEVERITY[f.severity] for f in found), default=0)


@pytest.mark.parametrize("image_name", IMAGES)
def test_an_unknown_host_fact_never_turns_a_risk_or_failure_into_a_pass(
    real_profile: ScanReal, image_name: str
) -> None:
    image = real_profile(image_name)
    needs = [(m, m.needs(image)) for m in MECHANISMS]
    checked = 0
    broken: list[str] = []
    for name in catalog_names():
        host = load_catalog_host(name)
        before = {m.id: worst(m, need, host) for m, need in needs}
        for path in fact_paths(host.model_dump()):
            changed = knocked_out(host, path)
            for m, need in needs:
                if before[m.id] == 0:
                    continue  # a PASS may stay a PASS or become a RISK: both honest
                checked += 1
                if worst(m, need, changed) == 0:
                    broken.append(f"{image_name} on {name}: {m.id} passes without {'.'.join(path)}")
    assert checked > 200  # the property was exercised, not vacuously true
    assert broken == []


FEATURE_SWITCHES = {
    "CONFIG_IO_URING": "y",
    "CONFIG_KEYS": "n",
    "CONFIG_BPF_SYSCALL": "y",
    "CONFIG_USERFAULTFD": "y",
    "CONFIG_SECURITY_LANDLOCK": "y",
    "CONFIG_SECCOMP": "y",
    "CONFIG_SECCOMP_FILTER": "n",
    "CONFIG_CHECKPOINT_RESTORE": "n",
    "CONFIG_KCMP": "n",
}


@pytest.mark.parametrize("image_name", IMAGES[:2])
def test_knocked_out_feature_switches_never_pass(real_profile: ScanReal, image_name: str) -> None:
    """Catalog hosts record no kernel config, sysctls or LSM list, so the loop above cannot
    knock them out: here a host records every switch (several off) and each is knocked out."""
    from hostkit import fact, host_with

    host = host_with(
        "debian-13",
        kernel__config=fact(FEATURE_SWITCHES, "file /proc/config.gz"),
        security__sysctls={
            name: fact(value, f"file /proc/sys/{name}").model_dump()
            for name, value in {
                "kernel.io_uring_disabled": "2",
                "kernel.unprivileged_bpf_disabled": "2",
                "vm.unprivileged_userfaultfd": "0",
            }.items()
        },
        security__lsms=fact(["lockdown", "capability", "yama", "apparmor"], "test"),
        engines__seccomp_profile=fact("unconfined", "test: every call reaches the kernel"),
    )
    image = real_profile(image_name)
    (m,) = [m for m in MECHANISMS if m.id == "features"]
    need = m.needs(image)
    assert worst(m, need, host) > 0
    paths = list(fact_paths(host.model_dump()))
    assert ("security", "lsms") in paths and ("kernel", "config") in paths
    broken = [".".join(p) for p in paths if worst(m, need, knocked_out(host, p)) == 0]
    assert broken == []
