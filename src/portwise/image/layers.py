"""Read one layer, streamed and never extracted, into LayerFacts.

LayerFacts are what the cache stores: every member (path, kind, size, mode, link, mtime), the
device numbers of device nodes, the whiteouts and opaque directories, and each analyzer's
results keyed by path. Device nodes and FIFOs are recorded as facts: portwise never creates
files, and debootstrap-built base images carry /dev nodes. Merging layers is
a separate step (rootfs.py) so that a cached layer is never read again.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from portwise.image.analyzer import Analyzer
from portwise.image.blobstream import BlobError, BlobTooLarge, Digests, LayerByteStream
from portwise.image.tar import Member, TarFormatError, TarStream

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

# (path, kind, size, mode, link, mtime)
EntryRow = tuple[str, str, int, int, str, int]


class HostileMember(ValueError):
    """A member that no well-formed layer contains; `member` is its name as stored."""

    def __init__(self, member: str, problem: str) -> None:
        super().__init__(problem)
        self.member = member
        self.problem = problem


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile layer from exhausting the host; the user can raise them."""

    max_layer_unpacked: int = 32 << 30
    max_file_read: int = 256 << 20
    allow_device_nodes: bool = True  # deprecated, no effect: device nodes are always recorded


@dataclass
class LayerFacts:
    entries: list[EntryRow] = field(default_factory=list)
    devices: dict[str, list[int]] = field(default_factory=dict)  # path -> [major, minor]
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    analyses: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    unpacked_size: int = 0
    diff_id: str = ""

    def within_limits(self, wanting: Sequence[Analyzer], path: str, size: int) -> list[Analyzer]:
        """The analyzers whose own size limit (`max_bytes`) this file meets; a note for others."""
        kept = []
        for analyzer in wanting:
            limit = getattr(analyzer, "max_bytes", None)
            if limit is not None and size > limit:
                self.problems.append(
                    (
                        path,
                        f"{analyzer.name}: not read, {size} bytes is over its {limit}-byte limit",
                    )
                )
            else:
                kept.append(analyzer)
        return kept

    def analyze(self, wanting: Sequence[Analyzer], path: str, content: bytes) -> None:
        """Run the analyzers that asked for this file; a file one cannot read is a problem."""
        for analyzer in wanting:
            try:
                result = analyzer.analyze(path, content)
            except ValueError as exc:
                self.problems.append((path, f"{analyzer.name}: {exc}"))
                continue
            if result is not None:
                self.analyses[analyzer.name][path] = result

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "devices": self.devices,
            "whiteouts": self.whiteouts,
            "opaque": self.opaque,
            "analyses": self.analyses,
            "problems": self.problems,
            "unpacked_size": self.unpacked_size,
            "diff_id": self.diff_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerFacts:
        return cls(
            # JSON gives lists; every reader unpacks rows, so they are not converted (~50 ms)
            entries=cast(list[EntryRow], data["entries"]),
            devices={str(p): [int(n) for n in d] for p, d in data["devices"].items()},
            whiteouts=list(data["whiteouts"]),
            opaque=list(data["opaque"]),
            analyses=dict(data["analyses"]),
            problems=[(p, m) for p, m in data["problems"]],
            unpacked_size=int(data["unpacked_size"]),
            diff_id=str(data["diff_id"]),
        )


def normalize_member_name(name: str) -> str:
    """The member's path relative to the image root ("" for the root itself).

    Absolute names and `..` components are refused: a layer written by any real tool has
    neither, and honouring them is how extraction escapes the root.
    """
    if name.startswith("/"):
        raise HostileMember(name, "absolute member name (path traversal)")
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise HostileMember(name, "'..' in member name (path traversal)")
        parts.append(part)
    return "/".join(parts)


class _LayerReader:
    def __init__(self, analyzers: Sequence[Analyzer], limits: Limits) -> None:
        self.analyzers = analyzers
        self.limits = limits
        self.facts = LayerFacts(analyses={a.name: {} for a in analyzers})

    def add(self, member: Member, tar: TarStream) -> None:
        path = normalize_member_name(member.name)
        if not path:
            self._root_member(member)
            return
        base = posixpath.basename(path)
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(path, base, member)
            return
        link = member.link
        if member.kind == "hardlink":
            link = self._hardlink_target(member)
            if not link:
                return
        elif member.kind in ("chardev", "blockdev"):
            self.facts.devices[path] = [member.devmajor, member.devminor]
        self.facts.entries.append((path, member.kind, member.size, member.mode, link, member.mtime))
        if member.kind == "file":
            self._analyze_file(path, member, tar)
        elif member.kind == "hardlink":
            self._analyze_hardlink(path, link, member)

    def _root_member(self, member: Member) -> None:
        """A member naming the root itself. `./` as a directory is the root's own entry (what
        `tar -C root .` writes first): nothing to record. Any other kind named `.` or `./`,
        or an empty name, is skipped with a note."""
        if member.kind == "dir" and member.name:
            return
        what = f"named {member.name!r} (the image root)" if member.name else "with an empty name"
        self.facts.problems.append(("/", f"{member.kind} member {what}: skipped"))

    def _whiteout(self, path: str, base: str, member: Member) -> None:
        parent = posixpath.dirname(path)
        if base == OPAQUE_MARKER:
            self.facts.opaque.append(parent)
        elif base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # AUFS bookkeeping (.wh..wh.plnk and such), not part of the image
        else:
            hidden = base[len(WHITEOUT_PREFIX) :]
            if hidden in ("", ".", ".."):
                raise HostileMember(member.name, "whiteout of an invalid name")
            self.facts.whiteouts.append(posixpath.join(parent, hidden))

    def _hardlink_target(self, member: Member) -> str:
        if not member.link:
            raise HostileMember(member.name, "hardlink without a target")
        try:
            target = normalize_member_name(member.link)
        except HostileMember as exc:
            raise HostileMember(
                member.name, f"hardlink target {member.link!r} escapes the root: {exc.problem}"
            ) from None
        if not target:
            self.facts.problems.append((member.name, "hardlink to the root directory: skipped"))
        return target

    def _analyze_file(self, path: str, member: Member, tar: TarStream) -> None:
        wanting = [a for a in self.analyzers if a.wants(path, member.size, member.mode)]
        wanting = self.facts.within_limits(wanting, path, member.size) if wanting else wanting
        if not wanting:
            return
        content = tar.read_data(self.limits.max_file_read)
        if content is None:
            self.facts.problems.append(
                (path, f"not analysed: {member.size} bytes is over the per-file read limit")
            )
            return
        self.facts.analyze(wanting, path, content)

    def _analyze_hardlink(self, path: str, target: str, member: Member) -> None:
        """A hardlink shares its target's bytes: reuse the target's results under this path."""
        for analyzer in self.analyzers:
            results = self.facts.analyses[analyzer.name]
            if target in results and analyzer.wants(path, member.size, member.mode):
                results[path] = results[target]


def read_layer(
    raw: BinaryIO,
    analyzers: Sequence[Analyzer],
    limits: Limits,
    *,
    blob_algorithm: str = "sha256",
    content_algorithm: str = "sha256",
) -> tuple[LayerFacts, Digests]:
    """Stream one blob through decompression, hashing, tar parsing and the analyzers.

    Raises HostileMember, TarFormatError or BlobError; the caller adds the image and layer.
    """
    stream = LayerByteStream(raw, limits.max_layer_unpacked, blob_algorithm, content_algorithm)
    reader = _LayerReader(analyzers, limits)
    tar = TarStream(stream)
    try:
        for member in tar:
            try:
                reader.add(member, tar)
            except TarFormatError as exc:
                exc.member = exc.member or member.name
                raise
        tar.drain()
    except BlobError as exc:  # corrupt compressed data: say which member it broke in
        exc.member = tar.member
        raise
    finally:
        stream.close()
    reader.facts.unpacked_size = stream.digests.unpacked_bytes
    reader.facts.diff_id = stream.digests.content
    return reader.facts, stream.digests


__all__ = [
    "BlobError",
    "BlobTooLarge",
    "EntryRow",
    "HostileMember",
    "LayerFacts",
    "Limits",
    "TarFormatError",
    "normalize_member_name",
    "read_layer",
]
