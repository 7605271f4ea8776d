"""Direct-syscall scan: full mode (decode every function) against fast mode (decode only the
functions that raw bytes point at), side by side.

    .venv/bin/python bench/syscall_speed.py [BINARY ...]

Defaults to esbuild's Go binary and the static musl test program from the binary fixtures
(tests/fixtures/binaries/build_binaries.py; $PORTWISE_BINARIES). Times are in-process, best of
REPEAT, parsing included. Target (issue): fast 10-20x faster than full, esbuild fast < 0.5 s,
identical answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from portwise.elf.parse import parse_elf
from portwise.elf.syscalls import SyscallScan, scan_syscalls

REPO = Path(__file__).resolve().parents[1]
REPEAT = 3


def fixtures() -> Path:
    builder = REPO / "tests" / "fixtures" / "binaries" / "build_binaries.py"
    out = subprocess.run([sys.executable, str(builder)], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def timed(path: Path, fast: bool) -> tuple[float, SyscallScan]:
    best, result = float("inf"), None
    for _ in range(REPEAT):
        start = time.perf_counter()
        data = path.read_bytes()
        result = scan_syscalls(parse_elf(data), data, fast=fast)
        best = min(best, time.perf_counter() - start)
    assert result is not None, f"{path}: unsupported architecture"
    return best, result


def main() -> int:
    paths = [Path(p) for p in sys.argv[1:]]
    if not paths:
        root = (
            Path(os.environ.get("PORTWISE_BINARIES", ""))
            if "PORTWISE_BINARIES" in os.environ
            else fixtures()
        )
        paths = [root / "esbuild-amd64", root / "musl-static", root / "go-amd64", root / "busybox"]
    print(
        f"{'binary':<16} {'full s':>8} {'fast s':>8} {'ratio':>6}  sites resolved unresolved  same"
    )
    for path in paths:
        full_time, full = timed(path, fast=False)
        fast_time, fast = timed(path, fast=True)
        same = replace(fast, mode="full") == full
        print(
            f"{path.name:<16} {full_time:8.3f} {fast_time:8.3f} {full_time / fast_time:6.1f}"
            f"  {fast.sites:5d} {len(fast.resolved):4d} names"
            f"/{sum(fast.resolved.values())} points {fast.unresolved:4d}  {same}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
