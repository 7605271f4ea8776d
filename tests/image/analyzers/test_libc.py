"""C library identification on real library files from Debian packages."""

from __future__ import annotations

import subprocess
from pathlib import Path

from portwise.image.analyzers.libc import LibcAnalyzer, elf_architecture


def test_glibc_from_debian_libc6(debian_package) -> None:  # type: ignore[no-untyped-def]
    root = debian_package("libc6")
    path = "lib/x86_64-linux-gnu/libc.so.6"
    analyzer = LibcAnalyzer()
    assert analyzer.wants(path, (root / path).stat().st_size, 0o755)
    result = analyzer.analyze(path, (root / path).read_bytes())
    deb = next((root.parent).glob("libc6_*.deb")).name  # libc6_2.36-9+deb12u13_amd64.deb
    upstream = deb.split("_")[1].split("-")[0]
    assert result == {
        "family": "glibc",
        "version": upstream,
        "architecture": "amd64",
        "evidence": f"version banner in {path}",
    }


def test_musl_from_debian_musl(debian_package) -> None:  # type: ignore[no-untyped-def]
    root = debian_package("musl")
    path = "lib/x86_64-linux-musl/libc.so"
    analyzer = LibcAnalyzer()
    assert analyzer.wants(path, (root / path).stat().st_size, 0o755)
    result = analyzer.analyze(path, (root / path).read_bytes())
    deb = next((root.parent).glob("musl_*.deb")).name
    assert result["family"] == "musl"
    assert result["version"] == deb.split("_")[1].split("-")[0]


def test_linker_script_is_not_a_libc() -> None:
    # libc.so in -dev packages is a text linker script; only ELF files count
    assert (
        LibcAnalyzer().analyze("usr/lib/x86_64-linux-gnu/libc.so.6", b"/* GNU ld script */") is None
    )


def test_elf_architecture_of_host_binaries() -> None:
    machine = subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip()
    expected = {"x86_64": "amd64", "aarch64": "arm64"}[machine]
    assert elf_architecture(Path("/bin/true").read_bytes()) == expected
    assert elf_architecture(b"not an elf") is None
