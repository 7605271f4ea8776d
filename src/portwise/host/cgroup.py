"""cgroup facts: v1, v2 or hybrid (from the mount table), and the controllers available."""

from __future__ import annotations

from portwise.host.files import HostFiles, Unreadable
from portwise.model.host import CgroupFacts, Fact


def parse_mounts(text: str) -> str | None:
    """v2 when only cgroup2 is mounted, v1 when only cgroup, hybrid when both."""
    kinds = {line.split()[2] for line in text.splitlines() if len(line.split()) > 2}
    v1, v2 = "cgroup" in kinds, "cgroup2" in kinds
    if v1 and v2:
        return "hybrid"
    return "v2" if v2 else "v1" if v1 else None


def parse_proc_cgroups(text: str) -> list[str]:
    """Enabled v1 controllers from /proc/cgroups (name, hierarchy, cgroups, enabled)."""
    names = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "1":
            names.append(fields[0])
    return names


def read_cgroup(files: HostFiles) -> CgroupFacts:
    try:
        version = parse_mounts(files.read_text("/proc/mounts"))
        version_fact: Fact[str] = (
            Fact.of(version, "file /proc/mounts")
            if version
            else Fact.missing("no cgroup filesystem is mounted")
        )
    except Unreadable as exc:
        version, version_fact = None, Fact.missing(exc.reason)
    controllers: Fact[list[str]]
    try:
        if version == "v2":
            text = files.read_text("/sys/fs/cgroup/cgroup.controllers")
            controllers = Fact.of(text.split(), "file /sys/fs/cgroup/cgroup.controllers")
        else:
            text = files.read_text("/proc/cgroups")
            controllers = Fact.of(parse_proc_cgroups(text), "file /proc/cgroups")
    except Unreadable as exc:
        controllers = Fact.missing(exc.reason)
    return CgroupFacts(version=version_fact, controllers=controllers)
