"""The truth side: a released default profile as the OCI filter its engine hands the runtime.

This does not use portwise's model of what a profile answers (knowledge/seccomp.decide, nor
runtime/emulate.seccomp_filter): it converts the stored release rules mechanically, as moby's
profiles/seccomp setupSeccomp does (rules kept when their includes/excludes match the native
arch, the engine's default capabilities and the kernel's minKernel; names, action, errnoRet and
argument filters copied), and lets this machine's real runc or crun enforce it. What the runtime
adds is then real: runc 1.1.5's ENOSYS stub above the highest named syscall, or whatever crun does.

Two things cannot come from a real old component here and are imposed by hand, said so:
- "no stub" (runc before 1.0.0-rc93): every syscall the local libseccomp can name and the profile
  does not is listed with the default action, so the local runc's stub covers nothing it can name;
  names the local libseccomp does not know (mseal, ... for Debian's 2.5.4-1+deb12u1) still get
  the stub.
- an upstream libseccomp release older than the local build (2.5.4 without Debian's backported
  names: fchmodat2, cachestat, ...): those names are dropped from the filter, as a runtime linked
  to that release skips names it cannot resolve.
- an older kernel: calls the profile allows but the kernel predates answer ENOSYS (the
  version each call appeared in comes from portwise's syscall table, which is kernel fact).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from portwise.host.libseccomp import resolvable
from portwise.knowledge import syscalls

ENOSYS = 38
MACHINE = "x86-64"
NATIVE = "amd64"
SCMP_ARCH = "SCMP_ARCH_X86_64"
LOCAL_LIBRARY = Path(
    "/usr/lib/x86_64-linux-gnu/libseccomp.so.2"
)  # runc 1.1.5 and crun 1.8.1 link it


@cache
def _data() -> dict[str, Any]:
    text = files("portwise.knowledge.seccomp").joinpath("profiles.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _key(version: str) -> tuple[int, ...]:
    m = re.search(r"\d+(?:\.\d+)*", version)
    return tuple(int(x) for x in m.group(0).split(".")) if m else ()


@cache
def _local_names() -> frozenset[str]:
    """Names the local library really resolves (Debian's build: more than upstream 2.5.4)."""
    return frozenset(resolvable(LOCAL_LIBRARY, MACHINE))


def upstream_names(release: str) -> set[str]:
    """Names upstream libseccomp `release` resolves (from the release tags' tables)."""
    first = _data()["libseccomp"]["first_known"]
    out = set()
    for name in syscalls.table(MACHINE).values():
        since = first.get(name, {}).get(MACHINE)
        if since is None or _key(since) <= _key(release):
            out.add(name)
    return out


def nameable(upstream: str | None = None) -> set[str]:
    """Syscall names the runtime can resolve: the local library's, or only those of an
    upstream release it imitates (names beyond it are then dropped from the filter)."""
    local = set(_local_names())
    return local if upstream is None else local & upstream_names(upstream)


def unnameable() -> set[str]:
    return set(syscalls.table(MACHINE).values()) - nameable()


def _applies(rule: dict[str, Any], caps: set[str], kernel: str) -> bool:
    inc, exc = rule.get("includes", {}), rule.get("excludes", {})
    if "arches" in inc and NATIVE not in inc["arches"]:
        return False
    if "caps" in inc and not set(inc["caps"]) <= caps:
        return False
    if "minKernel" in inc and _key(kernel) < _key(inc["minKernel"]):
        return False
    if "arches" in exc and NATIVE in exc["arches"]:
        return False
    return not ("caps" in exc and caps & set(exc["caps"]))


def _newer(name: str, kernel: str) -> bool:
    since = syscalls.introduced(name, MACHINE)
    return since is not None and _key(since) > _key(kernel)


@dataclass(frozen=True)
class Enforcement:
    """How a host variant's profile is enforced here: which profile, stub or not, which kernel."""

    profile: str
    stub: bool  # False: runc before 1.0.0-rc93 (imposed by listing every nameable call)
    kernel: str
    libseccomp_upstream: str | None = None  # imitate this upstream release's name table

    def describe(self) -> str:
        stub = "stub" if self.stub else "no stub"
        lib = f", libseccomp {self.libseccomp_upstream} names" if self.libseccomp_upstream else ""
        return f"{self.profile}, {stub}, kernel {self.kernel}{lib}"


def oci_filter(how: Enforcement) -> dict[str, Any] | None:
    """The OCI linux.seccomp document; None for an unconfined host."""
    if how.profile == "unconfined":
        return None
    p = _data()["profiles"][how.profile]
    caps = set(_data()["default_caps"][p["engine"]]["caps"])
    rules = [r for r in p["rules"] if _applies(r, caps, how.kernel)]
    out: list[dict[str, Any]] = []
    newer: list[str] = []
    known = nameable(how.libseccomp_upstream)
    unresolvable = set(syscalls.table(MACHINE).values()) - known
    for rule in rules:
        # a runtime whose libseccomp cannot resolve a name skips it (runc, crun: warning)
        names = [n for n in rule["names"] if n not in unresolvable or n not in _local_names()]
        if not names:
            continue
        if rule["action"] == "allow" and not rule.get("args"):
            newer.extend(n for n in names if _newer(n, how.kernel))
            names = [n for n in names if not _newer(n, how.kernel)]
            if not names:
                continue
        entry: dict[str, Any] = {"names": names, "action": f"SCMP_ACT_{rule['action'].upper()}"}
        if rule.get("args"):
            entry["args"] = [
                {"index": i, "op": op, "value": v, "valueTwo": v2} for i, op, v, v2 in rule["args"]
            ]
        if rule["action"] == "errno" and rule.get("errnoRet") is not None:
            entry["errnoRet"] = int(rule["errnoRet"])
        out.append(entry)
    if newer:
        out.append({"names": sorted(set(newer)), "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    default = f"SCMP_ACT_{p['defaultAction'].upper()}"
    if not how.stub and p["defaultAction"] != "allow":
        named = {n for r in rules for n in r["names"]}
        rest = sorted(known - named)
        if rest:
            entry = {"names": rest, "action": default}
            if p.get("defaultErrnoRet") is not None:
                entry["errnoRet"] = int(p["defaultErrnoRet"])
            out.append(entry)
    document: dict[str, Any] = {
        "defaultAction": default,
        "architectures": [SCMP_ARCH, *p.get("archMap", {}).get(SCMP_ARCH, [])],
        "syscalls": out,
    }
    if p.get("defaultErrnoRet") is not None:
        document["defaultErrnoRet"] = int(p["defaultErrnoRet"])
    return document
