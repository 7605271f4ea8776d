"""Scan orchestration: open the image, read each layer once (or take it from the cache), merge."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from portwise.errors import ImageError
from portwise.image import factfiles
from portwise.image.analyzer import Analyzer
from portwise.image.analyzers import DEFAULT_ANALYZERS, analyzers_key
from portwise.image.blobstream import compression_of
from portwise.image.cache import CACHE_SCHEMA, LayerCache, code_fingerprint, default_cache_dir
from portwise.image.layers import (
    BlobError,
    BlobTooLarge,
    HostileMember,
    LayerFacts,
    Limits,
    TarFormatError,
    read_layer,
)
from portwise.image.merged import LayerConflict, MergedView
from portwise.image.profile import ProfileBuilder
from portwise.image.sources import ImageHandle, LayerRef, OpenOptions, open_image, parse_platform
from portwise.image.sources.base import platform_matches
from portwise.model.image import IMAGE_SCHEMA_VERSION, ImageProfile, Platform, Unknown

# called as (image reference, layer index, layer count, cached?) before each layer is read
LayerProgress = Callable[[str, int, int, bool], None]


@dataclass(frozen=True)
class ScanOptions:
    platform: str | None = None
    all_platforms: bool = False
    cache_dir: Path | None = None
    use_cache: bool = True
    tls_verify: bool = True
    authfile: Path | None = None  # registry credentials file (skopeo --authfile)
    creds: str | None = None  # USER[:PASSWORD] for the registry (skopeo --src-creds)
    limits: Limits = field(default_factory=Limits)
    analyzers: tuple[Analyzer, ...] = DEFAULT_ANALYZERS


def scan(
    reference: str, options: ScanOptions, progress: LayerProgress | None = None
) -> list[ImageProfile]:
    """Profiles of the image(s) `reference` names: one, or one per platform."""
    cache_dir = options.cache_dir or default_cache_dir()
    cache = LayerCache(cache_dir) if options.use_cache else None
    open_options = OpenOptions(
        platform=parse_platform(options.platform) if options.platform else None,
        all_platforms=options.all_platforms,
        tls_verify=options.tls_verify,
        authfile=options.authfile,
        creds=options.creds,
        work_dir=cache_dir / "tmp",
    )
    try:
        with open_image(reference, open_options) as handles:
            for handle in handles:
                _check_platform(handle, open_options.platform)
            return [_scan_one(h, options, cache, progress) for h in handles]
    finally:
        if cache is not None:
            cache.close()


def _scan_one(
    handle: ImageHandle,
    options: ScanOptions,
    cache: LayerCache | None,
    progress: LayerProgress | None,
) -> ImageProfile:
    # the layer facts' own shape follows the image schema: a new schema is a new cache key
    key_of_analyzers = f"image-schema@{IMAGE_SCHEMA_VERSION},{analyzers_key(options.analyzers)}"
    count = len(handle.layers)
    keys = _layer_keys(handle, options, key_of_analyzers) if cache is not None else [None] * count
    image_key = _profile_key(handle, keys) if all(keys) else None
    if cache is not None and image_key is not None:
        known = cache.get_profile(image_key)
        if known is not None:  # every layer and the code unchanged: the profile as built before
            for layer in handle.layers:
                if progress is not None:
                    progress(handle.reference, layer.index, count, True)
            layers = [layer.model_copy(update={"from_cache": True}) for layer in known.layers]
            return known.model_copy(update={"layers": layers})
    facts: list[LayerFacts] = []
    cached: list[bool] = []
    for layer, key in zip(handle.layers, keys, strict=True):
        hit = cache.get(key) if cache is not None and key is not None else None
        if progress is not None:
            progress(handle.reference, layer.index, count, hit is not None)
        if hit is None:
            hit = read_one_layer(handle.reference, layer, options.analyzers, options.limits)
            if cache is not None and key is not None:
                if _unchanged(layer, key):
                    cache.put(key, hit)
                else:
                    image_key = None  # the directory changed while it was read: cache nothing
            cached.append(False)
        else:
            cached.append(True)
        facts.append(hit)
    try:
        view = MergedView.from_layers(facts)
    except LayerConflict as exc:
        label = handle.layers[exc.layer].label
        raise ImageError(handle.reference, exc.problem, layer=label, member=exc.member) from None
    for index, aliases in factfiles.unread(view, facts, options.analyzers).items():
        layer = handle.layers[index]
        extra = read_one_layer(handle.reference, layer, aliases, options.limits)
        factfiles.merge(facts[index], aliases, extra)
        key = keys[index]
        if cache is not None and key is not None:
            cache.put(key, facts[index])  # the next scan finds them read
    notes = [note for layer in handle.layers if (note := label_note(handle.reference, layer))]
    profile = ProfileBuilder(handle, facts, view, cached, options.analyzers, notes).build()
    if cache is not None and image_key is not None:
        cache.put_profile(image_key, profile)
    return profile


def _layer_keys(handle: ImageHandle, options: ScanOptions, analyzers: str) -> list[str | None]:
    """The cache key of each layer: its content digest, or a directory's tree signature, with
    the analyzers' versions and the limits that change what reading records or refuses."""
    if not handle.cacheable:
        return [None] * len(handle.layers)
    limits = f"{options.limits.max_file_read}"  # device nodes are always recorded now
    keys: list[str | None] = []
    for layer in handle.layers:
        content_id = layer.diff_id or layer.digest
        if content_id is None and layer.signature is not None:
            content_id = layer.signature()
        keys.append(LayerCache.key(content_id, analyzers, limits) if content_id else None)
    return keys


def _unchanged(layer: LayerRef, key: str) -> bool:
    """A tree signature taken again after reading must equal the one the key holds."""
    if layer.diff_id or layer.digest or layer.signature is None:
        return True
    after = layer.signature()
    return after is not None and f"|{after}|" in key


def _profile_key(handle: ImageHandle, layer_keys: Sequence[str | None]) -> str:
    """A whole profile depends on its layers, the image's metadata and portwise's own code."""
    parts = [
        CACHE_SCHEMA,
        code_fingerprint(),
        handle.reference,
        handle.source,
        handle.manifest_digest,
        handle.config_digest,
        handle.platform.model_dump(mode="json"),
        handle.config,
        list(layer_keys),
    ]
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return f"v{CACHE_SCHEMA}|profile|{hashlib.sha256(text.encode()).hexdigest()}"


def _labelled(media_type: str) -> str | None:
    if media_type.endswith(("+gzip", ".tar.gzip")):
        return "gzip"
    if media_type.endswith("+zstd"):
        return "zstd"
    return "none" if media_type.endswith(".tar") else None


def label_note(image: str, layer: LayerRef) -> Unknown | None:
    """A layer whose media type names another compression than its bytes have: read by its
    magic (as containerd does), with a warning. Sniffed apart from the read, so a layer
    taken from the cache is checked too; a blob that cannot be opened is left to the read."""
    said = _labelled(layer.media_type or "")
    if said is None or layer.opener is None:
        return None
    try:
        with layer.opener() as raw:
            found = compression_of(raw.read(4))
    except (ImageError, OSError):
        return None
    if found == said:
        return None
    what = {"none": "neither gzip nor zstd (plain tar?)"}.get(found, f"{found} data")
    return Unknown(
        location=f"layer {layer.label}",
        layer=layer.index,
        message=f"media type {layer.media_type} says {said}, but the blob is {what}:"
        " read by its content",
    )


def read_one_layer(
    image: str, layer: LayerRef, analyzers: Sequence[Analyzer], limits: Limits
) -> LayerFacts:
    """Read and verify one layer; every failure names the image, the layer and the member."""
    if layer.direct is not None:
        return layer.direct(analyzers, limits)
    assert layer.opener is not None
    label = layer.label
    try:
        with layer.opener() as raw:
            facts, digests = read_layer(
                raw,
                analyzers,
                limits,
                blob_algorithm=_algorithm(layer.digest),
                content_algorithm=_algorithm(layer.diff_id),
            )
    except HostileMember as exc:
        raise ImageError(image, exc.problem, layer=label, member=exc.member) from None
    except TarFormatError as exc:
        raise ImageError(
            image, f"not a valid tar stream: {exc}", layer=label, member=exc.member
        ) from None
    except BlobError as exc:
        hint = "raise the limit with --max-layer-size" if isinstance(exc, BlobTooLarge) else None
        raise ImageError(image, str(exc), layer=label, member=exc.member, hint=hint) from None
    except OSError as exc:
        raise ImageError(image, f"cannot read layer: {exc}", layer=label) from None
    if layer.size is not None and digests.blob_bytes != layer.size:
        raise ImageError(
            image,
            f"size mismatch: the descriptor says {layer.size} bytes, the blob has"
            f" {digests.blob_bytes}",
            layer=label,
        )
    if layer.digest and digests.blob != layer.digest:
        raise ImageError(
            image,
            f"digest mismatch: the manifest says {layer.digest}, the blob is {digests.blob}",
            layer=label,
        )
    if layer.diff_id and digests.content != layer.diff_id:
        raise ImageError(
            image,
            f"diff_id mismatch: the config says {layer.diff_id}, the content is {digests.content}",
            layer=label,
        )
    return facts


def _algorithm(digest: str | None) -> str:
    """The hash a digest names; check_digest already limited it to sha256 or sha512."""
    return digest.partition(":")[0] if digest else "sha256"


def _check_platform(handle: ImageHandle, wanted: Platform | None) -> None:
    """--platform on a single-platform image must match it, not be silently ignored."""
    offered = handle.platform
    if wanted is None or offered.architecture == "unknown" or platform_matches(wanted, offered):
        return
    raise ImageError(
        handle.reference,
        f"the image is {offered}, not {wanted}",
        hint="drop --platform, or name an image built for that platform",
    )
