"""Image-level binary facts on real Debian images: glibc floors, copied-in binaries, syscalls."""

from __future__ import annotations

import tarfile
from pathlib import Path

from imagekit import OciLayout, file, layer_tar

from portwise.image.analyzers import with_options
from portwise.image.scan import ScanOptions, scan
from portwise.model.image import BinarySummary


def summary(ref: str, tmp_path: Path) -> BinarySummary:
    return scan(ref, ScanOptions(cache_dir=tmp_path / "c"))[0].binary_summary


def sources(summary: BinarySummary, syscall: str) -> set[tuple[str, str, str | None]]:
    return {
        (s.via, s.on_failure, s.fallback)
        for n in summary.syscalls
        if n.name == syscall
        for s in n.sources
    }


def test_trixie_reaches_new_syscalls_with_enosys_fallbacks(
    real_images: Path, tmp_path: Path
) -> None:
    got = summary(f"oci:{real_images}/oci/debian-trixie-amd64:latest", tmp_path)
    assert got.glibc_shipped == "2.41" and got.needs_newer_glibc == []
    assert got.glibc_needed is not None and got.glibc_needed.value == "2.41"
    assert ("pthread_create", "fallback-on-enosys", "clone") in sources(got, "clone3")
    assert ("faccessat", "fallback-on-enosys", "faccessat") in sources(got, "faccessat2")
    assert ("statx", "fallback-on-enosys", "newfstatat") in sources(got, "statx")
    assert got.smallest_load_align is not None and got.smallest_load_align.value == "4096"
    # the one static binary, ldconfig, issues its syscalls itself: found by disassembly
    direct = {n.name for n in got.syscalls for s in n.sources if s.via == "direct"}
    assert {"openat", "read", "write", "mmap", "exit_group"} <= direct
    assert got.static_binaries == ["/usr/sbin/ldconfig"]


def test_bullseye_glibc_has_no_clone3(real_images: Path, tmp_path: Path) -> None:
    got = summary(f"oci:{real_images}/oci/debian-bullseye-amd64:latest", tmp_path)
    assert got.glibc_shipped == "2.31"
    assert sources(got, "clone3") == set() and sources(got, "faccessat2") == set()
    assert ("statx", "fallback-on-enosys", "newfstatat") in sources(got, "statx")


def test_binary_copied_from_a_newer_system_is_found(real_images: Path, tmp_path: Path) -> None:
    """A trixie binary (glibc 2.41) dropped into a bullseye image (glibc 2.31) will not run."""
    with tarfile.open(real_images / "rootfs" / "debian-trixie-amd64.tar") as trixie:
        member = trixie.extractfile("./usr/bin/chrt") or trixie.extractfile("usr/bin/chrt")
        assert member is not None
        chrt = member.read()
    base = (real_images / "rootfs" / "debian-bullseye-amd64.tar").read_bytes()

    layout = OciLayout(tmp_path / "img")
    layout.add_image(
        [base, layer_tar([file("usr/local/bin/chrt", chrt, mode=0o755)])], compression="none"
    )
    got = summary(f"oci:{layout.root}", tmp_path)
    assert got.glibc_shipped == "2.31"
    assert [(r.value, r.binaries) for r in got.needs_newer_glibc] == [
        ("2.41", ["/usr/local/bin/chrt"])
    ]


def test_cpu_level_unknown_unless_disassembled(isa_bins: Path, tmp_path: Path) -> None:
    """gcc 12 marks a -march=x86-64-v3 program "baseline" (the start files' note): portwise
    must not take that for a baseline requirement. Without --cpu-scan the level is unknown;
    with it, disassembly finds v3, and dispatching code counts as optional."""
    names = ["vec-v3", "vec-baseline", "cpu-supports"]
    layout = OciLayout(tmp_path / "img")
    layout.add_image(
        [
            layer_tar(
                [
                    file(f"usr/bin/{name}", (isa_bins / name).read_bytes(), mode=0o755)
                    for name in names
                ]
            )
        ]
    )
    ref = f"oci:{layout.root}"
    plain = scan(ref, ScanOptions(cache_dir=tmp_path / "c"))[0].binary_summary
    assert plain.isa_level is None and plain.cpu_unknown == 3
    deep = scan(ref, ScanOptions(cache_dir=tmp_path / "c", analyzers=with_options(cpu_scan=True)))[
        0
    ].binary_summary
    assert deep.cpu_unknown == 0
    assert deep.isa_level is not None
    assert (deep.isa_level.value, deep.isa_level.binaries) == ("x86-64-v3", ["/usr/bin/vec-v3"])
    assert deep.isa_level_dispatched is not None
    assert "/usr/bin/cpu-supports" in deep.isa_level_dispatched.binaries
