"""Direct-syscall scan: portwise fast mode, portwise full mode and a simple capstone prototype
(bench/proto_syscalls.py), side by side on the same binaries in one run.

    .venv/bin/python bench/syscall_speed.py [--profile] [BINARY ...]

Defaults: the binary fixtures (tests/fixtures/binaries/build_binaries.py; $PORTWISE_BINARIES):
static musl and glibc programs, Go programs, esbuild's Go binary (amd64, arm64), busybox; ruff's
static musl Rust binary from its musllinux wheel; and big shared libraries of this machine
(libpython, libLLVM) since shared libraries are scanned too. Times are in-process, best of
REPEAT (1 for files over BIG), reading and parsing included. Full mode is skipped above FULL_MAX
(minutes) and reported as such. Ratios are prototype seconds / portwise seconds (above 1:
portwise is faster). The prototype resolves fewer calls (no function boundaries, stack spills,
syscall() through the PLT or GOT, or cross-block data flow) and its unresolved count is a lower
bound: the names and unresolved columns say how many each found. --profile adds where fast mode
spends its time (cProfile, top functions) on each binary over BIG.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proto_syscalls

from portwise.elf.parse import parse_elf
from portwise.elf.syscalls import SyscallScan, scan_syscalls

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
REPEAT = 3
BIG = 20 << 20
FULL_MAX = 64 << 20
LIBS = [
    "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
    "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1",
]


def fixtures() -> Path:
    if "PORTWISE_BINARIES" in os.environ:
        return Path(os.environ["PORTWISE_BINARIES"])
    builder = REPO / "tests" / "fixtures" / "binaries" / "build_binaries.py"
    out = subprocess.run([sys.executable, str(builder)], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def ruff_static() -> Path | None:
    sys.path.insert(0, str(REPO / "bench"))
    import soundness

    found = soundness.ruff_static()
    return Path(found) if found else None


def best(path: Path, run: Callable[[Path], T]) -> tuple[float, T]:
    repeat = 1 if path.stat().st_size > BIG else REPEAT
    seconds, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run(path)
        seconds = min(seconds, time.perf_counter() - start)
    assert result is not None
    return seconds, result


def portwise(fast: bool) -> Callable[[Path], SyscallScan]:
    def run(path: Path) -> SyscallScan:
        data = path.read_bytes()
        result = scan_syscalls(parse_elf(data), data, fast=fast)
        assert result is not None, f"{path}: unsupported architecture"
        return result

    return run


def default_paths() -> list[Path]:
    root = fixtures()
    names = [
        "musl-static",
        "glibc-static",
        "go-amd64",
        "go-arm64",
        "busybox",
        "esbuild-amd64",
        "esbuild-arm64",
    ]
    paths = [root / n for n in names if (root / n).exists()]
    ruff = ruff_static()
    if ruff is not None:
        paths.append(ruff)
    paths += [Path(p) for p in LIBS if Path(p).exists()]
    return paths


def profile(path: Path) -> None:
    data = path.read_bytes()
    profiler = cProfile.Profile()
    profiler.enable()
    scan_syscalls(parse_elf(data), data, fast=True)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    print(f"\nwhere fast mode spends its time on {path.name} (cProfile, by own time):")
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    for line in lines[start - 3 : start + 16]:
        print(line.replace(str(REPO) + "/", ""))


def main() -> int:
    args = sys.argv[1:]
    want_profile = "--profile" in args
    paths = [Path(a) for a in args if a != "--profile"] or default_paths()
    print(
        f"{'binary':<24}{'MiB':>6}{'fast s':>8}{'full s':>8}{'proto s':>8}"
        f"{'proto/fast':>11}{'proto/full':>11}  {'names fast|proto':>16}"
        f"  {'unresolved fast|proto':>21}  fast=full"
    )
    only: list[str] = []
    total = {"fast": 0.0, "full": 0.0, "proto": 0.0, "proto_with_full": 0.0}
    for path in paths:
        size = path.stat().st_size
        fast_s, fast = best(path, portwise(fast=True))
        if size <= FULL_MAX:
            full_s, full = best(path, portwise(fast=False))
            same = str(replace(fast, mode="full") == full)
            full_text = f"{full_s:8.2f}"
        else:
            full_s, same, full_text = float("nan"), "skipped", f"{'-':>8}"
        proto_s, proto = best(path, proto_syscalls.scan)
        total["fast"] += fast_s
        total["proto"] += proto_s
        if size <= FULL_MAX:
            total["full"] += full_s
            total["proto_with_full"] += proto_s
        ratio_full = f"{proto_s / full_s:11.2f}" if size <= FULL_MAX else f"{'-':>11}"
        names = f"{len(fast.resolved)}|{len(proto.resolved)}"
        missing = sorted(set(proto.resolved) - set(fast.resolved))
        if missing:
            only.append(f"{path.name}: {', '.join(missing)}")
        unresolved = f"{fast.unresolved}|{proto.unresolved}"
        print(
            f"{path.name:<24}{size / (1 << 20):>6.1f}{fast_s:>8.2f}{full_text}{proto_s:>8.2f}"
            f"{proto_s / fast_s:>11.2f}{ratio_full}  {names:>16}  {unresolved:>21}  {same}",
            flush=True,
        )
    print(
        f"{'all':<30}{total['fast']:>8.2f}{total['full']:>8.2f}{total['proto']:>8.2f}"
        f"{total['proto'] / total['fast']:>11.2f}"
        f"{total['proto_with_full'] / total['full'] if total['full'] else 0:>11.2f}"
    )
    print("ratios: prototype seconds / portwise seconds (> 1: portwise faster). The prototype")
    print("resolves fewer calls and undercounts unresolved points (see bench/proto_syscalls.py).")
    print("names the prototype resolves and portwise does not (portwise misses, or counts as")
    print("unresolved points, a path the prototype follows):")
    for line in only or ["none"]:
        print(f"  {line}")
    if want_profile:
        for path in paths:
            if path.stat().st_size > BIG:
                profile(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
