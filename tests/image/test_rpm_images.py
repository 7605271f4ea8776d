"""rpm databases inside images, end to end through the scan (the parsers: packages/test_rpm.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagekit import OciLayout, file, layer_tar

from portwise.image.scan import ScanOptions, scan

OS_RELEASE = 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n'


def expected(rpm_fixtures: Path) -> list[tuple[str, str, str | None]]:
    rows = []
    for line in (rpm_fixtures / "expected.tsv").read_text().splitlines():
        name, evr, arch, *_ = line.split("\t")
        rows.append((name, evr, None if arch == "(none)" else arch))
    return sorted(rows)


def rpm_packages(profile) -> list[tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    return sorted((p.name, p.version, p.architecture) for p in profile.packages)


def test_rpm_root_made_by_rpm_itself(rpm_fixtures: Path, tmp_path: Path) -> None:
    (profile,) = scan(f"rootfs:{rpm_fixtures / 'root'}", ScanOptions(cache_dir=tmp_path))
    assert rpm_packages(profile) == expected(rpm_fixtures)
    assert {p.database for p in profile.packages} == {"/var/lib/rpm/rpmdb.sqlite"}
    assert all(p.installed_at and p.built_at for p in profile.packages if p.name != "gpg-pubkey")


@pytest.mark.parametrize(
    ("stored", "in_image"),
    [
        ("root/var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"),
        ("bdb/Packages", "var/lib/rpm/Packages"),
        ("ndb/Packages.db", "usr/lib/sysimage/rpm/Packages.db"),
    ],
)
def test_each_database_format_in_an_image(
    rpm_fixtures: Path, tmp_path: Path, stored: str, in_image: str
) -> None:
    layout = OciLayout(tmp_path / "img")
    layout.add_image(
        [
            layer_tar([file("etc/os-release", OS_RELEASE)]),
            layer_tar([file(in_image, (rpm_fixtures / stored).read_bytes())]),
        ]
    )
    (profile,) = scan(f"oci:{layout.root}", ScanOptions(cache_dir=tmp_path / "c"))
    assert rpm_packages(profile) == expected(rpm_fixtures)
    assert {(p.manager, p.layer, p.database) for p in profile.packages} == {
        ("rpm", 1, "/" + in_image)
    }
    assert profile.os_release is not None and profile.os_release.id_like == [
        "rhel",
        "centos",
        "fedora",
    ]
