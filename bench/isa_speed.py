"""ISA scan speed: the full capstone sweep against the raw-byte prefilter, side by side.

    .venv/bin/python bench/isa_speed.py [ELF ...]

Defaults to glibc, python3.11 and a few other system binaries, plus the compiled fixtures when
they are built (tests/fixtures/isa/build_isa_fixtures.py). Each scan runs in-process, best of
REPEAT, after one parse of the file; the columns are seconds, the ratio full/fast, instructions
decoded by each, and whether both found the same extensions.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from portwise.elf.isa import IsaScan, scan_isa
from portwise.elf.parse import ElfFile, parse_elf

LIB = Path("/usr/lib/x86_64-linux-gnu")
DEFAULTS = [
    LIB / "libc.so.6",
    Path("/usr/bin/python3.11"),
    LIB / "libcrypto.so.3",
    LIB / "libstdc++.so.6",
    LIB / "libm.so.6",
    Path("/usr/bin/bash"),
    Path("/usr/bin/ls"),
]
FIXTURES = Path(os.environ.get("PORTWISE_ISA", "/var/cache/portwise-fixtures/isa-v1"))
REPEAT = 3


def best(elf: ElfFile, data: bytes, full: bool) -> tuple[float, IsaScan]:
    times, result = [], None
    for _ in range(REPEAT):
        start = time.perf_counter()
        result = scan_isa(elf, data, full=full)
        times.append(time.perf_counter() - start)
    assert result is not None
    return min(times), result


def main(args: list[str]) -> int:
    paths = [Path(a) for a in args] or [
        *DEFAULTS,
        *(FIXTURES / n for n in ("static-hello", "vec-v4")),
    ]
    print(
        f"{'file':34} {'size':>8} {'full s':>8} {'fast s':>8} {'ratio':>6} "
        f"{'full insn':>10} {'fast insn':>10} same  level"
    )
    total_full = total_fast = 0.0
    for path in paths:
        if not path.exists():
            continue
        data = path.read_bytes()
        elf = parse_elf(data)
        if elf.machine != "x86-64":
            continue
        full_s, full = best(elf, data, True)
        fast_s, fast = best(elf, data, False)
        total_full += full_s
        total_fast += fast_s
        same = "yes" if full.extensions == fast.extensions else "NO"
        level = fast.level + (" (dispatch)" if fast.dispatch else "")
        print(
            f"{path.name:34} {len(data) // 1024:>7}K {full_s:8.3f} {fast_s:8.3f} "
            f"{full_s / fast_s:5.1f}x {full.instructions:>10} {fast.instructions:>10} {same:4}  "
            f"{level}"
        )
    if total_fast:
        print(
            f"{'total':34} {'':>8} {total_full:8.3f} {total_fast:8.3f} "
            f"{total_full / total_fast:5.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
