"""Small C programs for CPU-dispatch tests, compiled by gcc in the test: one with AVX2 code and
a stray cpuid that guards nothing, GCC target_clones, and a __builtin_cpu_supports branch."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

STRAY = r"""
/* Built with -mavx2 throughout: the cpuid only reads the cache line size, it guards nothing. */
#include <cpuid.h>
#include <stdio.h>
#define N 4096
int a[N], b[N];
__attribute__((noinline)) void mix(void) {
    for (int i = 0; i < N; i++) a[i] = a[i] * b[i] + (a[i] >> 3);
}
static unsigned line_size(void) {
    unsigned eax, ebx, ecx, edx;
    __cpuid(1, eax, ebx, ecx, edx);
    return ((ebx >> 8) & 0xff) * 8;
}
int main(int argc, char **argv) {
    (void)argv;
    for (int i = 0; i < N; i++) { a[i] = i; b[i] = argc; }
    mix();
    printf("%d %u\n", a[N - 1], line_size());
    return 0;
}
"""
# the same programs the ISA fixtures are built from (tests/fixtures/isa)
ISA_SOURCES = Path(__file__).resolve().parent / "fixtures" / "isa"
CLONES = (ISA_SOURCES / "clones.c").read_text()
SUPPORTS = (ISA_SOURCES / "cpu_supports.c").read_text()


def compile_c(tmp: Path, name: str, source: str, *flags: str) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    (tmp / f"{name}.c").write_text(source)
    out = tmp / name
    subprocess.run(
        ["gcc", "-O2", *flags, "-o", str(out), str(tmp / f"{name}.c")],
        check=True,
        capture_output=True,
    )
    return out
