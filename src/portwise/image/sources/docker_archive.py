"""docker-archive tarballs (`docker save`, `podman save`): manifest.json -> config + layer files."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

from portwise.errors import ImageError
from portwise.image.sources.base import (
    ImageHandle,
    LayerRef,
    diff_ids_of,
    expect_object,
    parse_json,
    platform_of_config,
)
from portwise.image.sources.stores import TarStore, read_bounded


def _member_name(image: str, value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ImageError(image, f"manifest.json: {what} is not a file name")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if value.startswith("/") or ".." in parts:
        raise ImageError(image, f"manifest.json: {what} {value!r} points outside the archive")
    return "/".join(parts)


def read_docker_archive(store: TarStore, tag: str | None) -> list[ImageHandle]:
    image = store.image
    with store.open("manifest.json") as stream:
        raw = read_bounded(image, stream, "manifest.json")
    entries = parse_json(image, raw, "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise ImageError(image, "manifest.json must be a non-empty list")
    entries = [expect_object(image, e, "manifest.json entry") for e in entries]
    if tag is not None:
        entries = [e for e in entries if tag in (e.get("RepoTags") or [])]
        if not entries:
            raise ImageError(image, f"no image tagged {tag!r} in the archive")
    elif len(entries) > 1:
        tags = [t for e in entries for t in (e.get("RepoTags") or [])]
        raise ImageError(image, f"the archive holds {len(entries)} images; name one: {tags}")
    entry = entries[0]
    config_name = _member_name(image, entry.get("Config"), "Config")
    with store.open(config_name) as stream:
        config_bytes = read_bounded(image, stream, config_name)
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    stem = config_name.rsplit("/", 1)[-1].removesuffix(".json")
    if len(stem) == 64 and all(c in "0123456789abcdef" for c in stem) and stem != config_digest[7:]:
        raise ImageError(
            image, f"digest mismatch for config {config_name}: content is {config_digest}"
        )
    config = expect_object(image, parse_json(image, config_bytes, config_name), "image config")
    layer_names = entry.get("Layers")
    if not isinstance(layer_names, list):
        raise ImageError(image, "manifest.json entry has no Layers list")
    diff_ids = diff_ids_of(image, config, len(layer_names))
    layers = []
    for position, name in enumerate(layer_names):
        member = _member_name(image, name, f"layer {position}")
        if not store.exists(member):
            raise ImageError(image, f"missing layer file {member!r}", layer=f"#{position}")
        layers.append(
            LayerRef(
                index=position,
                digest=None,
                diff_id=diff_ids[position],
                media_type=None,
                # a hardlinked member stores no bytes of its own: its size says nothing
                size=store.members[member].size if store.members[member].isfile() else None,
                opener=partial(store.open, member),
            )
        )
    return [
        ImageHandle(
            reference=image,
            source="docker-archive",
            manifest_digest=None,
            config_digest=config_digest,
            config=config,
            platform=platform_of_config(image, config),
            layers=layers,
        )
    ]
