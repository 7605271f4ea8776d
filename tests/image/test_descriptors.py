"""Issue 13: descriptors are held to their blobs (size as well as digest), a layer's media type
to its bytes' magic, and hostile metadata gives a clear error or a note, never a traceback.

Layouts are built here (imagekit) and edited by hand where a real tool would never go wrong.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from imagekit import OciLayout, compress, file, layer_tar, sha

from portwise.errors import ImageError
from portwise.image.scan import ScanOptions, scan

DEBIAN = 'ID=debian\nVERSION_ID="12"\n'
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def layout_with(
    tmp_path: Path,
    blob: bytes,
    media_type: str,
    *,
    size_delta: int = 0,
    config: bytes | None = None,
    layer: bytes | None = None,
) -> str:
    """One layer stored as `blob` under `media_type`; the descriptor's size off by `size_delta`."""
    layout = OciLayout(tmp_path / "img")
    tar = layer if layer is not None else layer_tar([file("etc/os-release", DEBIAN)])
    config_bytes = (
        config
        or json.dumps(
            {"os": "linux", "architecture": "amd64", "rootfs": {"diff_ids": [sha(tar)]}}
        ).encode()
    )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "config": {"digest": layout.blob(config_bytes), "size": len(config_bytes)},
            "layers": [
                {
                    "mediaType": media_type,
                    "digest": layout.blob(blob),
                    "size": len(blob) + size_delta,
                }
            ],
        }
    ).encode()
    layout.manifests = [
        {"mediaType": MANIFEST, "digest": layout.blob(manifest), "size": len(manifest)}
    ]
    layout.write_index()
    return f"oci:{layout.root}"


def scan_error(ref: str, tmp_path: Path) -> ImageError:
    with pytest.raises(ImageError) as caught:
        scan(ref, ScanOptions(cache_dir=tmp_path / "cache"))
    return caught.value


def test_layer_descriptor_size_disagreeing_with_the_blob(tmp_path: Path) -> None:
    tar = layer_tar([file("etc/os-release", DEBIAN)])
    blob = compress(tar, "gzip")
    ref = layout_with(tmp_path, blob, "application/vnd.oci.image.layer.v1.tar+gzip", size_delta=7)
    error = scan_error(ref, tmp_path)
    assert error.layer is not None and error.layer.startswith("#0 sha256:")
    assert f"the descriptor says {len(blob) + 7} bytes, the blob has {len(blob)}" in str(error)


def test_manifest_and_config_descriptor_sizes(tmp_path: Path) -> None:
    ref = layout_with(tmp_path, layer_tar([]), "application/vnd.oci.image.layer.v1.tar")
    root = Path(ref.removeprefix("oci:"))
    index = json.loads((root / "index.json").read_text())
    index["manifests"][0]["size"] += 1
    (root / "index.json").write_text(json.dumps(index))
    error = scan_error(ref, tmp_path)
    assert "size mismatch for manifest sha256:" in str(error)
    index["manifests"][0]["size"] = "12"
    (root / "index.json").write_text(json.dumps(index))
    assert "malformed size '12'" in str(scan_error(ref, tmp_path))


@pytest.mark.parametrize(
    ("stored", "label", "said", "found"),
    [
        ("zstd", "application/vnd.oci.image.layer.v1.tar+gzip", "gzip", "zstd data"),
        ("none", "application/vnd.oci.image.layer.v1.tar+gzip", "gzip", "neither gzip nor zstd"),
        ("gzip", "application/vnd.oci.image.layer.v1.tar", "none", "gzip data"),
    ],
)
def test_media_type_against_the_content_magic(
    tmp_path: Path, stored: str, label: str, said: str, found: str
) -> None:
    """Read by its content, as containerd does, with a warning that names the layer; a warm
    rescan (layer from the cache) still warns."""
    tar = layer_tar([file("etc/os-release", DEBIAN)])
    ref = layout_with(tmp_path, compress(tar, stored), label)
    for _ in range(2):
        (profile,) = scan(ref, ScanOptions(cache_dir=tmp_path / "cache"))
        assert profile.os_release is not None and profile.os_release.id == "debian"
        (note,) = [u for u in profile.unknowns if u.location.startswith("layer #0")]
        assert f"says {said}, but the blob is {found}" in note.message
    assert profile.layers[0].from_cache


def test_deeply_nested_config_is_a_clear_error(tmp_path: Path) -> None:
    for depth in (100, 100_000):  # past portwise's limit; past the interpreter's stack
        nested = b'{"os": "linux", "architecture": "amd64", "x": ' + b"[" * depth + b"]" * depth
        ref = layout_with(
            tmp_path / str(depth),
            layer_tar([]),
            "application/vnd.oci.image.layer.v1.tar",
            config=nested + b"}",
        )
        error = scan_error(ref, tmp_path)
        assert "config sha256:" in str(error) and "nests JSON more than 64 levels" in str(error)


def test_deeply_nested_manifest_from_the_command_line(tmp_path: Path) -> None:
    ref = layout_with(tmp_path, layer_tar([]), "application/vnd.oci.image.layer.v1.tar")
    (Path(ref.removeprefix("oci:")) / "index.json").write_text("[" * 50_000 + "]" * 50_000)
    done = subprocess.run(
        [sys.executable, "-m", "portwise", "scan", ref, "--cache-dir", str(tmp_path / "c")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 65 and done.stdout == ""
    assert "index.json nests JSON more than 64 levels" in done.stderr
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr


def test_os_release_over_its_limit_is_a_note(tmp_path: Path) -> None:
    big = DEBIAN + "#" * (100 << 10) + "\n"
    tar = layer_tar([file("etc/os-release", big), file("usr/lib/os-release", "ID=fallback\n")])
    ref = layout_with(tmp_path, tar, "application/vnd.oci.image.layer.v1.tar", layer=tar)
    (profile,) = scan(ref, ScanOptions(cache_dir=tmp_path / "cache"))
    assert profile.os_release is not None and profile.os_release.id == "fallback"
    (note,) = [u for u in profile.unknowns if u.location == "etc/os-release"]
    assert note.message == f"os-release: not read, {len(big)} bytes is over its 65536-byte limit"


def test_corrupt_gzip_names_the_member_it_broke_in(tmp_path: Path) -> None:
    """The blob is read in chunks of a MiB: the damage shows after `big` has begun."""
    noise = random.Random(13).randbytes(3 << 20)  # incompressible: stored deflate blocks
    tar = layer_tar([file("small", "x"), file("big", noise)])
    blob = bytearray(compress(tar, "gzip"))
    blob[len(blob) * 3 // 4] ^= 0xFF
    ref = layout_with(
        tmp_path, bytes(blob), "application/vnd.oci.image.layer.v1.tar+gzip", layer=tar
    )
    error = scan_error(ref, tmp_path)
    assert "gzip data is corrupt" in str(error) and error.member == "big"
