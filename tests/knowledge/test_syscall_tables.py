"""The syscall tables: validation on load, and cross-checks against independent sources on this
machine: the system's libseccomp (Debian's python3-seccomp, run with the system Python) and the
Linux uapi headers (linux-libc-dev, linux-libc-dev-arm64-cross)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from portwise.knowledge import syscalls
from portwise.knowledge.syscalls import ARCHES, SyscallTableError, _validate

SECCOMP_ARCH = {"x86-64": "X86_64", "aarch64": "AARCH64", "i386": "X86", "arm": "ARM",
                "ppc64le": "PPC64LE", "s390x": "S390X", "riscv64": "RISCV64"}  # fmt: skip


def _doc() -> dict[str, Any]:
    text = files("portwise.knowledge.syscalls").joinpath("tables.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


def test_every_architecture_loads_with_its_source() -> None:
    doc = _doc()
    assert doc["generated_by"] == "scripts/gen_syscall_tables.py"
    assert (Path(__file__).resolve().parents[2] / doc["generated_by"]).exists()
    assert re.fullmatch(r"[0-9a-f]{40}", doc["source"]["numbers"]["commit"])
    assert "libseccomp" in doc["source"]["numbers"]["url"]
    for arch in ARCHES:
        assert len(syscalls.table(arch)) > 300
    assert syscalls.source()["numbers"]["version"].startswith("v2.6")


def test_well_known_numbers_and_versions() -> None:
    assert syscalls.number("x86-64", "read") == 0
    assert syscalls.number("aarch64", "read") == 63
    assert syscalls.number("x86-64", "clone3") == syscalls.number("aarch64", "clone3") == 435
    assert syscalls.number("aarch64", "open") is None  # arm64 has openat only
    assert syscalls.table("x86-64")[332] == "statx"
    assert syscalls.name_of("aarch64", 291) == "statx"
    # versions from syscalls(2) and the Systrack tables (docker's seccomp history agrees)
    assert syscalls.introduced("statx", "x86-64") == "4.11"
    assert syscalls.introduced("clone3", "x86-64") == "5.3"
    assert syscalls.introduced("openat2", "aarch64") == "5.6"
    assert syscalls.introduced("faccessat2", "x86-64") == "5.8"
    assert syscalls.introduced("close_range", "x86-64") == "5.9"
    assert syscalls.introduced("fchmodat2", "x86-64") == "6.6"
    assert syscalls.introduced("read", "aarch64") == "3.7"  # no older than the arm64 port
    assert syscalls.introduced("no_such_call", "x86-64") is None
    with pytest.raises(KeyError):
        syscalls.table("mips")


def test_shared_new_numbers_are_from_linux_5_1_on() -> None:
    """Since Linux 5.1 every architecture takes new calls from one shared range, from 424."""
    for arch in ("x86-64", "aarch64", "riscv64", "s390x"):
        for nr, name in syscalls.table(arch).items():
            version = syscalls.introduced(name, arch)
            if 424 <= nr < 1000 and version is not None:
                assert tuple(map(int, version.split("."))) >= (5, 1), (arch, name, version)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["arches"]["x86-64"]["syscalls"]["write"].update(nr=0), "share"),
        (lambda d: d["arches"]["x86-64"]["syscalls"].update({"Bad-Name": {"nr": 9999}}), "name"),
        (lambda d: d["arches"]["aarch64"]["syscalls"]["read"].update(since="new"), "version"),
        (lambda d: d["arches"].pop("arm"), "architectures"),
        (lambda d: d.pop("source"), "source"),
    ],
)
def test_bad_data_is_rejected(change: Any, message: str) -> None:
    doc = copy.deepcopy(_doc())
    change(doc)
    with pytest.raises(SyscallTableError, match=message):
        _validate(doc)


SYSTEM_PYTHON = "/usr/bin/python3"


def _libseccomp_numbers(arch: str, names: list[str]) -> dict[str, int]:
    script = (
        "import json, sys, seccomp\n"
        "arch = getattr(seccomp.Arch, sys.argv[1])\n"
        "out = {}\n"
        "for name in json.load(sys.stdin):\n"
        "    try:\n"
        "        nr = seccomp.resolve_syscall(arch, name)\n"
        "    except Exception:\n"
        "        continue\n"
        "    if nr >= 0:\n"
        "        out[name] = nr\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [SYSTEM_PYTHON, "-c", script, SECCOMP_ARCH[arch]],
        input=json.dumps(names),
        capture_output=True,
        text=True,
        check=True,
    )
    numbers: dict[str, int] = json.loads(result.stdout)
    return numbers


def _has_seccomp() -> bool:
    return (
        shutil.which(SYSTEM_PYTHON) is not None
        and subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], check=False).returncode == 0
    )


@pytest.mark.skipif(not _has_seccomp(), reason="Debian's python3-seccomp is not installed")
@pytest.mark.parametrize("arch", ARCHES)
def test_numbers_agree_with_the_system_libseccomp(arch: str) -> None:
    ours = {name: nr for nr, name in syscalls.table(arch).items()}
    theirs = _libseccomp_numbers(arch, sorted(ours))
    assert len(theirs) > 0.8 * len(ours)  # the system's 2.5.x does not know the newest calls
    # where socket and SysV IPC calls are multiplexed, libseccomp resolves a name to the
    # multiplexer's number (socketcall, ipc) rather than to the direct call
    multiplexers = {ours.get("socketcall"), ours.get("ipc")} - {None}
    theirs = {n: nr for n, nr in theirs.items() if nr not in multiplexers or n in multiplexers}
    assert {n: ours[n] for n in theirs} == theirs


def _uapi(path: Path) -> dict[str, int]:
    text = path.read_text()
    out: dict[str, int] = {}
    defines = dict(re.findall(r"#define (__NR3264_\w+)\s+(\d+)", text))
    for name, value in re.findall(r"#define __NR_(\w+)\s+(\w+)", text):
        value = defines.get(value, value)
        if value.isdigit():
            out[name] = int(value)
    return out


@pytest.mark.parametrize(
    ("arch", "header"),
    [
        ("x86-64", "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
        ("i386", "/usr/include/x86_64-linux-gnu/asm/unistd_32.h"),
        ("aarch64", "/usr/aarch64-linux-gnu/include/asm-generic/unistd.h"),
    ],
)
def test_numbers_agree_with_the_uapi_headers(arch: str, header: str) -> None:
    if not Path(header).exists():
        pytest.skip(f"{header} is not installed")
    headers = _uapi(Path(header))
    ours = {name: nr for nr, name in syscalls.table(arch).items()}
    common = set(headers) & set(ours)
    assert len(common) > 250
    assert {n: ours[n] for n in common} == {n: headers[n] for n in common}
