"""Profile assembly: which layer's value survives, distroless dpkg, install times, unknowns."""

from __future__ import annotations

from pathlib import Path

from imagekit import Item, OciLayout, file, layer_tar

from portwise.image.scan import ScanOptions, scan

LIBC6 = """Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
"""
BASE_FILES = """Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5
"""


def profile(tmp_path: Path, *layers: list[Item]):  # type: ignore[no-untyped-def]
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar(items) for items in layers])
    return scan(f"oci:{layout.root}", ScanOptions(cache_dir=tmp_path / "c"))[0]


def test_distroless_status_d(tmp_path: Path) -> None:
    """gcr.io/distroless keeps one stanza per file in var/lib/dpkg/status.d/ (plus md5sums)."""
    got = profile(
        tmp_path,
        [
            file("var/lib/dpkg/status.d/libc6", LIBC6),
            file("var/lib/dpkg/status.d/libc6.md5sums", "0123  lib/x86_64-linux-gnu/libc.so.6\n"),
            file("var/lib/dpkg/status.d/base-files", BASE_FILES),
        ],
    )
    assert sorted((p.name, p.version, p.database) for p in got.packages) == [
        ("base-files", "12.4+deb12u5", "/var/lib/dpkg/status.d/base-files"),
        ("libc6", "2.36-9+deb12u4", "/var/lib/dpkg/status.d/libc6"),
    ]


def test_dpkg_install_time_from_info_list_mtime(tmp_path: Path) -> None:
    got = profile(
        tmp_path,
        [
            file("var/lib/dpkg/status", LIBC6),
            Item("var/lib/dpkg/info/libc6:amd64.list", b"/.\n", mtime=1_717_000_000),
        ],
    )
    assert [p.installed_at for p in got.packages] == ["2024-05-29T16:26:40Z"]


def test_later_layer_deleting_the_database_removes_its_packages(tmp_path: Path) -> None:
    got = profile(
        tmp_path,
        [file("var/lib/dpkg/status", LIBC6)],
        [file("var/lib/dpkg/.wh.status")],
    )
    assert got.packages == []


def test_os_release_from_the_layer_that_owns_it(tmp_path: Path) -> None:
    got = profile(
        tmp_path,
        [file("etc/os-release", "ID=debian\nVERSION_ID=11\n")],
        [file("etc/os-release", "ID=debian\nVERSION_ID=12\n")],
    )
    assert got.os_release is not None
    assert (got.os_release.version_id, got.os_release.layer) == ("12", 1)


def test_bad_database_lines_become_unknowns_with_their_place(tmp_path: Path) -> None:
    got = profile(tmp_path, [file("var/lib/dpkg/status", LIBC6 + "\n!!garbage\n")])
    assert [p.name for p in got.packages] == ["libc6"]
    assert [(u.location, u.layer) for u in got.unknowns] == [("/var/lib/dpkg/status", 0)]
    assert "malformed line '!!garbage'" in got.unknowns[0].message


def test_history_aligned_with_layers(tmp_path: Path) -> None:
    got = profile(tmp_path, [file("a", "1")], [file("b", "2")])
    assert [layer.created_by for layer in got.layers] == ["layer 0", "layer 1"]
    assert got.config.cmd == ["/bin/sh"] and got.config.env == ["PATH=/usr/bin"]
