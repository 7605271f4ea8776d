"""Direct-syscall scan on real binaries: musl, glibc and Go (x86-64 and aarch64), busybox and
esbuild's release binaries. Soundness is checked against strace: every call a binary was seen
making must be in the statically found set. Fixtures: tests/fixtures/binaries/build_binaries.py.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portwise.elf.parse import ElfError, parse_elf
from portwise.elf.syscalls import SyscallScan, scan_syscalls
from portwise.knowledge.syscalls import table

ALL = [
    "musl-static",
    "musl-static-stripped",
    "glibc-static",
    "glibc-static-aarch64",
    "go-amd64",
    "go-amd64-stripped",
    "go-arm64",
    "busybox",
    "esbuild-amd64",
    "esbuild-amd64-old",
    "esbuild-arm64",
]
GO_WRAPPERS = {"syscall.Syscall", "syscall.Syscall6", "syscall.RawSyscall"}
IGNORED = {"restart_syscall"}  # issued by the kernel when a signal interrupts a sleeping call


def load(binaries: dict[str, dict[str, str]], name: str) -> tuple[bytes, SyscallScan]:
    data = Path(binaries[name]["path"]).read_bytes()
    scan = scan_syscalls(parse_elf(data), data)
    assert scan is not None
    return data, scan


# ------------------------------------------------------------------ resolution


@pytest.mark.parametrize("name", ALL)
def test_fast_mode_gives_the_full_answer(binaries: dict[str, dict[str, str]], name: str) -> None:
    data = Path(binaries[name]["path"]).read_bytes()
    elf = parse_elf(data)
    fast = scan_syscalls(elf, data, fast=True)
    full = scan_syscalls(elf, data, fast=False)
    assert fast is not None and full is not None
    assert (fast.mode, full.mode) == ("fast", "full")
    assert replace(fast, mode="full") == full


@pytest.mark.parametrize("name", ALL)
def test_resolves_nearly_every_site(binaries: dict[str, dict[str, str]], name: str) -> None:
    _, scan = load(binaries, name)
    assert scan.arch == binaries[name]["arch"]
    assert scan.sites >= 30
    points = sum(scan.resolved.values())
    assert scan.unresolved <= max(5, points // 20), scan.problems
    assert {"read", "write", "exit_group", "mmap"} <= set(scan.resolved)
    if binaries[name]["kind"] == "go":
        assert set(scan.wrappers) >= GO_WRAPPERS
        assert {"epoll_pwait", "futex", "clone", "sched_yield"} <= set(scan.resolved)


def test_musl_cancellation_wrapper_is_followed(binaries: dict[str, dict[str, str]]) -> None:
    _, scan = load(binaries, "musl-static")
    # __syscall_cp (an alias of __syscall_cp_c) takes the number as its first argument
    assert "__syscall_cp" in scan.wrappers
    assert {"open", "read", "write", "close", "wait4"} <= set(scan.resolved)
    assert scan.unresolved == 0, scan.problems


def test_stripped_binaries_give_the_same_answer(binaries: dict[str, dict[str, str]]) -> None:
    # .gopclntab survives stripping: identical boundaries, identical answer
    _, go = load(binaries, "go-amd64")
    _, go_stripped = load(binaries, "go-amd64-stripped")
    assert go_stripped == go
    # without .symtab, boundaries come from .eh_frame and call targets
    _, musl = load(binaries, "musl-static")
    _, musl_stripped = load(binaries, "musl-static-stripped")
    assert musl_stripped.resolved == musl.resolved
    assert musl_stripped.unresolved == musl.unresolved


def test_go_arm64_and_amd64_agree(binaries: dict[str, dict[str, str]]) -> None:
    """The same Go program on both architectures needs nearly the same calls (arm64 has no
    open/epoll_wait-style legacy calls, so compare on the calls both tables know)."""
    _, amd64 = load(binaries, "go-amd64")
    _, arm64 = load(binaries, "go-arm64")
    common = set(amd64.resolved) & set(arm64.resolved)
    assert len(common) >= 0.85 * len(arm64.resolved)


def test_unsupported_architecture_gives_none(binaries: dict[str, dict[str, str]]) -> None:
    data = bytearray(Path(binaries["musl-static"]["path"]).read_bytes())
    struct.pack_into("<H", data, 18, 243)  # e_machine = RISC-V
    elf = parse_elf(bytes(data))
    assert elf.machine == "riscv64"
    assert scan_syscalls(elf, bytes(data)) is None


# ------------------------------------------------------------------ soundness under strace


def _strace(argv: list[str], cwd: Path, binary: str, stdin: bytes = b"") -> set[str]:
    """Syscall names that processes running `binary` made (strace -f)."""
    log = cwd / "strace.log"
    subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=all", "-o", str(log), *argv],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=300,
        check=False,
    )
    return parse_strace(log.read_text(), binary)


def parse_strace(text: str, binary: str) -> set[str]:
    """Names per line; lines of a process that exec'd another program are left out, and so is
    the first execve (strace's child, not yet the binary)."""
    real = os.path.realpath(binary)
    foreign: set[str] = set()
    pending: dict[str, str] = {}
    seen: set[str] = set()
    root: str | None = None
    first_exec = True
    for line in text.splitlines():
        match = re.match(r"(\d+)\s+(.*)", line)
        if not match:
            continue
        pid, rest = match.groups()
        root = root or pid
        resumed = re.match(r"<\.\.\. (\w+) resumed>", rest)
        started = re.match(r"(\w+)\(", rest)
        name = resumed.group(1) if resumed else started.group(1) if started else None
        if name is None:
            continue
        if started and name == "execve":
            path = re.match(r'execve\("([^"]*)"', rest)
            pending[pid] = path.group(1) if path else ""
        launcher = first_exec and pid == root and name == "execve"
        if started and pid not in foreign and name not in IGNORED and not launcher:
            seen.add(name)
        result = re.search(r"\)\s+=\s+(-?\d+)", rest)
        if result is None:
            continue
        value = int(result.group(1))
        if name == "execve" and value == 0:
            if pid == root and first_exec:
                first_exec = False
            elif os.path.realpath(pending.get(pid, "")) != real:
                foreign.add(pid)
        if name in ("clone", "clone3", "fork", "vfork") and value > 0 and pid in foreign:
            foreign.add(str(value))
    return seen


def _workloads(name: str, binary: str, tmp: Path) -> list[tuple[list[str], bytes]]:
    data = tmp / "data"
    data.mkdir()
    text = data / "words.txt"
    text.write_text("pear\napple\nfig\n" * 50)
    if name.startswith("esbuild"):
        (tmp / "lib.js").write_text("export const answer = 40 + 2;\n")
        (tmp / "in.js").write_text("import {answer} from './lib.js';\nconsole.log(answer);\n")
        return [
            ([binary, "in.js", "--bundle", "--outfile=out.js"], b""),
            ([binary, "in.js", "--bundle", "--minify", "--sourcemap", "--outdir=dist"], b""),
            ([binary, "--loader=ts"], b"let x: number = 1; export default x\n"),
            ([binary, "--version"], b""),
        ]
    if name == "busybox":
        tar = str(tmp / "x.tar")
        return [
            ([binary, "ls", "-la", str(data)], b""),
            ([binary, "sh", "-c", f"{binary} echo hi | {binary} cat; {binary} sort {text}"], b""),
            ([binary, "tar", "cf", tar, "-C", str(tmp), "data"], b""),
            ([binary, "tar", "tf", tar], b""),
            ([binary, "cp", "-r", str(data), str(tmp / "copy")], b""),
            ([binary, "find", str(tmp)], b""),
            ([binary, "gzip", "-k", str(text)], b""),
            ([binary, "sha256sum", str(text)], b""),
            ([binary, "stat", str(text)], b""),
            ([binary, "date"], b""),
            ([binary, "ps"], b""),
        ]
    return [([binary, str(data)], b"")]


SOUNDNESS = [
    "musl-static",
    "musl-static-stripped",
    "glibc-static",
    "go-amd64",
    "go-amd64-stripped",
    "busybox",
    "esbuild-amd64",
    "esbuild-amd64-old",
]


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("name", SOUNDNESS)
def test_every_observed_syscall_was_found(
    binaries: dict[str, dict[str, str]], name: str, tmp_path: Path
) -> None:
    binary = binaries[name]["path"]
    _, scan = load(binaries, name)
    observed: set[str] = set()
    for argv, stdin in _workloads(name, binary, tmp_path):
        observed |= _strace(argv, tmp_path, binary, stdin)
    assert len(observed) >= 10, "strace saw almost nothing: is ptrace allowed here?"
    found = set(scan.resolved)
    assert observed - found == set(), f"observed but not found: {sorted(observed - found)}"
    precision = len(found & observed) / len(found)
    print(
        f"\n{name}: found {len(found)}, observed {len(observed)}, "
        f"precision {precision:.2f} ({len(found - observed)} found but never observed)"
    )


QEMU = "qemu-aarch64-static"


def _qemu_strace(argv: list[str], cwd: Path) -> set[str]:
    """Syscall names an aarch64 binary made under qemu-user's own -strace (exec'd children run
    without it and are not seen)."""
    result = subprocess.run(
        [QEMU, "-strace", *argv], cwd=cwd, capture_output=True, timeout=600, check=False
    )
    names = table("aarch64")
    known = set(names.values())
    seen: set[str] = set()
    for line in result.stderr.decode("utf-8", "replace").splitlines():
        # threads' lines can interleave ("0x...rt_sigaction("): only whole, known names count
        match = re.match(r"\d+ (?:Unknown syscall (\d+)|([a-z_][a-z0-9_]*)\()", line)
        if match:
            name = names.get(int(match.group(1)), "?") if match.group(1) else match.group(2)
            if name in known:
                seen.add(name)
    # arm64 programs (glibc, Go) set no SA_RESTORER: the kernel's vDSO trampoline, not the
    # binary, issues rt_sigreturn after a signal handler
    return seen - IGNORED - {"rt_sigreturn"}


@pytest.mark.skipif(shutil.which(QEMU) is None, reason="qemu-user-static is not installed")
@pytest.mark.parametrize("name", ["glibc-static-aarch64", "go-arm64", "esbuild-arm64"])
def test_aarch64_syscalls_seen_under_qemu_were_found(
    binaries: dict[str, dict[str, str]], name: str, tmp_path: Path
) -> None:
    binary = binaries[name]["path"]
    _, scan = load(binaries, name)
    observed: set[str] = set()
    for argv, _stdin in _workloads(name, binary, tmp_path):
        if argv[1:2] != ["--loader=ts"]:  # qemu's -strace run gets no stdin here
            observed |= _qemu_strace(argv, tmp_path)
    assert len(observed) >= 10
    found = set(scan.resolved)
    assert observed - found == set(), f"observed but not found: {sorted(observed - found)}"
    precision = len(found & observed) / len(found)
    print(
        f"\n{name} (qemu): found {len(found)}, observed {len(observed)}, precision {precision:.2f}"
    )


# ------------------------------------------------------------------ malformed input


def _section(data: bytes, name: str) -> tuple[int, int]:
    elf = parse_elf(data)
    section = elf.section(name)
    assert section is not None
    return section.offset, section.size


def _scan_or_elf_error(data: bytes) -> None:
    try:
        elf = parse_elf(data)
    except ElfError:
        return
    for fast in (True, False):
        scan = scan_syscalls(elf, data, fast=fast)
        assert scan is None or isinstance(scan, SyscallScan)


HYPO = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@HYPO
@given(st.data())
def test_random_bytes_in_text(binaries: dict[str, dict[str, str]], draw: st.DataObject) -> None:
    name = draw.draw(
        st.sampled_from(["musl-static", "musl-static-stripped", "glibc-static-aarch64"])
    )
    data = bytearray(Path(binaries[name]["path"]).read_bytes())
    offset, size = _section(bytes(data), ".text")
    for _ in range(draw.draw(st.integers(1, 20))):
        at = offset + draw.draw(st.integers(0, size - 64))
        chunk = draw.draw(st.binary(min_size=1, max_size=64))
        data[at : at + len(chunk)] = chunk
    elf = parse_elf(bytes(data))
    fast = scan_syscalls(elf, bytes(data), fast=True)
    full = scan_syscalls(elf, bytes(data), fast=False)
    assert fast is not None and full is not None
    assert replace(fast, mode="full") == full


@HYPO
@given(st.data())
def test_truncated_files(binaries: dict[str, dict[str, str]], draw: st.DataObject) -> None:
    name = draw.draw(st.sampled_from(["musl-static", "go-amd64-stripped", "glibc-static-aarch64"]))
    data = Path(binaries[name]["path"]).read_bytes()
    _scan_or_elf_error(data[: draw.draw(st.integers(0, len(data)))])


@HYPO
@given(words=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=8), at=st.integers(0, 7))
def test_absurd_pclntab_header(
    binaries: dict[str, dict[str, str]], words: list[int], at: int
) -> None:
    data = bytearray(Path(binaries["go-amd64-stripped"]["path"]).read_bytes())
    offset, _ = _section(bytes(data), ".gopclntab")
    for index, word in enumerate(words):
        slot = offset + 8 + 8 * ((at + index) % 8)
        struct.pack_into("<Q", data, slot, word)
    elf = parse_elf(bytes(data))
    scan = scan_syscalls(elf, bytes(data))
    assert scan is not None
    if any(w > 1 << 40 for w in words):
        assert any("pclntab" in p for p in scan.problems) or scan.sites >= 0


@HYPO
@given(st.data())
def test_symbol_tables_pointing_outside_the_file(
    binaries: dict[str, dict[str, str]], draw: st.DataObject
) -> None:
    data = bytearray(Path(binaries["musl-static"]["path"]).read_bytes())
    elf = parse_elf(bytes(data))
    shoff = struct.unpack_from("<Q", data, 40)[0]
    target = draw.draw(st.sampled_from([".symtab", ".strtab", ".eh_frame", ".text"]))
    index = next(i for i, s in enumerate(elf.sections) if s.name == target)
    header = shoff + 64 * index
    struct.pack_into("<Q", data, header + 24, draw.draw(st.integers(0, 2**64 - 1)))  # sh_offset
    struct.pack_into("<Q", data, header + 32, draw.draw(st.integers(0, 2**64 - 1)))  # sh_size
    _scan_or_elf_error(bytes(data))


@HYPO
@given(noise=st.binary(min_size=16, max_size=512), at=st.integers(0, 4096))
def test_garbage_eh_frame(binaries: dict[str, dict[str, str]], noise: bytes, at: int) -> None:
    data = bytearray(Path(binaries["musl-static-stripped"]["path"]).read_bytes())
    offset, size = _section(bytes(data), ".eh_frame")
    at = offset + at % max(size - len(noise), 1)
    data[at : at + len(noise)] = noise
    _scan_or_elf_error(bytes(data))


def test_a_syscall_body_reached_by_a_jump_stub_is_resolved_at_the_stubs_callers(
    binaries: dict[str, dict[str, str]],
) -> None:
    """ruff's static musl binary (PyPI): musl's syscall body lies outside .eh_frame after a
    `ret` and is reached by a `jmp` stub that callers call with the number in edi. strace
    saw getrandom and clock_nanosleep from it (bench/soundness.py)."""
    data, scan = load(binaries, "ruff-musl")
    assert {"getrandom", "clock_nanosleep", "epoll_pwait", "wait4", "openat"} <= set(scan.resolved)
    full = scan_syscalls(parse_elf(data), data, fast=False)
    assert full is not None and full.resolved == scan.resolved
