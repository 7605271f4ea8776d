"""The emulation plan: a host's default profile as an OCI filter, and what is not emulated."""

from __future__ import annotations

import resource

from hostkit import fact, host_with, unknown

from portwise.knowledge import syscalls
from portwise.model.host import Tool
from portwise.runtime.emulate import ENOSYS, seccomp_filter


def answers(document: dict) -> dict[str, tuple[str, int | None]]:  # type: ignore[type-arg]
    out = {}
    for rule in document["syscalls"]:
        if "args" in rule:
            continue
        for name in rule["names"]:
            out[name] = (rule["action"], rule.get("errnoRet"))
    return out


def runc(version: str) -> object:
    return fact([Tool(name="runc", path="/usr/bin/runc", version=fact(version)).model_dump()])


def test_clone3_eperm_then_enosys_across_docker_releases() -> None:
    old = host_with(
        "debian-12",
        engines__seccomp_profile=fact("docker-20.10.9"),
        engines__runtimes=runc("1.0.2"),
    )
    new = host_with(
        "debian-12",
        engines__seccomp_profile=fact("docker-20.10.10"),
        engines__runtimes=runc("1.0.2"),
    )
    doc_old, _ = seccomp_filter(old, "x86-64")
    doc_new, _ = seccomp_filter(new, "x86-64")
    assert doc_old is not None and doc_new is not None
    assert answers(doc_old)["clone3"] == ("SCMP_ACT_ERRNO", 1)
    assert answers(doc_new)["clone3"] == ("SCMP_ACT_ERRNO", ENOSYS)
    assert answers(doc_old)["read"] == ("SCMP_ACT_ALLOW", None)
    assert doc_old["defaultAction"] == "SCMP_ACT_ERRNO"
    assert doc_old["architectures"][0] == "SCMP_ARCH_X86_64"


def test_every_syscall_is_named_so_the_local_runc_stub_cannot_interfere() -> None:
    """An old runc has no ENOSYS stub: naming every call reproduces its EPERM here too."""
    host = host_with(
        "debian-12",
        engines__seccomp_profile=fact("docker-17.12.0"),
        engines__runtimes=runc("1.0.0-rc2"),
    )
    doc, _ = seccomp_filter(host, "x86-64")
    assert doc is not None
    named = {n for rule in doc["syscalls"] for n in rule["names"]}
    assert named >= set(syscalls.table("x86-64").values())
    assert answers(doc)["statx"] == ("SCMP_ACT_ERRNO", 1)


def test_conditional_rules_keep_their_argument_filters() -> None:
    host = host_with("debian-12", engines__seccomp_profile=fact("docker-20.10.9"))
    doc, _ = seccomp_filter(host, "x86-64")
    assert doc is not None
    personality = [r for r in doc["syscalls"] if r["names"] == ["personality"]]
    assert personality and all("args" in r for r in personality)


def test_an_old_kernel_answers_enosys_for_newer_calls() -> None:
    host = host_with(
        "debian-12",
        engines__seccomp_profile=fact("docker-25.0.3"),
        kernel__release=fact("4.19.0-27-amd64"),
    )
    doc, notes = seccomp_filter(host, "x86-64")
    assert doc is not None
    assert answers(doc)["statx"] == ("SCMP_ACT_ALLOW", None)  # 4.11 <= 4.19
    assert answers(doc)["clone3"][1] == ENOSYS  # 5.3 > 4.19 (and the profile itself says ENOSYS)
    assert answers(doc)["faccessat2"] == ("SCMP_ACT_ERRNO", ENOSYS)  # 5.8 > 4.19: the kernel
    assert any("kernel 4.19.0" in n for n in notes)


def test_unknown_or_unconfined_profile() -> None:
    none, notes = seccomp_filter(
        host_with("debian-12", engines__seccomp_profile=unknown("no config")), "x86-64"
    )
    assert none is None and "seccomp profile unknown" in notes[0]
    free, notes = seccomp_filter(
        host_with("debian-12", engines__seccomp_profile=fact("unconfined")), "x86-64"
    )
    assert free is None and notes == []


def test_engine_ulimits_are_applied_when_this_machine_allows_them(runtime_profile) -> None:  # type: ignore[no-untyped-def]
    """rlimit-nofile-infinity: LimitNOFILE=infinity gives 1073741816, more than a VM may grant."""
    from portwise.runtime.emulate import plan

    image = runtime_profile("debian-trixie")
    huge = plan(
        host_with("debian-12", engines__default_ulimits=fact(["nofile=1073741816:1073741816"])),
        image,
    )
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1073741816:  # this VM: hard limit 20000
        assert huge.rlimits == ()
        assert any("above this machine's hard limit" in n for n in huge.not_emulated)
    else:
        assert huge.rlimits == (("RLIMIT_NOFILE", 1073741816, 1073741816),)
    small = plan(host_with("debian-12", engines__default_ulimits=fact(["nofile=1024:4096"])), image)
    assert small.rlimits == (("RLIMIT_NOFILE", 1024, 4096),)
    assert any(e.startswith("ulimit nofile=1024:4096") for e in small.emulated)
