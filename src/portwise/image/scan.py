"""Scan orchestration: open the image, read each layer once (or take it from the cache), merge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from portwise.errors import ImageError
from portwise.image.analyzer import Analyzer
from portwise.image.analyzers import DEFAULT_ANALYZERS, analyzers_key
from portwise.image.cache import LayerCache, default_cache_dir
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
from portwise.model.image import ImageProfile, Platform

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
    key_of_analyzers = analyzers_key(options.analyzers)
    facts: list[LayerFacts] = []
    cached: list[bool] = []
    for layer in handle.layers:
        content_id = layer.diff_id or layer.digest
        key = None
        if cache is not None and handle.cacheable and content_id:
            key = LayerCache.key(content_id, key_of_analyzers)
        hit = cache.get(key) if cache is not None and key is not None else None
        if progress is not None:
            progress(handle.reference, layer.index, len(handle.layers), hit is not None)
        if hit is None:
            hit = read_one_layer(handle.reference, layer, options.analyzers, options.limits)
            if cache is not None and key is not None:
                cache.put(key, hit)
            cached.append(False)
        else:
            cached.append(True)
        facts.append(hit)
    try:
        view = MergedView.from_layers(facts)
    except LayerConflict as exc:
        label = handle.layers[exc.layer].label
        raise ImageError(handle.reference, exc.problem, layer=label, member=exc.member) from None
    return ProfileBuilder(handle, facts, view, cached, options.analyzers).build()


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
        raise ImageError(image, str(exc), layer=label, hint=hint) from None
    except OSError as exc:
        raise ImageError(image, f"cannot read layer: {exc}", layer=label) from None
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
