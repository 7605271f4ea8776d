"""Every source kind through one interface, on miniature images; real images in test_real_images."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from imagekit import OciLayout, compress, file, layer_tar, oci_archive, sha, symlink

from portwise.errors import ImageError
from portwise.image.scan import ScanOptions, scan

OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
ROOT = [
    file("usr/lib/os-release", OS_RELEASE),
    symlink("etc/os-release", "../usr/lib/os-release"),
    file("var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nVersion: 1\n"),
]


def profile_of(ref: str, tmp_path: Path, **options):  # type: ignore[no-untyped-def]
    return scan(ref, ScanOptions(cache_dir=tmp_path / "cache", **options))


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_oci_layout_each_compression(tmp_path: Path, compression: str) -> None:
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar(ROOT)], compression=compression)
    (profile,) = profile_of(f"oci:{layout.root}", tmp_path)
    assert profile.os_release is not None and profile.os_release.version_id == "12"
    assert profile.os_release.path == "/usr/lib/os-release"
    assert [p.name for p in profile.packages] == ["a"]
    assert profile.layers[0].diff_id == sha(layer_tar(ROOT))
    assert profile.layers[0].unpacked_size == len(layer_tar(ROOT))


def test_bare_path_is_recognised(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar(ROOT)])
    (profile,) = profile_of(str(layout.root), tmp_path)
    assert profile.source == "oci-layout"


def test_oci_archive(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar(ROOT)], tag="v1")
    archive = oci_archive(layout.root, tmp_path / "img.tar")
    for ref in (f"oci-archive:{archive}:v1", str(archive)):
        (profile,) = profile_of(ref, tmp_path)
        assert profile.source == "oci-archive" and len(profile.packages) == 1


def test_tag_selection_and_unknown_tag(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar(ROOT)], tag="one")
    layout.add_image([layer_tar([file("only-in-two", "2")])], tag="two")
    (two,) = profile_of(f"oci:{layout.root}:two", tmp_path)
    assert [f.path for f in two.files] == ["/only-in-two"]
    with pytest.raises(ImageError, match="no image tagged 'three'; tags: one, two"):
        profile_of(f"oci:{layout.root}:three", tmp_path)


def test_multi_platform_index(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar([file("amd", "x")])], arch="amd64", tag=None)
    layout.add_image([layer_tar([file("arm", "x")])], arch="arm64", tag=None)
    (arm,) = profile_of(f"oci:{layout.root}", tmp_path, platform="linux/arm64")
    assert str(arm.platform) == "linux/arm64" and arm.files[0].path == "/arm"
    both = profile_of(f"oci:{layout.root}", tmp_path, all_platforms=True)
    assert sorted(str(p.platform) for p in both) == ["linux/amd64", "linux/arm64"]
    with pytest.raises(
        ImageError, match="no image for linux/s390x; it offers linux/amd64, linux/arm64"
    ):
        profile_of(f"oci:{layout.root}", tmp_path, platform="linux/s390x")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_rootfs_tarball(tmp_path: Path, compression: str) -> None:
    tarball = tmp_path / "root.tar"
    tarball.write_bytes(compress(layer_tar(ROOT), compression))
    (profile,) = profile_of(f"rootfs:{tarball}", tmp_path)
    assert profile.source == "rootfs-tar" and profile.os_release is not None
    (again,) = profile_of(str(tarball), tmp_path)
    assert again.layers[0].from_cache


def test_rootfs_directory_never_follows_symlinks_out(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "status").write_text("Package: host-secret\nVersion: 1\n")
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").symlink_to(secret / "status")  # absolute: means the image's /
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_text(OS_RELEASE)
    (profile,) = profile_of(f"rootfs:{root}", tmp_path)
    assert profile.packages == []  # the link's target does not exist inside the image
    links = {f.path: f.link for f in profile.files if f.kind == "symlink"}
    assert links == {"/var/lib/dpkg/status": str(secret / "status")}
    assert profile.os_release is not None and profile.os_release.path == "/usr/lib/os-release"
    assert profile.source == "rootfs-dir"


def test_docker_archive_by_hand(tmp_path: Path) -> None:
    """A docker-archive as `docker save` lays it out (real ones: test_real_images)."""
    layer = layer_tar(ROOT)
    config = json.dumps(
        {
            "os": "linux",
            "architecture": "amd64",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha(layer)]},
        }
    ).encode()
    members = {
        f"{sha(config)[7:]}.json": config,
        "abc/layer.tar": layer,
        "manifest.json": json.dumps(
            [
                {
                    "Config": f"{sha(config)[7:]}.json",
                    "RepoTags": ["x:1"],
                    "Layers": ["abc/layer.tar"],
                }
            ]
        ).encode(),
    }
    archive = tmp_path / "saved.tar"
    with tarfile.open(archive, "w") as out:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    (profile,) = profile_of(str(archive), tmp_path)
    assert profile.source == "docker-archive" and profile.config_digest == sha(config)
    (tagged,) = profile_of(f"docker-archive:{archive}:x:1", tmp_path)
    assert tagged.packages == profile.packages


def test_missing_path_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="neither an existing path"):
        profile_of(str(tmp_path / "nope"), tmp_path)


def test_layer_of_every_package_and_file(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "img")
    status1 = "Package: a\nStatus: install ok installed\nVersion: 1\n"
    status2 = status1 + "\nPackage: b\nStatus: install ok installed\nVersion: 2\n"
    status3 = status2.replace("Version: 1", "Version: 1.1")
    layout.add_image(
        [
            layer_tar([file("var/lib/dpkg/status", status1), file("bin/a", "a")]),
            layer_tar([file("var/lib/dpkg/status", status2), file("bin/b", "b")]),
            layer_tar([file("var/lib/dpkg/status", status3), file("bin/a", "a2")]),
        ]
    )
    (profile,) = profile_of(f"oci:{layout.root}", tmp_path)
    assert {(p.name, p.version, p.layer) for p in profile.packages} == {
        ("a", "1.1", 2),
        ("b", "2", 1),
    }
    assert {f.path: f.layer for f in profile.files} == {
        "/var/lib/dpkg/status": 2,
        "/bin/a": 2,
        "/bin/b": 1,
    }


def test_platform_option_must_match_a_single_image(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar(ROOT)], arch="arm64")
    with pytest.raises(ImageError, match="the image is linux/arm64, not linux/amd64"):
        profile_of(f"oci:{layout.root}", tmp_path, platform="linux/amd64")
    (arm,) = profile_of(f"oci:{layout.root}", tmp_path, platform="linux/arm64")
    assert arm.platform.architecture == "arm64"
