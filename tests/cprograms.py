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
CLONES = r"""
#include <stdio.h>
#define N 4096
float x[N], y[N];
__attribute__((target_clones("avx2", "default"), noinline)) void scale(float k) {
    for (int i = 0; i < N; i++) y[i] = k * x[i] + y[i];
}
int main(int argc, char **argv) {
    (void)argv;
    for (int i = 0; i < N; i++) { x[i] = i; y[i] = argc; }
    scale(2.0f);
    printf("%f\n", y[N - 1]);
    return 0;
}
"""
SUPPORTS = r"""
#include <stdio.h>
#define N 4096
int a[N], b[N];
__attribute__((target("avx2"), noinline)) static void avx2_fn(void) {
    for (int i = 0; i < N; i++) a[i] = a[i] * b[i] + (a[i] >> 3);
}
__attribute__((noinline)) static void plain_fn(void) {
    for (int i = 0; i < N; i++) a[i] = a[i] + b[i];
}
int main(int argc, char **argv) {
    (void)argv;
    for (int i = 0; i < N; i++) { a[i] = i; b[i] = argc; }
    if (__builtin_cpu_supports("avx2")) avx2_fn(); else plain_fn();
    printf("%d\n", a[N - 1]);
    return 0;
}
"""


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
