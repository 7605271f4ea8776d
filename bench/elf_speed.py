"""ELF facts: portwise's parser against LIEF and pyelftools reading the same fields, one run.

    .venv/bin/python bench/elf_speed.py [DIR ...]      (default: /usr)

Each tool opens every ELF file under the directories and extracts: class, endianness,
machine, type, interpreter, DT_NEEDED, SONAME, RUNPATH/RPATH, version needs, imported symbols,
the ABI-tag note and PT_LOAD alignment (see tests/elf_oracles.py). Files are read once before
timing so the page cache serves all three equally. Targets (issue #3): >= 10x LIEF and
>= 30x pyelftools in files per second.
"""

from __future__ import annotations

import mmap
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from elf_oracles import elf_files_under, lief_facts, pyelftools_facts

from portwise.elf.parse import ElfError, parse_elf

LIEF_MAX = 64 << 20  # LIEF reads whole files; the largest ones are left to the other two


def portwise_facts(path: str) -> object:
    """mmap, as portwise reads host files: only the header pages are touched."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        try:
            elf = parse_elf(m)
        except ElfError:
            return None
        return elf.needed, elf.imports  # materialised before the map closes


def measure(name: str, extract: Callable[[str], object], files: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    failures = 0
    for path in files:
        try:
            extract(path)
        except Exception:  # an oracle that cannot read a file still spent the time
            failures += 1
    return time.perf_counter() - started, failures


def main() -> None:
    roots = sys.argv[1:] or ["/usr"]
    files = [f for root in roots for f in elf_files_under(root)]
    for path in files:  # warm the page cache for everyone
        with open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    small = [f for f in files if os.path.getsize(f) <= LIEF_MAX]
    total_mb = sum(os.path.getsize(f) for f in files) / (1 << 20)
    small_mb = sum(os.path.getsize(f) for f in small) / (1 << 20)
    rows = []
    for name, extract, subset, mb in (
        ("portwise", portwise_facts, files, total_mb),
        ("portwise (LIEF's files)", portwise_facts, small, small_mb),
        ("LIEF", lief_facts, small, small_mb),
        ("pyelftools", pyelftools_facts, files, total_mb),
    ):
        seconds, failures = measure(name, extract, subset)
        rows.append((name, len(subset), seconds, mb, failures))
    rate = {name: count / seconds for name, count, seconds, _, _ in rows}
    print(f"{len(files)} ELF files under {', '.join(roots)}, {total_mb:.0f} MiB")
    print(f"{'tool':<26}{'files':>7}{'seconds':>10}{'files/s':>10}{'MiB/s':>10}  failures")
    for name, count, seconds, mb, failures in rows:
        print(f"{name:<26}{count:>7}{seconds:>10.2f}{count / seconds:>10.0f}"
              f"{mb / seconds:>10.0f}  {failures}")
    versus_lief = rate["portwise (LIEF's files)"] / rate["LIEF"]
    print(f"portwise / LIEF       = {versus_lief:.1f}x (target >= 10)")
    print(f"portwise / pyelftools = {rate['portwise'] / rate['pyelftools']:.1f}x (target >= 30)")


if __name__ == "__main__":
    main()
