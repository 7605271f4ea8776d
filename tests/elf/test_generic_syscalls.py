"""Every path to the kernel a dynamic binary or shared library takes by itself: libc's
syscall() through the PLT and straight through the GOT (-fno-plt), a wrapper around it, a raw
instruction in inline assembly, and a wrapper looked up with dlsym. The programs are compiled
here with Debian's gcc, aarch64 cross gcc and musl-gcc; strace confirms what they really issue.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from portwise.elf.facts import elf_facts
from portwise.elf.parse import parse_elf
from portwise.elf.syscalls import SyscallScan, scan_syscalls

PROGRAM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noipa)) static long thunk(long number, long arg) {
    return syscall(number, arg);
}

__attribute__((noinline)) long raw_getppid(void) {
    long result;
#if defined(__x86_64__)
    __asm__ volatile("syscall" : "=a"(result) : "a"(SYS_getppid) : "rcx", "r11", "memory");
#else
    register long x8 __asm__("x8") = SYS_getppid;
    register long x0 __asm__("x0");
    __asm__ volatile("svc #0" : "=r"(x0) : "r"(x8) : "memory");
    result = x0;
#endif
    return result;
}

int main(int argc, char **argv) {
    long tid = syscall(SYS_gettid);
    long pidfd = syscall(SYS_pidfd_open, getpid(), 0);
    long closed = thunk(SYS_close_range, 1000);
    long computed = syscall(argc + 400, 0); /* no constant: must be counted unresolved */
    void *lookup = dlsym(RTLD_DEFAULT, "statx");
    printf("%ld %ld %ld %ld %d %ld\n", tid, pidfd, closed, computed, lookup != 0, raw_getppid());
    return 0;
}
"""

BUILDS = {
    "plt": ["gcc", "-O2"],
    "noplt": ["gcc", "-O2", "-fno-plt"],
    "shared": ["gcc", "-O2", "-fPIC", "-shared"],
    "shared-noplt": ["gcc", "-O2", "-fPIC", "-shared", "-fno-plt"],
    "arm64": ["aarch64-linux-gnu-gcc", "-O2"],
    "arm64-noplt": ["aarch64-linux-gnu-gcc", "-O2", "-fno-plt"],
    "musl": ["musl-gcc", "-O2"],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("generic")
    source = work / "prog.c"
    source.write_text(PROGRAM)
    out: dict[str, Path] = {}
    for name, command in BUILDS.items():
        if shutil.which(command[0]) is None:
            pytest.fail(f"{command[0]} is missing: scripts/setup.sh installs it")
        target = work / name
        subprocess.run([*command, "-o", str(target), str(source)], check=True)
        out[name] = target
    return out


def scan(path: Path, fast: bool = True) -> SyscallScan:
    data = path.read_bytes()
    result = scan_syscalls(parse_elf(data), data, fast=fast)
    assert result is not None
    return result


@pytest.mark.parametrize("name", list(BUILDS))
def test_every_path_is_resolved_or_counted(built: dict[str, Path], name: str) -> None:
    result = scan(built[name])
    assert {"gettid", "pidfd_open", "getppid"} <= set(result.resolved), result.problems
    assert result.paths["gettid"] == ("syscall()",)
    assert result.paths["pidfd_open"] == ("syscall()",)
    assert result.paths["getppid"] == ("direct",)
    assert any(e.endswith("syscall()") for e in result.evidence["gettid"])
    # argc + 400 is computed: one unresolved syscall() point, never dropped
    assert result.unresolved_paths.get("syscall()", 0) >= 1
    assert any("syscall()" in p and "unresolved" in p for p in result.problems)


@pytest.mark.parametrize("name", ["plt", "noplt", "arm64", "arm64-noplt", "musl"])
def test_a_wrapper_around_syscall_is_resolved_at_its_callers(
    built: dict[str, Path], name: str
) -> None:
    """noipa keeps gcc from folding the constant into the thunk (it would otherwise make a
    constprop clone that tail-calls syscall(): resolved too, as a plain syscall() call)."""
    result = scan(built[name])
    assert "close_range" in result.resolved, result.problems
    assert any("through thunk" in e for e in result.evidence["close_range"])


def test_a_wrapper_inside_a_library_is_resolved_at_its_callers(built: dict[str, Path]) -> None:
    """In a -fPIC library too: the static thunk is called directly with the constant."""
    for name in ("shared", "shared-noplt"):
        result = scan(built[name])
        assert "close_range" in result.resolved, (name, result.problems)
        assert any("through thunk" in e for e in result.evidence["close_range"])


@pytest.mark.parametrize("name", list(BUILDS))
def test_fast_mode_gives_the_full_answer(built: dict[str, Path], name: str) -> None:
    fast, full = scan(built[name]), scan(built[name], fast=False)
    assert (fast.resolved, fast.unresolved, fast.paths) == (
        full.resolved,
        full.unresolved,
        full.paths,
    )


@pytest.mark.parametrize("name", ["plt", "shared", "arm64", "musl"])
def test_dlsym_lookup_of_a_wrapper_is_a_possible_use(built: dict[str, Path], name: str) -> None:
    data = built[name].read_bytes()
    facts = elf_facts(parse_elf(data), data)
    assert facts["dlsym"] == ["statx"]
    assert facts["direct_syscalls"]["paths"]["gettid"] == ["syscall()"]


def test_glibc_itself_is_left_to_the_libc_model() -> None:
    """libc.so.6 holds every call any of its functions makes: the libc model maps imports."""
    libc = Path("/lib/x86_64-linux-gnu/libc.so.6").resolve()
    data = libc.read_bytes()
    assert elf_facts(parse_elf(data), data)["direct_syscalls"] is None


def test_strace_sees_nothing_the_scan_missed(built: dict[str, Path], tmp_path: Path) -> None:
    """The calls this program issues by itself, as strace saw them, are all in the scan."""
    log = tmp_path / "trace"
    wanted = "gettid,pidfd_open,close_range,getppid"
    subprocess.run(
        ["strace", "-f", "-qq", "-e", f"trace={wanted}", "-o", str(log), str(built["plt"])],
        check=True,
        capture_output=True,
    )
    seen = {
        line.split("(", 1)[0].split()[-1] for line in log.read_text().splitlines() if "(" in line
    }
    # strace also shows the computed call (argc + 400 = 401), which the scan counts unresolved
    assert seen == {*wanted.split(","), "syscall_0x191"}
    result = scan(built["plt"])
    assert seen - {"syscall_0x191"} <= set(result.resolved)
    assert result.unresolved_paths["syscall()"] == 1
