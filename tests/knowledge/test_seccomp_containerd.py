"""containerd's CRI default seccomp profile: transcribed from Go source, decided like the others.

The generator reads contrib/seccomp/seccomp_default.go at each release tag; these tests check the
transcription on a fabricated function (every construct it understands, and one it must refuse),
the stored data against the clone3 history, and, where a git copy of containerd is on this
machine, the stored names against a plain regex reading of the real source.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from debimage import Unpack

from portwise.knowledge import seccomp
from portwise.knowledge.seccomp import ENOSYS, EPERM, decide, for_engine

REPO = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_seccomp_profiles", REPO / "scripts/gen_seccomp_profiles.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_seccomp_profiles", module)
    spec.loader.exec_module(module)
    return module


def _data() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(seccomp.__file__).with_name("profiles.json").read_text())
    return doc


FAKE_GO = """
package seccomp

func arches() []specs.Arch {
\tswitch runtime.GOARCH {
\tcase "amd64":
\t\treturn []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
\tcase "arm64":
\t\treturn []specs.Arch{specs.ArchARM, specs.ArchAARCH64}
\tdefault:
\t\treturn []specs.Arch{}
\t}
}

// DefaultProfile is fabricated for the test.
func DefaultProfile(sp *specs.Spec) *specs.LinuxSeccomp {
\tnosys := uint(unix.ENOSYS)
\tsyscalls := []specs.LinuxSyscall{
\t\t{
\t\t\tNames: []string{
\t\t\t\t"read",
\t\t\t\t"write", // a comment
\t\t\t},
\t\t\tAction: specs.ActAllow,
\t\t\tArgs:   []specs.LinuxSeccompArg{},
\t\t},
\t\t{
\t\t\tNames:  []string{"socket"},
\t\t\tAction: specs.ActAllow,
\t\t\tArgs: []specs.LinuxSeccompArg{
\t\t\t\t{
\t\t\t\t\tIndex: 0,
\t\t\t\t\tValue: unix.AF_ALG + 1,
\t\t\t\t\tOp:    specs.OpEqualTo,
\t\t\t\t},
\t\t\t},
\t\t},
\t}
\ts := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: syscalls}
\tif ok, err := kernelversion.GreaterEqualThan(
\t\tkernelversion.KernelVersion{Kernel: 4, Major: 8}); err == nil {
\t\tif ok {
\t\t\ts.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
\t\t\t\tNames:  []string{"ptrace"},
\t\t\t\tAction: specs.ActAllow,
\t\t\t})
\t\t}
\t}
\tswitch runtime.GOARCH {
\tcase "amd64":
\t\ts.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
\t\t\tNames:  []string{"arch_prctl"},
\t\t\tAction: specs.ActAllow,
\t\t})
\tcase "386":
\t\ts.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
\t\t\tNames:  []string{"modify_ldt"},
\t\t\tAction: specs.ActAllow,
\t\t})
\t}
\tadmin := false
\tfor _, c := range sp.Process.Capabilities.Bounding {
\t\tswitch c {
\t\tcase "CAP_SYS_ADMIN":
\t\t\tadmin = true
\t\t\ts.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
\t\t\t\tNames:  []string{"mount", "clone3"},
\t\t\t\tAction: specs.ActAllow,
\t\t\t})
\t\t}
\t}
\tif !admin {
\t\tswitch runtime.GOARCH {
\t\tcase "s390", "s390x":
\t\t\ts.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
\t\t\t\tNames:  []string{"clone"},
\t\t\t\tAction: specs.ActAllow,
\t\t\t\tArgs: []specs.LinuxSeccompArg{
\t\t\t\t\t{
\t\t\t\t\t\tIndex:    1,
\t\t\t\t\t\tValue:    unix.CLONE_NEWNS | unix.CLONE_NEWUSER,
\t\t\t\t\t\tValueTwo: 0,
\t\t\t\t\t\tOp:       specs.OpMaskedEqual,
\t\t\t\t\t},
\t\t\t\t},
\t\t\t})
\t\tdefault:
\t\t\ts.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
\t\t\t\tNames:  []string{"clone"},
\t\t\t\tAction: specs.ActAllow,
\t\t\t})
\t\t}
\t\ts.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
\t\t\tNames:    []string{"clone3"},
\t\t\tAction:   specs.ActErrno,
\t\t\tErrnoRet: &nosys,
\t\t})
\t}
\treturn s
}
"""


def test_transcription_of_every_construct() -> None:
    arch_map, rules = _generator().containerd_rules(FAKE_GO)
    assert arch_map == {
        "SCMP_ARCH_X86_64": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "SCMP_ARCH_AARCH64": ["SCMP_ARCH_ARM"],
    }
    assert rules == [
        {"names": ["read", "write"], "action": "allow"},
        {"names": ["socket"], "action": "allow", "args": [[0, "SCMP_CMP_EQ", 39, 0]]},
        {"names": ["ptrace"], "action": "allow", "includes": {"minKernel": "4.8"}},
        {"names": ["arch_prctl"], "action": "allow", "includes": {"arches": ["amd64"]}},
        {"names": ["modify_ldt"], "action": "allow", "includes": {"arches": ["x86"]}},
        {"names": ["mount", "clone3"], "action": "allow", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {
            "names": ["clone"],
            "action": "allow",
            "args": [[1, "SCMP_CMP_MASKED_EQ", 0x10020000, 0]],
            "includes": {"arches": ["s390", "s390x"]},
            "excludes": {"caps": ["CAP_SYS_ADMIN"]},
        },
        {
            "names": ["clone"],
            "action": "allow",
            "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]},
        },
        {
            "names": ["clone3"],
            "action": "errno",
            "errnoRet": ENOSYS,
            "excludes": {"caps": ["CAP_SYS_ADMIN"]},
        },
    ]


def test_transcription_refuses_what_it_does_not_know() -> None:
    gen = _generator()
    with pytest.raises(SystemExit, match="ErrnoRet"):
        gen.containerd_rules(FAKE_GO.replace("ErrnoRet: &nosys", "ErrnoRet: &eperm"))
    with pytest.raises(KeyError):
        gen.containerd_rules(FAKE_GO.replace("specs.OpMaskedEqual", "specs.OpSomethingNew"))
    stray = FAKE_GO.replace("\tadmin := false", '\tadmin := "false"')
    with pytest.raises(SystemExit, match="outside a Names list"):
        gen.containerd_rules(stray)


def test_profiles_are_stored_with_commit_sources() -> None:
    profs = {n: p for n, p in _data()["profiles"].items() if p["engine"] == "containerd"}
    assert {"containerd-1.4.2", "containerd-1.4.10", "containerd-1.7.13"} <= set(profs)
    for name, p in profs.items():
        assert p["source"] == (
            f"https://github.com/containerd/containerd/blob/{p['commit']}/"
            "contrib/seccomp/seccomp_default.go"
        ), name
        assert p["tag"] == f"v{p['version']}" and name == f"containerd-{p['version']}"
    assert (
        _data()["default_caps"]["containerd"]["caps"] == _data()["default_caps"]["docker"]["caps"]
    )


def test_clone3_history_and_version_mapping() -> None:
    # containerd 1.4.2 to 1.4.9 and 1.5.0 to 1.5.5: clone3 unnamed, so EPERM; glibc 2.34+ then
    # fails thread creation instead of falling back to clone. 1.4.10 and 1.5.6 answer ENOSYS.
    assert for_engine("containerd", "1.4.9") == "containerd-1.4.2"
    assert for_engine("containerd", "1.5.5") == "containerd-1.5.0"
    assert for_engine("containerd", "1.6.20") == "containerd-1.6.16"
    assert for_engine("containerd", "1.3.9") is None
    for name in ("containerd-1.4.2", "containerd-1.5.0"):
        d = decide(name, "clone3", "x86-64")
        assert (d.action, d.errno) == ("errno", EPERM), name
        assert d.reason.startswith("not named")
    for name in ("containerd-1.4.10", "containerd-1.5.6", "containerd-1.7.13", "containerd-2.2.4"):
        d = decide(name, "clone3", "x86-64")
        assert (d.action, d.errno) == ("errno", ENOSYS), name
        assert "containerd default capabilities assumed" in d.reason
        assert "/containerd/containerd/blob/" in d.source


def test_io_uring_and_socket_filters_over_releases() -> None:
    assert decide("containerd-1.4.0", "io_uring_setup", "x86-64").errno == EPERM
    assert decide("containerd-1.7.13", "io_uring_setup", "x86-64").action == "allow"
    assert decide("containerd-2.0.0", "io_uring_setup", "x86-64").errno == EPERM
    assert decide("containerd-1.6.0", "socket", "x86-64").reason.startswith("named")
    vsock = decide("containerd-1.7.13", "socket", "x86-64")
    assert vsock.action == "allow" and "arg0 NE 0x28" in vsock.reason  # AF_VSOCK = 40
    assert decide("containerd-1.7.13", "arch_prctl", "aarch64").errno == EPERM
    assert decide("containerd-1.7.13", "arch_prctl", "x86-64").action == "allow"


DEBIAN_SOURCE = (
    "usr/share/gocode/src/github.com/containerd/containerd/contrib/seccomp/seccomp_default.go"
)


def test_first_list_matches_a_real_release_source(debian_package: Unpack) -> None:
    """A plain regex over a real release's file (Debian 12's containerd 1.6.20 source package,
    golang-github-containerd-containerd-dev): the first Names list is the data's list for the
    newest release at or below 1.6.20, all allowed on x86-64. (The generator read every tag
    from a git copy of containerd; this checks one release on any machine, with no skip.)"""
    text = (debian_package("golang-github-containerd-containerd-dev") / DEBIAN_SOURCE).read_text()
    name = for_engine("containerd", "1.6.20")
    assert name is not None
    first = re.search(r"Names: \[\]string\{(.*?)\n\t\t\t\}", text, re.S)
    assert first is not None
    names = re.findall(r'"(\w+)"', first.group(1))
    assert len(names) > 300
    assert _data()["profiles"][name]["rules"][0]["names"] == names
    for call in names:
        assert decide(name, call, "x86-64").action == "allow", call
    total = len(re.findall(r'^\s*"\w+",', text, re.M))  # one name per line in the long lists
    assert total <= sum(len(r["names"]) for r in _data()["profiles"][name]["rules"])


def test_unnamed_call_is_not_called_named_when_libseccomp_lacks_it() -> None:
    # mseal: not in containerd 1.7.13's profile, and unknown to libseccomp 2.5.5
    d = decide("containerd-1.7.13", "mseal", "x86-64", libseccomp="2.5.5")
    assert d.reason.startswith("not named") and "named but skipped" not in d.reason
    named = decide("containerd-2.2.4", "mseal", "x86-64", libseccomp="2.5.5")
    assert "named but skipped" in named.reason
