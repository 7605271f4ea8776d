"""One entry point for every kind of image reference.

oci:PATH[:TAG]             OCI image layout directory
oci-archive:PATH[:TAG]     tarball of an OCI layout
docker-archive:PATH[:REF]  `docker save` / `podman save` output
rootfs:PATH                plain root filesystem, directory or tarball (gzip/zstd/none)
containers-storage:REF     the local podman/buildah store (via skopeo)
docker://HOST/REPO:TAG     a registry (via skopeo)
PATH                       any of the local kinds, recognised by its content
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from portwise.errors import ImageError
from portwise.image.sources.base import ImageHandle, LayerRef, OpenOptions, parse_platform
from portwise.image.sources.docker_archive import read_docker_archive
from portwise.image.sources.oci import OciReader
from portwise.image.sources.rootfs import directory_image, tarball_image
from portwise.image.sources.skopeo import skopeo_copy
from portwise.image.sources.stores import DirectoryStore, open_archive

__all__ = ["ImageHandle", "LayerRef", "OpenOptions", "open_image", "parse_platform"]

LOCAL_TRANSPORTS = ("oci:", "oci-archive:", "docker-archive:", "rootfs:")
SKOPEO_TRANSPORTS = ("docker://", "containers-storage:")


def _split_tag(spec: str) -> tuple[Path, str | None]:
    """PATH[:TAG], preferring the longest prefix that exists (paths may contain ':')."""
    if Path(spec).exists():
        return Path(spec), None
    cut = spec.rfind(":")
    while cut > 0:
        if Path(spec[:cut]).exists():
            return Path(spec[:cut]), spec[cut + 1 :]
        cut = spec.rfind(":", 0, cut)
    raise ImageError(spec, "no such file or directory")


ROOTFS_TOP = {"bin", "etc", "lib", "usr", "var", "sbin", "opt", "root", "home"}


def _sniff_archive(reference: str, path: Path) -> str:
    """Tell an OCI archive, a docker archive and a root filesystem tarball apart."""
    try:
        with tarfile.open(path, "r:*") as archive:
            for info in archive:
                name = info.name.removeprefix("./").rstrip("/")
                if name == "oci-layout":
                    return "oci-archive"
                if name == "manifest.json":
                    return "docker-archive"
                if name.split("/", 1)[0] in ROOTFS_TOP:
                    return "rootfs"  # image archives never hold these at the top
    except (tarfile.TarError, OSError, EOFError):
        pass  # zstd or corrupt: the layer reader gives the precise error
    return "rootfs"


def _local_kind(reference: str) -> tuple[str, str]:
    for transport in LOCAL_TRANSPORTS:
        if reference.startswith(transport):
            return transport[:-1], reference[len(transport) :]
    path = Path(reference)
    if path.is_dir():
        return ("oci" if (path / "oci-layout").exists() else "rootfs"), reference
    if path.is_file():
        return _sniff_archive(reference, path), reference
    raise ImageError(
        reference,
        "neither an existing path nor a known transport",
        hint="use oci:, oci-archive:, docker-archive:, rootfs:, containers-storage: or docker://",
    )


@contextmanager
def open_image(reference: str, options: OpenOptions) -> Iterator[list[ImageHandle]]:
    """The image(s) `reference` names; several only for --all-platforms on an index."""
    if reference.startswith(SKOPEO_TRANSPORTS):
        with _via_skopeo(reference, options) as images:
            yield images
        return
    kind, spec = _local_kind(reference)
    path, tag = _split_tag(spec) if kind != "rootfs" else (Path(spec), None)
    if kind == "rootfs" and not path.exists():
        raise ImageError(spec, "no such file or directory")
    if kind == "oci":
        if not path.is_dir():
            raise ImageError(reference, f"oci: expects an OCI layout directory, got {path}")
        yield OciReader(DirectoryStore(reference, path), "oci-layout", options).images(tag)
    elif kind == "oci-archive":
        with open_archive(reference, path) as store:
            yield OciReader(store, "oci-archive", options).images(tag)
    elif kind == "docker-archive":
        with open_archive(reference, path) as store:
            yield read_docker_archive(store, tag)
    elif path.is_dir():
        yield [directory_image(reference, path, options.platform)]
    else:
        yield [tarball_image(reference, path, options.platform)]


@contextmanager
def _via_skopeo(reference: str, options: OpenOptions) -> Iterator[list[ImageHandle]]:
    base = options.work_dir
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="skopeo-", dir=base))
    try:
        layout = scratch / "layout"
        skopeo_copy(
            reference,
            layout,
            platform=options.platform,
            all_platforms=options.all_platforms,
            tls_verify=options.tls_verify,
            authfile=options.authfile,
            creds=options.creds,
        )
        source = "registry" if reference.startswith("docker://") else "containers-storage"
        reader = OciReader(DirectoryStore(reference, layout), source, options)
        yield reader.images("image")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
