"""Real Debian images (built by tests/fixtures/build_images.sh) through every source kind.

The correctness oracle is dpkg itself: for each image the package list must equal what
`dpkg-query --admindir=<root>/var/lib/dpkg -W` printed for the same root when it was built.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portwise.image.scan import ScanOptions, scan
from portwise.model.image import ImageProfile

DEBIAN = [
    ("debian-bullseye-amd64", "11", "amd64"),
    ("debian-bookworm-amd64", "12", "amd64"),
    ("debian-trixie-amd64", "13", "amd64"),
    ("debian-bookworm-arm64", "12", "arm64"),
]
FORMS = {
    "oci": lambda f, name: f"oci:{f}/oci/{name}:latest",
    "docker-archive": lambda f, name: f"docker-archive:{f}/docker-archive/{name}.tar",
    "oci-archive": lambda f, name: f"oci-archive:{f}/oci-archive/{name}.tar",
    "rootfs-tar": lambda f, name: f"rootfs:{f}/rootfs/{name}.tar",
}


def expected_packages(fixtures: Path, name: str) -> list[tuple[str, str, str]]:
    lines = (fixtures / "expected" / f"{name}.dpkg.tsv").read_text().splitlines()
    return sorted(tuple(line.split("\t")) for line in lines if line)  # type: ignore[misc]


def dpkg_packages(profile: ImageProfile) -> list[tuple[str, str, str]]:
    return sorted(
        (p.name, p.version, p.architecture or "") for p in profile.packages if p.manager == "dpkg"
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize(("name", "version_id", "arch"), DEBIAN)
def test_debian_image_matches_dpkg_query(
    real_images: Path, cache: Path, form: str, name: str, version_id: str, arch: str
) -> None:
    (profile,) = scan(FORMS[form](real_images, name), ScanOptions(cache_dir=cache))
    assert dpkg_packages(profile) == expected_packages(real_images, name)
    assert profile.platform.architecture == arch
    assert profile.os_release is not None
    assert (profile.os_release.id, profile.os_release.version_id) == ("debian", version_id)
    glibc_package = (real_images / "expected" / f"{name}.glibc").read_text().strip()
    assert [(lib.family, lib.version) for lib in profile.libc] == [
        ("glibc", glibc_package.split("-")[0])
    ]
    assert all(p.layer == 0 for p in profile.packages)
    # the only things left unread are syscall issuing points whose number the code computes
    # (perl's syscall builtin, libseccomp's own syscall() calls, the static ldconfig) or
    # syscall bytes in data inside .text (OpenSSL's assembly): each counted, never dropped
    assert [u for u in profile.unknowns if not u.message.startswith("syscalls: ")] == []
    counted = {
        b.path
        for b in profile.binaries
        if b.direct_syscalls is not None and b.direct_syscalls.unresolved
    }
    data_in_code = {u.location for u in profile.unknowns if "undecodable bytes" in u.message}
    assert {u.location for u in profile.unknowns} <= counted | data_in_code
    assert profile.binary_summary.unresolved_syscall_sites == sum(
        b.direct_syscalls.unresolved for b in profile.binaries if b.direct_syscalls is not None
    )
    assert len(counted) <= 6, sorted(counted)
    assert any(f.path == "/usr/bin/dpkg" for f in profile.files)


def test_compressed_copies_give_the_same_profile(real_images: Path, tmp_path: Path) -> None:
    profiles = {
        suffix: scan(
            f"oci:{real_images}/oci/debian-bookworm-amd64{suffix}:latest",
            ScanOptions(use_cache=False),
        )[0]
        for suffix in ("", "-gzip", "-zstd")
    }
    media = {s: {layer.media_type for layer in p.layers} for s, p in profiles.items()}
    assert media["-zstd"] == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    assert media["-gzip"] == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    files = {s: [(f.path, f.size, f.mode, f.link) for f in p.files] for s, p in profiles.items()}
    assert files[""] == files["-gzip"] == files["-zstd"]
    diff_ids = {s: [layer.diff_id for layer in p.layers] for s, p in profiles.items()}
    assert diff_ids[""] == diff_ids["-gzip"] == diff_ids["-zstd"]


def test_derived_image_layers_and_cache(real_images: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (base,) = scan(
        f"oci:{real_images}/oci/debian-bookworm-amd64:latest", ScanOptions(cache_dir=cache)
    )
    ref = f"oci:{real_images}/oci/derived-bookworm-amd64:latest"
    (derived,) = scan(ref, ScanOptions(cache_dir=cache))
    assert len(derived.layers) > len(base.layers)
    shared = len(base.layers)
    assert [layer.from_cache for layer in derived.layers] == (
        [True] * shared + [False] * (len(derived.layers) - shared)
    )
    assert dpkg_packages(derived) == expected_packages(real_images, "derived-bookworm-amd64")
    added = (real_images / "expected" / "derived-bookworm-amd64.added").read_text().split()
    for package in derived.packages:
        assert (package.layer >= shared) == (package.name in added), package
    removed = {f.path for f in base.files} - {f.path for f in derived.files}
    assert "/etc/issue.net" in removed
    # a docker-archive of the same image says the same
    (saved,) = scan(
        f"docker-archive:{real_images}/docker-archive/derived-bookworm-amd64.tar",
        ScanOptions(cache_dir=cache),
    )
    assert saved.packages == derived.packages
    assert [f.path for f in saved.files] == [f.path for f in derived.files]


def test_multi_arch_index(real_images: Path, tmp_path: Path) -> None:
    ref = f"oci:{real_images}/oci/debian-bookworm-multi:latest"
    options = {"cache_dir": tmp_path / "c"}
    (arm,) = scan(ref, ScanOptions(platform="linux/arm64", **options))
    assert arm.platform.architecture == "arm64"
    assert {p.architecture for p in arm.packages} <= {"arm64", "all"}
    everything = scan(ref, ScanOptions(all_platforms=True, **options))
    assert sorted(p.platform.architecture for p in everything) == ["amd64", "arm64"]


def storage_env(fixtures: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (fixtures / "storage.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return dict(pairs)


def test_containers_storage_via_skopeo(real_images: Path, tmp_path: Path) -> None:
    env = storage_env(real_images)
    ref = f"{env['PW_STORAGE']}localhost/pw/debian:bookworm"
    (profile,) = scan(ref, ScanOptions(cache_dir=tmp_path / "c"))
    assert profile.source == "containers-storage"
    assert dpkg_packages(profile) == expected_packages(real_images, "debian-bookworm-amd64")
    assert not (tmp_path / "c" / "tmp").exists() or list((tmp_path / "c" / "tmp").iterdir()) == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A real registry (Debian's docker-registry) on 127.0.0.1, stopped after the test."""
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (tmp_path / "registry.log").open("w")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, (tmp_path / "registry.log").read_text()
            assert time.monotonic() < deadline, "registry did not start"
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def push(source: str, destination: str, *extra: str) -> None:
    subprocess.run(
        ["skopeo", "copy", "-q", "--dest-tls-verify=false", *extra, source, destination],
        check=True,
        env={**os.environ},
    )


def test_registry_round_trip(real_images: Path, registry: str, tmp_path: Path) -> None:
    push(
        f"oci:{real_images}/oci/debian-trixie-amd64:latest", f"docker://{registry}/pw/debian:trixie"
    )
    ref = f"docker://{registry}/pw/debian:trixie"
    (profile,) = scan(ref, ScanOptions(cache_dir=tmp_path / "c", tls_verify=False))
    assert profile.source == "registry" and profile.reference == ref
    assert dpkg_packages(profile) == expected_packages(real_images, "debian-trixie-amd64")
    push(
        f"oci:{real_images}/oci/debian-bookworm-multi:latest",
        f"docker://{registry}/pw/debian:multi",
        "--all",
    )
    (arm,) = scan(
        f"docker://{registry}/pw/debian:multi",
        ScanOptions(cache_dir=tmp_path / "c", tls_verify=False, platform="linux/arm64"),
    )
    assert arm.platform.architecture == "arm64"
    everything = scan(
        f"docker://{registry}/pw/debian:multi",
        ScanOptions(cache_dir=tmp_path / "c", tls_verify=False, all_platforms=True),
    )
    assert sorted(p.platform.architecture for p in everything) == ["amd64", "arm64"]


def test_registry_missing_image_is_a_clear_error(registry: str, tmp_path: Path) -> None:
    from portwise.errors import ImageError

    with pytest.raises(ImageError, match=r"skopeo could not read it"):
        scan(
            f"docker://{registry}/pw/nothing:here",
            ScanOptions(cache_dir=tmp_path / "c", tls_verify=False),
        )


def test_real_profile_validates_against_the_published_schema(
    real_images: Path, tmp_path: Path
) -> None:
    import json

    import jsonschema

    from portwise.model.schema import schema_json

    (profile,) = scan(
        f"oci:{real_images}/oci/debian-trixie-amd64:latest", ScanOptions(cache_dir=tmp_path / "c")
    )
    document = json.loads(profile.model_dump_json())
    assert document["binaries"] and document["binary_summary"]["syscalls"]
    jsonschema.validate(document, json.loads(schema_json("image")))
