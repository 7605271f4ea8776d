"""Hostile and broken images: a clear error naming image, layer and member; no host file touched.

These layers are crafted by hand because no real tool writes them on purpose; each test scans
in-process under an audit hook and asserts that every file opened was the image's own or
portwise's cache, and that nothing was written outside the cache.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from imagekit import Item, OciLayout, file, layer_tar, symlink

from portwise.errors import ImageError
from portwise.image.layers import Limits
from portwise.image.scan import ScanOptions, scan


def scan_guarded(ref: str, tmp_path: Path, guard, **options) -> Exception:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    with guard.watch(), pytest.raises(ImageError) as caught:
        scan(ref, ScanOptions(cache_dir=cache, **options))
    image_root = Path(ref.split(":", 1)[-1]) if ref.startswith(("oci:", "rootfs:")) else Path(ref)
    assert guard.outside([image_root], [cache]) == []
    written = [e for e in guard.events if e[2]]
    assert all(
        Path(p).resolve().is_relative_to(cache.resolve())
        for _, p, _ in written
        if Path(p).is_absolute()
    )
    return caught.value


def one_layer_image(tmp_path: Path, items: list[Item], compression: str = "gzip") -> str:
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar(items)], compression=compression)
    return f"oci:{layout.root}"


def test_path_traversal_with_dotdot(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    ref = one_layer_image(tmp_path, [file("etc/ok", "x"), file("../../escape", "pwned")])
    error = scan_guarded(ref, tmp_path, file_guard)
    assert error.member == "../../escape"
    assert error.layer is not None and error.layer.startswith("#0 sha256:")
    assert "path traversal" in str(error)
    assert not (tmp_path.parent / "escape").exists()


def test_absolute_member_name(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    ref = one_layer_image(tmp_path, [file("/tmp/portwise-absolute-pwned", "x")])
    error = scan_guarded(ref, tmp_path, file_guard)
    assert "absolute member name" in str(error)
    assert not Path("/tmp/portwise-absolute-pwned").exists()


def test_member_written_through_symlink(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "host-dir"
    outside.mkdir()
    items = [symlink("escape", str(outside)), file("escape/pwned", "x")]
    error = scan_guarded(one_layer_image(tmp_path, items), tmp_path, file_guard)
    assert error.member == "escape/pwned"
    assert "below symlink" in str(error)
    assert list(outside.iterdir()) == []


def test_hardlink_escape(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    items = [Item("shadow", kind="hardlink", link="../../../etc/shadow")]
    error = scan_guarded(one_layer_image(tmp_path, items), tmp_path, file_guard)
    assert error.member == "shadow"
    assert "hardlink target" in str(error) and "escapes the root" in str(error)


def test_hardlink_to_missing_member(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    items = [Item("passwd", kind="hardlink", link="etc/passwd")]
    error = scan_guarded(one_layer_image(tmp_path, items), tmp_path, file_guard)
    assert error.member == "passwd" and "does not exist" in str(error)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_decompression_bomb(tmp_path: Path, file_guard, compression: str) -> None:  # type: ignore[no-untyped-def]
    bomb = layer_tar([file("zeros", bytes(64 << 20))])  # 64 MiB that compress to ~64 KiB
    layout = OciLayout(tmp_path / "img")
    layout.add_image([bomb], compression=compression)
    error = scan_guarded(
        f"oci:{layout.root}", tmp_path, file_guard, limits=Limits(max_layer_unpacked=16 << 20)
    )
    assert "decompression bomb" in str(error) and error.layer is not None
    assert error.hint is not None and "--max-layer-size" in error.hint


def test_truncated_layer(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layout = OciLayout(tmp_path / "img")
    descriptor = layout.add_image([layer_tar([file("a", b"x" * 100_000)])], compression="gzip")
    blob = layout.layer_blob_paths(descriptor)[0]
    blob.write_bytes(blob.read_bytes()[:-200])
    error = scan_guarded(f"oci:{layout.root}", tmp_path, file_guard)
    assert "truncated" in str(error) and error.layer is not None


def test_layer_digest_mismatch(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layout = OciLayout(tmp_path / "img")
    descriptor = layout.add_image([layer_tar([file("a", "one")])], compression="none")
    blob = layout.layer_blob_paths(descriptor)[0]
    blob.write_bytes(layer_tar([file("a", "two")]))  # same size, other content
    error = scan_guarded(f"oci:{layout.root}", tmp_path, file_guard)
    assert "digest mismatch" in str(error) and error.layer is not None


def test_invalid_json_config(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar([file("a", "x")])], tag=None, write_index=False)
    broken = b"{not json"
    digest = layout.blob(broken)
    manifest = {"schemaVersion": 2, "config": {"digest": digest, "size": len(broken)}, "layers": []}
    manifest_bytes = json.dumps(manifest).encode()
    layout.manifests = [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": layout.blob(manifest_bytes),
            "size": len(manifest_bytes),
        }
    ]
    layout.write_index()
    error = scan_guarded(f"oci:{layout.root}", tmp_path, file_guard)
    assert "not valid JSON" in str(error) and digest in str(error)


def test_invalid_json_index(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar([file("a", "x")])])
    (layout.root / "index.json").write_text("[1, 2")
    error = scan_guarded(f"oci:{layout.root}", tmp_path, file_guard)
    assert "index.json is not valid JSON" in str(error)


def test_missing_blob(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layout = OciLayout(tmp_path / "img")
    descriptor = layout.add_image([layer_tar([file("a", "x")])])
    layout.layer_blob_paths(descriptor)[0].unlink()
    error = scan_guarded(f"oci:{layout.root}", tmp_path, file_guard)
    assert "missing blob" in str(error)


def test_blob_symlinked_to_host_file(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "host-secret"
    secret.write_text("do not read")
    layout = OciLayout(tmp_path / "img")
    descriptor = layout.add_image([layer_tar([file("a", "x")])])
    blob = layout.layer_blob_paths(descriptor)[0]
    blob.unlink()
    blob.symlink_to(secret)
    error = scan_guarded(f"oci:{layout.root}", tmp_path, file_guard)
    assert "symlink" in str(error)
    assert not any(p == str(secret) for _, p, _ in file_guard.events)


def test_not_a_tar_layer(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    layout = OciLayout(tmp_path / "img")
    layout.add_image([b"this is not a tar archive at all" * 40], compression="gzip")
    error = scan_guarded(f"oci:{layout.root}", tmp_path, file_guard)
    assert "not a valid tar stream" in str(error)


def test_cli_exit_code_and_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    ref = one_layer_image(tmp_path, [file("../escape", "x")])
    done = subprocess.run(
        [sys.executable, "-m", "portwise", "scan", ref, "--cache-dir", str(tmp_path / "c")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 65
    assert f"image {ref}" in done.stderr and "member '../escape'" in done.stderr
    assert "Traceback" not in done.stderr


def test_gnu_longname_traversal(tmp_path: Path, file_guard) -> None:  # type: ignore[no-untyped-def]
    """The hostile name hides in a GNU long-name record rather than the header."""
    name = "a/" * 60 + "../" * 70 + "escape"
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar([file(name, "x")], fmt=tarfile.GNU_FORMAT)])
    error = scan_guarded(f"oci:{layout.root}", tmp_path, file_guard)
    assert error.member == name


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_bomb_under_the_limit_streams_in_bounded_memory(tmp_path: Path, compression: str) -> None:
    """512 MiB of zeros in under a MiB: decompression must never hold much of it at once
    (zstd expands up to ~32000:1 in one call if fed a whole chunk)."""
    import tracemalloc
    import zlib

    import zstandard

    unpacked = 512 << 20
    header = bytearray(layer_tar([file("zeros", b"")])[:512])  # then grow the member by hand
    header[124:136] = b"%011o\0" % unpacked
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    if compression == "zstd":
        packer = zstandard.ZstdCompressor(level=19).compressobj()
        media = "application/vnd.oci.image.layer.v1.tar+zstd"
    else:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        media = "application/vnd.oci.image.layer.v1.tar+gzip"
    blob = packer.compress(bytes(header))
    zeros = bytes(1 << 20)
    for _ in range(unpacked >> 20):
        blob += packer.compress(zeros)
    blob += packer.compress(bytes(1024)) + packer.flush()
    assert len(blob) < 1 << 20
    content = hashlib.sha256(bytes(header))
    for _ in range(unpacked >> 20):
        content.update(zeros)
    content.update(bytes(1024))
    layout = OciLayout(tmp_path / "img")
    config = json.dumps(
        {
            "os": "linux",
            "architecture": "amd64",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + content.hexdigest()]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "config": {"digest": layout.blob(config)},
            "layers": [{"mediaType": media, "digest": layout.blob(blob), "size": len(blob)}],
        }
    ).encode()
    layout.manifests = [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": layout.blob(manifest),
            "size": len(manifest),
        }
    ]
    layout.write_index()
    tracemalloc.start()
    try:
        (profile,) = scan(f"oci:{layout.root}", ScanOptions(use_cache=False))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert profile.layers[0].unpacked_size == 512 + unpacked + 1024
    assert peak < 128 << 20, f"peak {peak >> 20} MiB while streaming a 512 MiB layer"
