"""Build miniature images for tests: tar layers from a spec, written as OCI layouts or archives.

Real images come from tests/fixtures/build_images.sh; these small ones exist for the cases no
real tool produces on purpose (hostile members, broken digests) and for precise layer shapes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import zstandard


@dataclass
class Item:
    name: str
    data: bytes = b""
    kind: str = "file"  # file, dir, symlink, hardlink, chardev, blockdev, fifo
    link: str = ""
    mode: int = 0o644
    mtime: int = 1_700_000_000
    major: int = 0  # device numbers, for chardev and blockdev
    minor: int = 0


def file(name: str, data: bytes | str = b"", mode: int = 0o644) -> Item:
    return Item(name, data.encode() if isinstance(data, str) else data, mode=mode)


def directory(name: str) -> Item:
    return Item(name, kind="dir", mode=0o755)


def symlink(name: str, target: str) -> Item:
    return Item(name, kind="symlink", link=target, mode=0o777)


def hardlink(name: str, target: str) -> Item:
    return Item(name, kind="hardlink", link=target)


def device(name: str, kind: str, major: int, minor: int) -> Item:
    return Item(name, kind=kind, mode=0o666, major=major, minor=minor)


TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chardev": tarfile.CHRTYPE,
    "blockdev": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def layer_tar(items: list[Item], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for item in items:
            info = tarfile.TarInfo(item.name)
            info.type = TYPES[item.kind]
            info.mode = item.mode
            info.mtime = item.mtime
            info.linkname = item.link
            info.devmajor, info.devminor = item.major, item.minor
            if item.kind == "file":
                info.size = len(item.data)
                archive.addfile(info, io.BytesIO(item.data))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, compresslevel=1)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


MEDIA = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class OciLayout:
    """An OCI layout directory; `add_image` returns the manifest descriptor it wrote."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.manifests: list[dict[str, object]] = []

    def blob(self, data: bytes) -> str:
        digest = sha(data)
        (self.root / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return digest

    def add_image(
        self,
        layers: list[bytes],
        *,
        compression: str = "gzip",
        arch: str = "amd64",
        tag: str | None = "latest",
        config_extra: dict[str, object] | None = None,
        write_index: bool = True,
    ) -> dict[str, object]:
        blobs = [compress(layer, compression) for layer in layers]
        config = {
            "architecture": arch,
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]},
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
            **(config_extra or {}),
        }
        config_bytes = json.dumps(config).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": self.blob(config_bytes),
                "size": len(config_bytes),
            },
            "layers": [
                {"mediaType": MEDIA[compression], "digest": self.blob(b), "size": len(b)}
                for b in blobs
            ],
        }
        manifest_bytes = json.dumps(manifest).encode()
        descriptor: dict[str, object] = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": self.blob(manifest_bytes),
            "size": len(manifest_bytes),
            "platform": {"os": "linux", "architecture": arch},
        }
        if tag is not None:
            descriptor["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.manifests.append(descriptor)
        if write_index:
            self.write_index()
        return descriptor

    def write_index(self) -> None:
        index = {"schemaVersion": 2, "manifests": self.manifests}
        (self.root / "index.json").write_text(json.dumps(index))

    def layer_blob_paths(self, descriptor: dict[str, object]) -> list[Path]:
        digest = str(descriptor["digest"])
        manifest = json.loads((self.root / "blobs" / "sha256" / digest[7:]).read_bytes())
        return [
            self.root / "blobs" / "sha256" / layer["digest"][7:] for layer in manifest["layers"]
        ]


def oci_archive(layout: Path, target: Path) -> Path:
    with tarfile.open(target, "w") as archive:
        for path in sorted(layout.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(layout)), recursive=False)
    return target
