"""ELF facts on real binaries of every kind, and the parser under fuzzing.

Real binaries: manylinux and musllinux wheels from PyPI (old glibc floors, musl), a Rust
extension (orjson), Debian's Go toolchain, busybox-static, and small programs compiled here
with gcc and musl-gcc for static, static-pie and 64 KiB page alignment.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portwise.elf.parse import ElfError, parse_elf
from portwise.image.analyzers.elf import ElfAnalyzer
from portwise.image.binaries import glibc_needed
from portwise.model.image import ElfBinary

CACHE = Path(os.environ.get("PORTWISE_ELF_SAMPLES", "/var/cache/portwise-fixtures/elf-v1"))
WHEELS = {
    # (requirement, platform tag) -> what the wheel's extension must show
    "manylinux": ("markupsafe==2.1.5", "manylinux_2_17_x86_64"),
    "musllinux": ("markupsafe==2.1.5", "musllinux_1_1_x86_64"),
    "rust": ("orjson==3.10.7", "manylinux_2_17_x86_64"),
}
HELLO = '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n'


def facts(path: Path) -> ElfBinary:
    value = ElfAnalyzer().analyze(str(path), path.read_bytes())
    value.pop("problems")
    return ElfBinary(path=str(path), layer=0, **value)


@pytest.fixture(scope="module")
def wheel_libraries() -> dict[str, Path]:
    """The first extension module of each wheel, downloaded once per machine."""
    found = {}
    for key, (requirement, platform) in WHEELS.items():
        target = CACHE / "wheels" / key
        if not any(target.glob("**/*.so")):
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--python-version",
                    "3.11",
                    "--platform",
                    platform,
                    "-d",
                    str(target),
                    requirement,
                ],
                check=True,
                capture_output=True,
            )
            for wheel in target.glob("*.whl"):
                with zipfile.ZipFile(wheel) as archive:
                    archive.extractall(target / "unpacked")
        found[key] = sorted(target.glob("unpacked/**/*.so"))[0]
    return found


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("compiled")
    (out / "hello.c").write_text(HELLO)
    builds = {
        "static": ["gcc", "-static", "-o", "static"],
        "static-pie": ["gcc", "-static-pie", "-fPIE", "-o", "static-pie"],
        "musl-static": ["musl-gcc", "-static", "-o", "musl-static"],
        "musl-dynamic": ["musl-gcc", "-o", "musl-dynamic"],
        "musl-stripped": ["musl-gcc", "-static", "-s", "-o", "musl-stripped"],
        "page64k": ["gcc", "-Wl,-z,max-page-size=0x10000", "-o", "page64k"],
    }
    for _name, command in builds.items():
        subprocess.run([*command, "hello.c"], cwd=out, check=True, capture_output=True)
    return {name: out / name for name in builds}


def test_manylinux_wheel_needs_old_glibc(wheel_libraries: dict[str, Path]) -> None:
    binary = facts(wheel_libraries["manylinux"])
    assert binary.libc == "glibc" and binary.linkage == "dynamic"
    needed = glibc_needed(binary)
    assert needed is not None and tuple(map(int, needed.split("."))) <= (2, 17)


def test_musllinux_wheel_is_musl(wheel_libraries: dict[str, Path]) -> None:
    binary = facts(wheel_libraries["musllinux"])
    assert binary.libc == "musl"
    assert any(n.startswith("libc.musl-") for n in binary.needed)
    assert glibc_needed(binary) is None and binary.version_needs == {}
    assert binary.libc_imports  # musl has no symbol versions: every import counts


def test_rust_extension(wheel_libraries: dict[str, Path]) -> None:
    assert facts(wheel_libraries["rust"]).rust
    assert not facts(wheel_libraries["manylinux"]).rust


def test_go_toolchain_binary() -> None:
    go = (
        Path(
            subprocess.run(
                ["go", "env", "GOROOT"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        / "bin"
        / "go"
    )
    version = subprocess.run(
        [str(go), "version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]
    binary = facts(go)
    assert binary.go and binary.go_version == version


def test_static_binaries(compiled: dict[str, Path]) -> None:
    static, pie = facts(compiled["static"]), facts(compiled["static-pie"])
    assert (static.linkage, static.type, static.libc) == ("static", "EXEC", "glibc")
    assert (pie.linkage, pie.type, pie.libc) == ("static-pie", "DYN", "glibc")
    assert static.min_kernel is not None  # glibc's .note.ABI-tag
    busybox = facts(Path("/bin/busybox"))
    assert (busybox.linkage, busybox.libc) == ("static", "glibc")


def test_musl_binaries(compiled: dict[str, Path]) -> None:
    static, dynamic = facts(compiled["musl-static"]), facts(compiled["musl-dynamic"])
    assert (static.linkage, static.libc, static.min_kernel) == ("static", "musl", None)
    assert dynamic.libc == "musl" and dynamic.interpreter is not None
    assert "ld-musl" in dynamic.interpreter and "puts" in dynamic.libc_imports
    # a stripped hello has no trace of its libc left: portwise says it does not know
    assert facts(compiled["musl-stripped"]).libc is None


def test_page_alignment(compiled: dict[str, Path]) -> None:
    assert facts(compiled["page64k"]).max_load_align == 0x10000
    assert facts(compiled["static"]).max_load_align == 0x1000


def test_not_elf_is_not_analysed() -> None:
    assert ElfAnalyzer().analyze("x", b"#!/bin/sh\necho hi\n" * 10) is None


def test_malformed_elf_becomes_a_readable_problem() -> None:
    data = bytearray(Path("/bin/true").read_bytes()[:4096])
    with pytest.raises(ValueError, match="malformed ELF file"):
        ElfAnalyzer().analyze("bin/true", bytes(data[:60]))


# --- fuzzing: any bytes give facts or ElfError ---------------------------------------------

SEED = Path("/bin/true").read_bytes()
HEADER_FIELDS = list(range(16, 64))


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(0, len(SEED)))
def test_fuzz_truncation(cut: int) -> None:
    with contextlib.suppress(ElfError):
        parse_elf(SEED[:cut])


@settings(max_examples=600, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.integers(0, 8191), st.integers(0, 255)), min_size=1, max_size=24)
)
def test_fuzz_byte_edits(edits: list[tuple[int, int]]) -> None:
    """Edits land in the headers, program headers, dynamic section and notes of a real ELF."""
    data = bytearray(SEED)
    for offset, value in edits:
        data[offset % len(data)] = value
    with contextlib.suppress(ElfError):
        parse_elf(bytes(data))


@settings(max_examples=300, deadline=2000)
@given(
    field=st.sampled_from(["e_phoff", "e_shoff", "e_phnum", "e_shnum", "e_shstrndx"]),
    value=st.sampled_from([0, 1, 0x7FFF, 0xFFFF, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1]),
)
def test_fuzz_absurd_counts_and_offsets(field: str, value: int) -> None:
    layout = {
        "e_phoff": (32, 8),
        "e_shoff": (40, 8),
        "e_phnum": (56, 2),
        "e_shnum": (60, 2),
        "e_shstrndx": (62, 2),
    }
    offset, size = layout[field]
    data = bytearray(SEED)
    data[offset : offset + size] = (value % (1 << (8 * size))).to_bytes(size, "little")
    with contextlib.suppress(ElfError):
        parse_elf(bytes(data))


@settings(max_examples=300, deadline=2000)
@given(st.binary(min_size=0, max_size=4096))
def test_fuzz_random_bytes_after_magic(tail: bytes) -> None:
    with contextlib.suppress(ElfError):
        parse_elf(b"\x7fELF" + tail)
