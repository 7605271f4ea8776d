"""OCI image layouts (a directory or an archive of one): index -> manifest -> config + layers."""

from __future__ import annotations

import platform as host_platform
from functools import partial
from typing import Any

from portwise.errors import ImageError
from portwise.image.sources.base import (
    MEDIA_INDEX,
    MEDIA_MANIFEST,
    ImageHandle,
    LayerRef,
    OpenOptions,
    check_digest,
    descriptor_size,
    diff_ids_of,
    expect_object,
    parse_json,
    platform_matches,
    platform_of_config,
    verify_bytes,
    verify_size,
)
from portwise.image.sources.stores import BlobStore, read_bounded
from portwise.model.image import Platform

REF_NAME = "org.opencontainers.image.ref.name"
LAYER_MEDIA_TYPES = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
}
MACHINE_TO_OCI = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def host_default_platform() -> Platform:
    machine = host_platform.machine()
    return Platform(os="linux", architecture=MACHINE_TO_OCI.get(machine, machine))


def blob_path(digest: str) -> str:
    algorithm, _, hexa = digest.partition(":")
    return f"blobs/{algorithm}/{hexa}"


def read_blob(store: BlobStore, descriptor: dict[str, Any], what: str) -> Any:
    digest = check_digest(store.image, descriptor.get("digest", ""), what)
    with store.open(blob_path(digest)) as stream:
        data = read_bounded(store.image, stream, f"{what} {digest}")
    verify_size(store.image, data, descriptor, f"{what} {digest}")
    verify_bytes(store.image, data, digest, what)
    return parse_json(store.image, data, f"{what} {digest}")


class OciReader:
    def __init__(self, store: BlobStore, source: str, options: OpenOptions) -> None:
        self.store = store
        self.image = store.image
        self.source = source
        self.platform = options.platform
        self.all_platforms = options.all_platforms

    def images(self, tag: str | None) -> list[ImageHandle]:
        if "imageLayoutVersion" not in self._json_file("oci-layout"):
            raise ImageError(self.image, "oci-layout has no imageLayoutVersion")
        index = self._json_file("index.json")
        manifests = self._descriptors(index, "index.json")
        if tag is not None:
            chosen = [d for d in manifests if d.get("annotations", {}).get(REF_NAME) == tag]
            if not chosen:
                tags = sorted(str(d.get("annotations", {}).get(REF_NAME)) for d in manifests)
                raise ImageError(self.image, f"no image tagged {tag!r}; tags: {', '.join(tags)}")
            return self._resolve(chosen[0])
        if len(manifests) == 1:
            return self._resolve(manifests[0])
        if all("platform" in d for d in manifests):
            return self._from_index(manifests, "index.json")
        tags = sorted(str(d.get("annotations", {}).get(REF_NAME)) for d in manifests)
        raise ImageError(
            self.image,
            f"the layout holds {len(manifests)} images; name one with :TAG ({', '.join(tags)})",
        )

    def _json_file(self, name: str) -> dict[str, Any]:
        with self.store.open(name) as stream:
            data = read_bounded(self.image, stream, name)
        return expect_object(self.image, parse_json(self.image, data, name), name)

    def _descriptors(self, index: dict[str, Any], what: str) -> list[dict[str, Any]]:
        manifests = index.get("manifests")
        if not isinstance(manifests, list) or not manifests:
            raise ImageError(self.image, f"{what} lists no manifests")
        return [expect_object(self.image, d, f"descriptor in {what}") for d in manifests]

    def _resolve(self, descriptor: dict[str, Any]) -> list[ImageHandle]:
        media = descriptor.get("mediaType")
        if media in MEDIA_INDEX:
            child = expect_object(
                self.image, read_blob(self.store, descriptor, "image index"), "image index"
            )
            return self._from_index(self._descriptors(child, "image index"), "image index")
        return [self._image(descriptor)]

    def _from_index(self, children: list[dict[str, Any]], what: str) -> list[ImageHandle]:
        offered: list[tuple[Platform, dict[str, Any]]] = []
        for child in children:
            raw = child.get("platform")
            if not isinstance(raw, dict) or raw.get("os") == "unknown":
                continue  # attestations and other non-runnable entries
            offered.append(
                (
                    Platform(
                        os=str(raw.get("os")),
                        architecture=str(raw.get("architecture")),
                        variant=raw.get("variant") or None,
                    ),
                    child,
                )
            )
        if self.all_platforms:
            return [self._image(child) for _, child in offered]
        wanted = self.platform or host_default_platform()
        for plat, child in offered:
            if platform_matches(wanted, plat):
                return [self._image(child)]
        listed = ", ".join(str(p) for p, _ in offered)
        raise ImageError(
            self.image,
            f"{what} has no image for {wanted}; it offers {listed}",
            hint="choose one with --platform, or scan them all with --all-platforms",
        )

    def _image(self, descriptor: dict[str, Any]) -> ImageHandle:
        media = descriptor.get("mediaType")
        if media is not None and media not in MEDIA_MANIFEST:
            raise ImageError(self.image, f"unsupported manifest media type {media!r}")
        manifest_digest = descriptor.get("digest")
        manifest = expect_object(
            self.image, read_blob(self.store, descriptor, "manifest"), "manifest"
        )
        if manifest.get("schemaVersion") != 2:
            raise ImageError(self.image, "manifest schemaVersion is not 2")
        config_desc = expect_object(self.image, manifest.get("config"), "manifest config")
        config = expect_object(
            self.image, read_blob(self.store, config_desc, "config"), "image config"
        )
        layers_raw = manifest.get("layers")
        if not isinstance(layers_raw, list):
            raise ImageError(self.image, "manifest has no layers list")
        diff_ids = diff_ids_of(self.image, config, len(layers_raw))
        layers = []
        for position, raw in enumerate(layers_raw):
            layer = expect_object(self.image, raw, "layer descriptor")
            digest = check_digest(self.image, layer.get("digest", ""), "layer descriptor")
            media_type = layer.get("mediaType")
            if media_type is not None and media_type not in LAYER_MEDIA_TYPES:
                raise ImageError(
                    self.image,
                    f"unsupported layer media type {media_type!r}",
                    layer=f"#{position} {digest[:19]}",
                )
            size = descriptor_size(self.image, layer, f"layer #{position} {digest[:19]}")
            layers.append(
                LayerRef(
                    index=position,
                    digest=digest,
                    diff_id=diff_ids[position],
                    media_type=media_type,
                    size=size,
                    opener=partial(self.store.open, blob_path(digest)),
                )
            )
        return ImageHandle(
            reference=self.image,
            source=self.source,
            manifest_digest=manifest_digest,
            config_digest=config_desc.get("digest"),
            config=config,
            platform=platform_of_config(self.image, config),
            layers=layers,
        )
