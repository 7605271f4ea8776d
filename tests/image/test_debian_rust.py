"""A Rust program built by Debian: Debian's rustc writes no "rustc version" into .comment and
remaps std's source paths to /usr/src/rustc-<version>/, so that path is how portwise knows the
binary is Rust, which Rust (the caller model of Rust std applies by version), and that its
statx failures fall back (knowledge/callers). The real ripgrep package from the mirror.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from portwise.elf.parse import parse_elf
from portwise.elf.toolchain import is_rust
from portwise.image.scan import ScanOptions, scan


def test_debian_ripgrep_is_rust_with_its_version(
    debian_package: Callable[[str], Path], tmp_path: Path
) -> None:
    package = debian_package("ripgrep")
    data = (package / "usr/bin/rg").read_bytes()
    assert is_rust(parse_elf(data), data)
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy2(package / "usr/bin/rg", root / "usr/bin/rg")
    (profile,) = scan(f"rootfs:{root}", ScanOptions(cache_dir=tmp_path / "cache"))
    (rust,) = [r for r in profile.runtimes if r.component == "rust-std"]
    assert rust.location == "/usr/bin/rg"
    assert rust.version is not None and rust.version.count(".") >= 1
    assert "/usr/src/rustc-" in rust.evidence
    statx = [s for n in profile.binary_summary.syscalls if n.name == "statx" for s in n.sources]
    assert statx, "rg stats files"
    assert all(s.caller is not None and s.caller.startswith("rust-std") for s in statx)
