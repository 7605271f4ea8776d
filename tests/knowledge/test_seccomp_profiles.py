"""The engines' default seccomp profiles as data: real released profiles, the README table of
/work/shared/knowledge as the expectation, and the raw JSON files as an independent oracle."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from portwise.knowledge import seccomp
from portwise.knowledge.seccomp import ENOSYS, EPERM, decide

RAW = Path("/work/shared/knowledge/seccomp-profiles")
needs_raw = pytest.mark.skipif(not RAW.is_dir(), reason="raw profiles not on this machine")


def test_every_profile_loads_with_a_source_at_a_commit() -> None:
    names = seccomp.profiles()
    from_json = [n for n in names if not n.startswith("containerd-")]
    assert len(from_json) == 21
    assert "docker-17.03.0" in names and "podman-common-0.64.1" in names
    assert re.fullmatch(r"1\+[0-9a-f]{12}\+[0-9a-f]{12}", seccomp.data_version())
    for name in names:
        d = decide(name, "read", "x86-64")
        assert d.action == "allow", name
        assert re.fullmatch(
            r"https://github\.com/[\w-]+/[\w-]+/blob/[0-9a-f]{12,40}/\S+\.(json|go)", d.source
        )


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"docker-20\.10\.9.*podman-common-0\.64\.1"):
        decide("docker-1.12", "read", "x86-64")
    with pytest.raises(ValueError, match="x86-64"):
        decide("docker-20.10.9", "read", "sparc")


def test_clone3_eperm_until_20_10_9_then_enosys() -> None:
    old = decide("docker-20.10.9", "clone3", "x86-64")
    assert (old.action, old.errno) == ("errno", EPERM)
    assert old.reason.startswith("not named")
    for name in ("docker-20.10.10", "docker-20.10.18", "docker-24.0.0", "docker-29.7.2"):
        new = decide(name, "clone3", "x86-64")
        assert (new.action, new.errno) == ("errno", ENOSYS), name
        assert "default capabilities assumed" in new.reason
    # faccessat2 (439) is named in 20.10.x, so even runc's stub leaves clone3 (435) at EPERM
    assert decide("docker-20.10.9", "clone3", "x86-64", enosys_stub=True).errno == EPERM


def test_statx_from_18_04_and_the_libseccomp_effect() -> None:
    assert decide("docker-17.12.0", "statx", "x86-64").errno == EPERM
    assert decide("docker-18.09.0", "statx", "x86-64").action == "allow"
    old_lib = decide("docker-18.09.0", "statx", "x86-64", libseccomp="2.3.1")
    assert (old_lib.action, old_lib.errno) == ("errno", EPERM)
    assert "unknown to libseccomp 2.3.1" in old_lib.reason and "2.3.3" in old_lib.reason
    assert decide("docker-18.09.0", "statx", "x86-64", libseccomp="2.3.3").action == "allow"
    # Debian-style version strings
    assert decide("docker-18.09.0", "statx", "x86-64", libseccomp="2.5.4-1+b3").action == "allow"


def test_faccessat2_not_named_before_20_10_0() -> None:
    for name in ("docker-17.03.0", "docker-19.03.15"):
        d = decide(name, "faccessat2", "x86-64")
        assert (d.action, d.errno) == ("errno", EPERM), name
        assert "defaultAction SCMP_ACT_ERRNO (errnoRet 1)" in d.reason
        assert "would answer ENOSYS" in d.reason  # enosys_stub unknown: says what it changes
        stub = decide(name, "faccessat2", "x86-64", enosys_stub=True)
        assert (stub.errno, "runc answers ENOSYS" in stub.reason) == (ENOSYS, True)
    assert decide("docker-20.10.0", "faccessat2", "x86-64").action == "allow"
    assert decide("docker-20.10.0", "faccessat2", "aarch64").action == "allow"


def test_unknown_name_falls_to_default_then_to_the_stub() -> None:
    # libseccomp 2.4.3 cannot name faccessat2: runc's stub then covers it (439 > 435 known)
    d = decide("docker-20.10.0", "faccessat2", "x86-64", libseccomp="2.4.3", enosys_stub=True)
    assert (d.errno, "unknown to libseccomp 2.4.3" in d.reason) == (ENOSYS, True)
    assert (
        decide(
            "docker-20.10.0", "faccessat2", "x86-64", libseccomp="2.4.3", enosys_stub=False
        ).errno
        == EPERM
    )


def test_syscall_numbers_override_the_tables() -> None:
    d = decide(
        "docker-19.03.15",
        "faccessat2",
        "x86-64",
        enosys_stub=True,
        syscall_numbers={"faccessat2": 5},
    )
    assert d.errno == EPERM  # below the highest named number: no stub


def test_podman_allows_clone3_and_faccessat2_and_defaults_to_enosys() -> None:
    for call in ("clone3", "faccessat2"):
        assert decide("podman-common-0.64.1", call, "x86-64").action == "allow"
    d = decide("podman-common-0.64.1", "no_such_call_yet", "x86-64")
    assert (d.action, d.errno) == ("errno", ENOSYS)
    bpf = decide("podman-common-0.64.1", "bpf", "x86-64")
    assert (bpf.errno, "podman-common default capabilities assumed" in bpf.reason) == (EPERM, True)


def test_25_0_drops_io_uring() -> None:
    for call in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        assert decide("docker-24.0.0", call, "x86-64").action == "allow"
        assert decide("docker-25.0.0", call, "x86-64").errno == EPERM
    assert decide("docker-25.0.0", "fchmodat2", "x86-64").errno == EPERM
    assert decide("docker-25.0.3", "fchmodat2", "x86-64").action == "allow"
    assert decide("docker-25.0.3", "fchmodat2", "x86-64", libseccomp="2.5.4").errno == EPERM


def test_argument_filters_and_arch_includes() -> None:
    pers = decide("docker-29.7.2", "personality", "x86-64")
    assert pers.action == "allow" and pers.reason.startswith("conditional")
    assert "uncertain" in pers.reason
    assert decide("docker-29.7.2", "arch_prctl", "x86-64").action == "allow"
    assert decide("docker-29.7.2", "arch_prctl", "aarch64").errno == EPERM  # amd64/x32 only
    assert decide("docker-29.7.2", "ptrace", "x86-64", kernel="4.4").errno == EPERM
    assert decide("docker-29.7.2", "ptrace", "x86-64", kernel="5.10").action == "allow"


def _raw_allows(doc: dict[str, Any], call: str, native: str, caps: set[str]) -> bool:
    """Independent reading of a raw profile: does an unconditional applicable rule allow call?"""
    for rule in doc["syscalls"]:
        inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
        if call not in (rule.get("names") or []) or rule.get("args"):
            continue
        if inc.get("arches") and native not in inc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= caps:
            continue
        if exc.get("caps") and caps & set(exc["caps"]):
            continue
        if exc.get("arches") and native in exc["arches"]:
            continue
        return bool(rule["action"] == "SCMP_ACT_ALLOW")
    return False


@needs_raw
@pytest.mark.parametrize(
    "name", ["docker-17.03.0", "docker-20.10.18", "docker-29.7.2", "podman-common-0.60.4"]
)
def test_decisions_match_the_raw_profile(name: str) -> None:
    doc = json.loads((RAW / f"{name}.json").read_text())
    caps = set(
        json.loads(Path(seccomp.__file__).with_name("profiles.json").read_text())["default_caps"][
            name.rpartition("-")[0]
        ]["caps"]
    )
    named = {n for r in doc["syscalls"] for n in r.get("names") or []}
    conditional = {n for r in doc["syscalls"] if r.get("args") for n in r["names"]}
    default_errno = doc.get("defaultErrnoRet", EPERM)
    for call in [*sorted(named - conditional), "statx", "clone3", "faccessat2", "fchmodat2"]:
        d = decide(name, call, "x86-64", enosys_stub=False)
        if _raw_allows(doc, call, "amd64", caps):
            assert d.action == "allow", call
        elif call not in named:
            assert (d.action, d.errno) == ("errno", default_errno), call
        else:
            assert d.action == "errno", call


def test_libseccomp_table_cites_tags_and_changelog() -> None:
    doc = json.loads(Path(seccomp.__file__).with_name("profiles.json").read_text())
    lib = doc["libseccomp"]
    assert re.fullmatch(r"[0-9a-f]{40}", lib["source"]["tags"]["2.3.3"])
    assert "CHANGELOG" in lib["source"]["changelog"]
    first = lib["first_known"]
    # each against libseccomp's CHANGELOG: 2.3.3 "syscall table for Linux v4.15-rc7" (statx,
    # 4.11); 2.4.4 "Add aarch64 support for clone3"; 2.5.5 "Linux v6.7-rc3" (fchmodat2, 6.6)
    assert first["statx"]["x86-64"] == "2.3.3"
    assert (first["clone3"]["x86-64"], first["clone3"]["aarch64"]) == ("2.4.2", "2.4.4")
    assert first["faccessat2"]["x86-64"] == "2.4.4"
    assert first["close_range"]["x86-64"] == "2.5.2"
    assert first["fchmodat2"]["x86-64"] == "2.5.5"
