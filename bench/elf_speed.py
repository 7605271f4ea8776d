"""ELF facts: portwise's parser against LIEF and pyelftools reading the same fields, one run;
and the per-ELF analysis (parse + toolchain and libc markers) before and after the marker
searches were restricted to the sections that hold them, with identical answers checked.

    .venv/bin/python bench/elf_speed.py [DIR ...]      (default: /usr)

Each tool opens every ELF file under the directories and extracts: class, endianness,
machine, type, interpreter, DT_NEEDED, SONAME, RUNPATH/RPATH, version needs, imported symbols,
the ABI-tag note and PT_LOAD alignment (see tests/elf_oracles.py). Files are read once before
timing so the page cache serves all of them equally. Targets (issue #3): >= 10x LIEF and
>= 30x pyelftools in files per second. The per-ELF rows read the whole file as bytes, as the
image scan does, then add go_version, is_rust and libc_of (portwise.elf.toolchain; "before" is
tests/toolchain_oracle.py, the whole-file searches); their answers must not differ (issue 11).
The disassembly that elf_facts also runs is measured by bench/syscall_speed.py.
"""

from __future__ import annotations

import mmap
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import toolchain_oracle
from elf_oracles import elf_files_under, lief_facts, pyelftools_facts

from portwise.elf import toolchain
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


def toolchain_answers(module: ModuleType, data: bytes | mmap.mmap) -> object:
    try:
        elf = parse_elf(data)
    except ElfError:
        return None
    go = module.go_version(elf, data)
    return go, module.is_rust(elf, data), module.libc_of(elf, data, go[0])


def per_elf(module: ModuleType) -> Callable[[str], object]:
    """Whole file as bytes, as an image scan reads a layer's member."""
    return lambda path: toolchain_answers(module, Path(path).read_bytes())


def per_elf_mmap(path: str) -> object:
    """mmap, as for host files: only the searched sections' pages are touched (the whole-file
    searches of "before" cannot run on an mmap: `marker in mmap` compares single bytes)."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return toolchain_answers(toolchain, m)


def measure(extract: Callable[[str], object], files: list[str]) -> tuple[dict[str, float], int]:
    """Seconds per file, and how many files the tool failed on."""
    seconds: dict[str, float] = {}
    failures = 0
    for path in files:
        started = time.perf_counter()
        try:
            extract(path)
        except Exception:  # an oracle that cannot read a file still spent the time
            failures += 1
        seconds[path] = time.perf_counter() - started
    return seconds, failures


def main() -> None:
    roots = sys.argv[1:] or ["/usr"]
    files = [f for root in roots for f in elf_files_under(root)]
    for path in files:  # warm the page cache for everyone
        with open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    small = [f for f in files if os.path.getsize(f) <= LIEF_MAX]
    size = {f: os.path.getsize(f) / (1 << 20) for f in files}
    before, after = per_elf(toolchain_oracle), per_elf(toolchain)
    differ = [f for f in files if not before(f) == after(f) == per_elf_mmap(f)]
    tools: list[tuple[str, Callable[[str], object], list[str]]] = [
        ("portwise parse", portwise_facts, files),
        ("portwise per-ELF, before", before, files),
        ("portwise per-ELF, after", after, files),
        ("portwise per-ELF, mmap", per_elf_mmap, files),
        ("LIEF", lief_facts, small),
        ("pyelftools", pyelftools_facts, files),
    ]
    timed = {name: measure(extract, subset) for name, extract, subset in tools}

    def rate(name: str, subset: list[str]) -> float:
        return len(subset) / sum(timed[name][0][f] for f in subset)

    print(f"{len(files)} ELF files under {', '.join(roots)}, {sum(size.values()):.0f} MiB")
    print(f"{'tool':<26}{'files':>7}{'seconds':>10}{'files/s':>10}{'MiB/s':>10}  failures")
    for name, _, subset in tools:
        seconds = sum(timed[name][0].values())
        mb = sum(size[f] for f in subset)
        print(
            f"{name:<26}{len(subset):>7}{seconds:>10.2f}{len(subset) / seconds:>10.0f}"
            f"{mb / seconds:>10.0f}  {timed[name][1]}"
        )
    print(f"(LIEF: the {len(small)} files up to {LIEF_MAX >> 20} MiB; its ratios on those files)")
    for name, _, _ in tools[:4]:
        print(
            f"{name:<26} / LIEF = {rate(name, small) / rate('LIEF', small):5.1f}x"
            f"   / pyelftools = {rate(name, files) / rate('pyelftools', files):5.1f}x"
        )
    print("targets: parse >= 10x LIEF, >= 30x pyelftools")
    speedup = rate("portwise per-ELF, after", files) / rate("portwise per-ELF, before", files)
    print(
        f"per-ELF after / before = {speedup:.1f}x; answers (go, go version, rust, libc) "
        f"differ on {len(differ)} of {len(files)} files {differ[:5]}"
    )


if __name__ == "__main__":
    main()
