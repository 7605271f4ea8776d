"""Run-time CPU dispatch, old rule against new, on real binaries: decision and scan time.

    PYTHONPATH=src .venv/bin/python bench/cpu_dispatch.py [ELF ...]

Old rule (before issue 12): any cpuid, IFUNC, libgcc/glibc CPU symbol or getauxval(AT_HWCAP)
anywhere made the whole binary "dispatching", so it required the baseline whatever it used.
New rule (elf/isa_dispatch.py): a use is dispatched only when its function is shown to run
after a CPU check; the binary requires the level of the other uses.

The old scan is timed as the same primitives without the structure analysis (decode, then
dispatch_reasons), which is what scan_isa did before; best of REPEAT, in-process, one parse per
file. Columns: old and new required level (`*` where the decision changed), the level the code
can use, seconds old and new, and their ratio. Defaults: system binaries on this machine that
use extensions above the baseline and have some dispatch sign, plus the ISA fixtures.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from portwise.elf import isa_elf
from portwise.elf.isa import IsaScan, scan_isa
from portwise.elf.isa_decode import fast_scan, new_disassembler
from portwise.elf.isa_table import CPUID
from portwise.elf.parse import ElfFile, parse_elf
from portwise.knowledge.cpu_levels import BASELINE, level_of

LIB = Path("/usr/lib/x86_64-linux-gnu")
DEFAULTS = [
    LIB / "libc.so.6",
    LIB / "ld-linux-x86-64.so.2",
    LIB / "libcrypto.so.3",
    LIB / "libzstd.so.1",
    LIB / "liblzma.so.5",
    LIB / "libgcrypt.so.20",
    LIB / "libpcre2-8.so.0",
    LIB / "libdeflate.so.0",
    LIB / "libjpeg.so.62",
    LIB / "libatomic.so.1",
    LIB / "libmvec.so.1",
    LIB / "libgnutls.so.30",
    LIB / "libstdc++.so.6",
    Path("/usr/bin/zstd"),
    Path("/usr/bin/wc"),
    Path("/usr/bin/cksum"),
    Path("/usr/bin/python3.11"),
    Path("/usr/bin/busybox"),
    Path("/usr/sbin/ldconfig"),
    Path("/usr/bin/runc"),
    Path("/usr/sbin/runc"),
]
FIXTURES = Path(os.environ.get("PORTWISE_ISA", "/var/cache/portwise-fixtures/isa-v1"))
FIXTURE_NAMES = ("clones", "cpu-supports", "hwcap", "static-hello", "vec-v3")
REPEAT = 3


def old_scan(elf: ElfFile, data: bytes) -> str:
    """The pre-issue-12 decision: the level found, unless any dispatch sign: then baseline."""
    regions, _ = isa_elf.code_regions(elf, data)
    symbols = isa_elf.read_symbols(elf, data)
    starts = isa_elf.function_starts(elf, data, symbols)
    found = fast_scan(new_disassembler(), regions, starts, isa_elf.loaded_span(elf))
    hits = dict(found.hits)
    cpuid = hits.pop(CPUID, None)
    reasons = isa_elf.dispatch_reasons(elf, data, regions, symbols)
    return BASELINE if cpuid is not None or reasons else level_of(set(hits))


def best(run: object, *args: object) -> tuple[float, object]:
    times, result = [], None
    for _ in range(REPEAT):
        start = time.perf_counter()
        result = run(*args)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times), result


def short(level: str) -> str:
    return level.replace("x86-64-", "")


def main(args: list[str]) -> int:
    paths = [Path(a) for a in args] or [*DEFAULTS, *(FIXTURES / n for n in FIXTURE_NAMES)]
    print(
        f"{'file':28} {'old req':>8} {'new req':>8} {'can use':>8} {'old s':>7} {'new s':>7} "
        f"{'ratio':>5}  first required use"
    )
    changed, total_old, total_new = [], 0.0, 0.0
    seen: set[Path] = set()
    for path in paths:
        if not path.exists() or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        data = path.read_bytes()
        elf = parse_elf(data)
        if elf.machine != "x86-64":
            continue
        t_old, old = best(old_scan, elf, data)
        t_new, new = best(scan_isa, elf, data)
        assert isinstance(old, str) and isinstance(new, IsaScan)
        total_old += t_old
        total_new += t_new
        mark = "*" if old != new.required_level else " "
        if mark == "*":
            changed.append(path.name)
        first = next((e for e in new.evidence if e.split(" ", 1)[0] in new.required), "")
        print(
            f"{path.name[:28]:28} {short(old):>8} {short(new.required_level):>7}{mark} "
            f"{short(new.level):>8} {t_old:7.3f} {t_new:7.3f} {t_new / t_old:5.2f}  {first}"
        )
    print(
        f"\n{len(seen)} binaries, {len(changed)} changed decision ({', '.join(changed)}); "
        f"total {total_old:.2f} s old, {total_new:.2f} s new, ratio {total_new / total_old:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
