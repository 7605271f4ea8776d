"""Issue 13: what real and odd layers hold is recorded, not refused; facts are read through the
image's own symlinks, never the host's; a file that is not a regular one is absent, with a note.

Every layer is built here by hand (imagekit) and scanned in-process under the audit hook
(conftest.file_guard): nothing outside the image and the cache is opened.
"""

from __future__ import annotations

from pathlib import Path

from imagekit import Item, OciLayout, device, directory, file, hardlink, layer_tar, symlink

from portwise.image.scan import ScanOptions, scan
from portwise.model.image import ImageProfile

DEBIAN = 'ID=debian\nVERSION_ID="12"\n'
STATUS = "Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: amd64\n"


def scan_layers(tmp_path: Path, guard, *layers: list[Item], use_cache: bool = True) -> ImageProfile:  # type: ignore[no-untyped-def]
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar(items) for items in layers])
    cache = tmp_path / "cache"
    with guard.watch():
        (profile,) = scan(f"oci:{layout.root}", ScanOptions(cache_dir=cache, use_cache=use_cache))
    assert guard.outside([layout.root], [cache]) == []
    return profile


def notes(profile: ImageProfile) -> dict[str, str]:
    return {u.location: u.message for u in profile.unknowns}


def test_device_nodes_are_recorded_with_their_numbers(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layer = [
        directory("dev"),
        device("dev/null", "chardev", 1, 3),
        device("dev/sda", "blockdev", 8, 0),
        Item("dev/initctl", kind="fifo"),
        file("etc/os-release", DEBIAN),
    ]
    profile = scan_layers(tmp_path, file_guard, layer)
    files = {f.path: (f.kind, f.device) for f in profile.files}
    assert files["/dev/null"] == ("chardev", (1, 3))
    assert files["/dev/sda"] == ("blockdev", (8, 0))
    assert files["/dev/initctl"] == ("fifo", None)
    assert profile.os_release is not None and profile.os_release.id == "debian"
    assert not (tmp_path / "dev").exists()
    # a warm rescan takes the numbers from the cache
    again = scan_layers(tmp_path, file_guard, layer)
    assert again.layers[0].from_cache and again.files == profile.files


def test_a_fifo_at_etc_os_release_is_absent_with_a_note(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layer = [Item("etc/os-release", kind="fifo"), file("usr/lib/os-release", DEBIAN)]
    profile = scan_layers(tmp_path, file_guard, layer)
    assert profile.os_release is not None and profile.os_release.path == "/usr/lib/os-release"
    assert "a fifo, not a regular file" in notes(profile)["/etc/os-release"]


def test_a_device_or_directory_where_a_package_database_is_read(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layer = [
        device("var/lib/dpkg/status", "chardev", 1, 3),
        directory("lib/apk/db/installed"),
    ]
    profile = scan_layers(tmp_path, file_guard, layer)
    assert profile.packages == []
    found = notes(profile)
    assert "a chardev, not a regular file" in found["/var/lib/dpkg/status"]
    assert "a dir, not a regular file" in found["/lib/apk/db/installed"]


def test_relative_symlink_chain_to_os_release(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layer = [
        symlink("etc/os-release", "../usr/lib/os-release"),
        symlink("usr/lib/os-release", "os-release.d/current"),
        file("usr/lib/os-release.d/current", DEBIAN),
    ]
    profile = scan_layers(tmp_path, file_guard, layer)
    assert profile.os_release is not None and profile.os_release.id == "debian"
    assert profile.os_release.path == "/usr/lib/os-release.d/current"


def test_absolute_symlink_to_a_host_path_reads_the_image_never_the_host(
    tmp_path: Path,
    file_guard,  # type: ignore[no-untyped-def]
) -> None:
    """/etc/os-release -> /etc/passwd: the image's /etc/passwd (absent here), not the host's."""
    layer = [symlink("etc/os-release", "/etc/passwd"), file("usr/lib/os-release", DEBIAN)]
    profile = scan_layers(tmp_path, file_guard, layer)
    assert profile.os_release is not None and profile.os_release.path == "/usr/lib/os-release"
    assert not any(p == "/etc/passwd" for _, p, _ in file_guard.events)
    escaping = [
        symlink("etc/os-release", "../../../../../../etc/passwd"),
        file("etc/passwd", "ID=from-the-image\n"),
    ]
    (tmp_path / "b").mkdir()
    profile = scan_layers(tmp_path / "b", file_guard, escaping)
    assert profile.os_release is not None and profile.os_release.id == "from-the-image"
    assert profile.os_release.path == "/etc/passwd"


def test_symlink_to_a_file_no_analyzer_asked_for_is_read_in_a_second_look(
    tmp_path: Path,
    file_guard,  # type: ignore[no-untyped-def]
) -> None:
    layer = [symlink("etc/os-release", "/opt/vendor/release"), file("opt/vendor/release", DEBIAN)]
    profile = scan_layers(tmp_path, file_guard, layer)
    assert profile.os_release is not None and profile.os_release.path == "/opt/vendor/release"
    warm = scan_layers(tmp_path, file_guard, layer)  # now from the cache, without a re-read
    assert warm.layers[0].from_cache and warm.os_release == profile.os_release


def test_symlinked_package_database_directory_in_a_lower_layer(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    """var/lib/dpkg -> /usr/share/dpkg-db: the status file the packages come from is there."""
    base = [
        directory("var/lib"),
        directory("usr/share/dpkg-db"),
        symlink("var/lib/dpkg", "/usr/share/dpkg-db"),
        file("usr/share/dpkg-db/status", STATUS),
    ]
    top = [file("etc/os-release", DEBIAN)]
    profile = scan_layers(tmp_path, file_guard, base, top)
    assert [(p.name, p.version, p.layer, p.database) for p in profile.packages] == [
        ("base-files", "12.4", 0, "/usr/share/dpkg-db/status")
    ]


def test_symlink_loop_at_a_fact_path_is_a_note(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layer = [
        symlink("etc/os-release", "os-release.a"),
        symlink("etc/os-release.a", "os-release.b"),
        symlink("etc/os-release.b", "/etc/os-release"),
        symlink("var/lib/dpkg", "dpkg"),
    ]
    profile = scan_layers(tmp_path, file_guard, layer)
    assert profile.os_release is None and profile.packages == []
    found = notes(profile)
    assert "too many levels of symbolic links" in found["/etc/os-release"]
    assert "too many levels of symbolic links" in found["/var/lib/dpkg/status"]


def test_dot_and_empty_members(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    """`./` as a directory is the root's own entry and passes quietly; a file named `.` or an
    empty name is skipped with a note."""
    layer = [
        Item("./", kind="dir", mode=0o755),
        Item(".", kind="file", data=b"not the root"),
        Item("", kind="file", data=b"nameless"),
        file("etc/os-release", DEBIAN),
    ]
    profile = scan_layers(tmp_path, file_guard, layer)
    messages = [u.message for u in profile.unknowns if u.location == "/"]
    assert messages == [
        "file member named '.' (the image root): skipped",
        "file member with an empty name: skipped",
    ]
    assert {f.path for f in profile.files} == {"/etc/os-release"}


def test_hardlink_to_a_directory_is_skipped_with_a_note(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    base = [directory("etc"), directory("etc/ssl")]
    top = [hardlink("etc/ssl-again", "etc/ssl"), hardlink("root-again", "./")]
    profile = scan_layers(tmp_path, file_guard, base, top)
    paths = {f.path for f in profile.files}
    assert "/etc/ssl-again" not in paths and "/root-again" not in paths
    found = {(u.location, u.layer): u.message for u in profile.unknowns}
    assert found[("/etc/ssl-again", 1)] == "hardlink to directory /etc/ssl: skipped"
    assert found[("root-again", 1)] == "hardlink to the root directory: skipped"


def test_rootfs_directory_records_devices_fifos_and_sockets(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    """The directory walk never opens them; a FIFO at /etc/os-release would block a reader."""
    import os
    import socket
    import stat

    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    (root / "etc").mkdir()
    os.mkfifo(root / "etc" / "os-release")
    os.mknod(
        root / "dev" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3)
    )  # the suite runs as root
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(root / "dev" / "log"))
    cache = tmp_path / "cache"
    with file_guard.watch():
        (profile,) = scan(f"rootfs:{root}", ScanOptions(cache_dir=cache))
    assert file_guard.outside([root], [cache]) == []
    files = {f.path: (f.kind, f.device) for f in profile.files}
    assert files["/dev/null"] == ("chardev", (1, 3))
    assert files["/dev/log"] == ("socket", None)
    assert files["/etc/os-release"] == ("fifo", None)
    assert profile.os_release is None
    assert "a fifo, not a regular file" in notes(profile)["/etc/os-release"]


def test_sparse_members_in_a_layer(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    """GNU tar's sparse encodings in a real layer: real names and sizes in the profile, and a
    sparse os-release read with its hole as zeros."""
    import subprocess

    source = tmp_path / "src"
    (source / "etc").mkdir(parents=True)
    (source / "var").mkdir()
    with (source / "etc" / "os-release").open("wb") as out:
        out.write(DEBIAN.encode())
        out.truncate(40 << 10)  # a trailing hole: NUL bytes, a line os-release(5) skips
    with (source / "var" / "disk.img").open("wb") as out:
        out.seek(5 << 20)
        out.write(b"end")
    for version in ("gnu", "1.0"):
        fmt = ["--format=gnu"] if version == "gnu" else ["--format=posix", "--sparse-version=1.0"]
        tar = tmp_path / f"{version}.tar"
        subprocess.run(
            ["tar", *fmt, "--sparse", "-cf", str(tar), "-C", str(source), "etc", "var"], check=True
        )
        layout = OciLayout(tmp_path / version)
        layout.add_image([tar.read_bytes()])
        cache = tmp_path / f"cache-{version}"
        with file_guard.watch():
            (profile,) = scan(f"oci:{layout.root}", ScanOptions(cache_dir=cache))
        assert file_guard.outside([layout.root], [cache]) == []
        sizes = {f.path: f.size for f in profile.files if f.kind == "file"}
        assert sizes == {"/etc/os-release": 40 << 10, "/var/disk.img": (5 << 20) + 3}
        assert profile.os_release is not None and profile.os_release.version_id == "12"
