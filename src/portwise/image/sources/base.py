"""What every image source hands to the scan: an ImageHandle of verified metadata and layer refs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from portwise.errors import ImageError
from portwise.image.analyzer import Analyzer
from portwise.image.layers import LayerFacts, Limits
from portwise.model.image import Platform

DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
MAX_JSON_BLOB = 16 << 20  # manifests and configs are kilobytes; anything this big is hostile
MAX_JSON_DEPTH = 64  # real ones nest under ten levels; json.loads recurses, pydantic too

MEDIA_INDEX = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MEDIA_MANIFEST = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


@dataclass(frozen=True)
class OpenOptions:
    platform: Platform | None = None
    all_platforms: bool = False
    tls_verify: bool = True
    authfile: Path | None = None  # registry credentials, as skopeo's --authfile
    creds: str | None = None  # USER[:PASSWORD], as skopeo's --src-creds
    work_dir: Path | None = None  # where skopeo may copy blobs; inside portwise's cache


@dataclass(frozen=True)
class LayerRef:
    """One layer blob: how to open it, and what it must hash to."""

    index: int
    digest: str | None
    diff_id: str | None
    media_type: str | None
    size: int | None
    opener: Callable[[], AbstractContextManager[BinaryIO]] | None = None
    # a source that is not a tar stream (a root directory) reads its own facts instead
    direct: Callable[[Sequence[Analyzer], Limits], LayerFacts] | None = None
    # a source with no digest may name its content cheaply (a root directory's tree signature)
    signature: Callable[[], str | None] | None = None

    @property
    def label(self) -> str:
        ident = self.digest or self.diff_id or "(no digest)"
        return f"#{self.index} {ident[:19]}"


@dataclass(frozen=True)
class ImageHandle:
    reference: str
    source: str
    manifest_digest: str | None
    config_digest: str | None
    config: dict[str, Any]
    platform: Platform
    layers: list[LayerRef]
    cacheable: bool = True


def check_digest(image: str, digest: str, where: str) -> str:
    """A digest is also a file name below blobs/: only well-formed ones are accepted."""
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise ImageError(image, f"malformed digest {digest!r} in {where}")
    return digest


def verify_bytes(image: str, data: bytes, digest: str, what: str) -> None:
    algorithm, _, expected = digest.partition(":")
    actual = hashlib.new(algorithm, data).hexdigest()
    if actual != expected:
        raise ImageError(
            image,
            f"digest mismatch for {what}: expected {digest}, content is {algorithm}:{actual}",
        )


def descriptor_size(image: str, descriptor: dict[str, Any], what: str) -> int | None:
    """The size a descriptor states (None when it states none); anything else is an error."""
    size = descriptor.get("size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImageError(image, f"{what} descriptor has a malformed size {size!r}")
    return size


def verify_size(image: str, data: bytes, descriptor: dict[str, Any], what: str) -> None:
    size = descriptor_size(image, descriptor, what)
    if size is not None and size != len(data):
        raise ImageError(
            image, f"size mismatch for {what}: the descriptor says {size} bytes, it has {len(data)}"
        )


def parse_json(image: str, data: bytes, what: str) -> Any:
    """JSON from an image; nesting deeper than any real manifest or config is an error."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImageError(image, f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        value = None  # deeper than the interpreter's stack: certainly over the limit
        depth = MAX_JSON_DEPTH + 1
    else:
        depth = _depth(value)
    if depth > MAX_JSON_DEPTH:
        raise ImageError(
            image, f"{what} nests JSON more than {MAX_JSON_DEPTH} levels deep (hostile?)"
        )
    return value


def _depth(value: Any) -> int:
    """Nesting depth, walked without recursion (the value may be a thousand levels deep)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


def expect_object(image: str, value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ImageError(image, f"{what} must be a JSON object, found {type(value).__name__}")
    return value


def platform_of_config(image: str, config: dict[str, Any]) -> Platform:
    os_name, arch = config.get("os"), config.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str):
        raise ImageError(image, "image config lacks 'os' or 'architecture'")
    variant = config.get("variant")
    return Platform(os=os_name, architecture=arch, variant=variant if variant else None)


def diff_ids_of(image: str, config: dict[str, Any], layer_count: int) -> list[str | None]:
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list):
        raise ImageError(image, "image config has no rootfs.diff_ids list")
    if len(ids) != layer_count:
        raise ImageError(
            image, f"config lists {len(ids)} diff_ids but the manifest has {layer_count} layers"
        )
    return [check_digest(image, d, "config rootfs.diff_ids") for d in ids]


def parse_platform(text: str) -> Platform:
    """`os/arch[/variant]` as docker and podman spell it, e.g. linux/arm64/v8."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"platform {text!r} is not os/arch[/variant]")
    return Platform(
        os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None
    )


def platform_matches(wanted: Platform, offered: Platform) -> bool:
    if (wanted.os, wanted.architecture) != (offered.os, offered.architecture):
        return False
    return wanted.variant is None or wanted.variant == offered.variant
