"""The merged view of an image's layers: path -> node, with whiteouts replayed, in memory.

Symlinks resolve inside the image root only: absolute targets start at the image root, `..`
stops at the root, and a loop is reported rather than followed forever.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from portwise.image.layers import HostileMember, LayerFacts
from portwise.model.image import FileEntry

MAX_SYMLINK_HOPS = 40  # the kernel's own limit (MAXSYMLINKS)


def _parent(path: str) -> str:
    """posixpath.dirname for normalised paths, without its cost in the per-file loop."""
    return path.rpartition("/")[0]


# A node of the view is the profile's own FileEntry (path with its leading "/"): the view is
# built once per scan and its nodes go into the profile as they are, with no second copy.
Node = FileEntry


class SymlinkLoop(ValueError):
    """Resolving a path met more symlinks than the kernel would follow."""


class LayerConflict(ValueError):
    """Layers that no real engine could stack; `layer` and `member` say where."""

    def __init__(self, layer: int, member: str, problem: str) -> None:
        super().__init__(problem)
        self.layer = layer
        self.member = member
        self.problem = problem


class MergedView:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.notes: list[tuple[int, str, str]] = []  # (layer, path, what was skipped and why)
        # parent -> children, built only when first needed (whiteouts, listings): most
        # rescans never need it, and keeping it costs a third of the merge
        self._index: dict[str, set[str]] | None = None

    @property
    def _children(self) -> dict[str, set[str]]:
        if self._index is None:
            index: dict[str, set[str]] = {}
            for path in self.nodes:
                index.setdefault(_parent(path), set()).add(path)
            self._index = index
        return self._index

    @classmethod
    def from_layers(cls, layers: Sequence[LayerFacts]) -> MergedView:
        view = cls()
        for index, facts in enumerate(layers):
            view.apply(index, facts)
        return view

    def apply(self, index: int, facts: LayerFacts) -> None:
        """Stack one layer: its whiteouts hide lower layers only, then its entries land."""
        for directory in facts.opaque:
            for child in list(self._children.get(directory, ())):
                self._remove(child)
        for path in facts.whiteouts:
            self._remove(path)
        nodes = self.nodes
        for path, kind, size, mode, link, mtime in facts.entries:
            parent = nodes.get(path.rpartition("/")[0])
            if parent is None or parent.kind != "dir":  # the common case costs one lookup
                self._check_parents(index, path)
            if kind == "hardlink":
                target = nodes.get(link)
                if target is None:
                    raise LayerConflict(index, path, f"hardlink to {link!r}, which does not exist")
                if target.kind == "dir":  # link(2) refuses it; no engine extracts one
                    self.notes.append((index, path, f"hardlink to directory /{link}: skipped"))
                    continue
            old = nodes.get(path)
            if old is not None and old.kind == "dir" and kind != "dir":
                self._remove(path)
            shown_link = ("/" + link if kind == "hardlink" else link) or None
            numbers = facts.devices.get(path) if kind in ("chardev", "blockdev") else None
            nodes[path] = FileEntry(
                "/" + path,
                kind,  # type: ignore[arg-type]
                index,
                size,
                mode,
                shown_link,
                mtime,
                (numbers[0], numbers[1]) if numbers else None,
            )
            if self._index is not None:
                self._index.setdefault(_parent(path), set()).add(path)

    def _check_parents(self, index: int, path: str) -> None:
        """A member below a symlink would be written through it on extraction: refuse it."""
        parent = _parent(path)
        while parent:
            node = self.nodes.get(parent)
            if node is not None:
                if node.kind == "symlink":
                    raise LayerConflict(
                        index, path, f"member is below symlink {parent!r} -> {node.link!r}"
                    )
                if node.kind != "dir":
                    raise LayerConflict(index, path, f"member is below non-directory {parent!r}")
                return
            parent = _parent(parent)

    def _remove(self, path: str) -> None:
        if self.nodes.pop(path, None) is not None:
            siblings = self._children.get(_parent(path))
            if siblings is not None:
                siblings.discard(path)
        for child in list(self._children.pop(path, ())):
            self._remove(child)

    def children(self, directory: str) -> list[str]:
        return sorted(self._children.get(directory, ()))

    def get(self, path: str) -> Node | None:
        return self.nodes.get(path)

    def resolve(self, path: str) -> str:
        """The path after following every symlink in it, inside the image root.

        The result may not exist (a dangling link resolves to its target's path).
        Raises SymlinkLoop.
        """
        pending = [p for p in path.split("/") if p not in ("", ".")]
        pending.reverse()
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop()
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/".join([*resolved, part])
            node = self.nodes.get(candidate)
            if node is not None and node.kind == "symlink":
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise SymlinkLoop(f"too many levels of symbolic links resolving /{path}")
                link = node.link or ""
                if link.startswith("/"):
                    resolved = []
                target = [p for p in link.split("/") if p not in ("", ".")]
                pending.extend(reversed(target))
                continue
            resolved.append(part)
        return "/".join(resolved)

    def lookup(self, path: str) -> tuple[str, Node] | None:
        """Resolve and fetch; None when the path does not exist or loops."""
        try:
            real = self.resolve(path)
        except SymlinkLoop:
            return None
        node = self.nodes.get(real)
        return (real, node) if node is not None else None

    def __iter__(self) -> Iterator[tuple[str, Node]]:
        return iter(sorted(self.nodes.items()))


__all__ = ["HostileMember", "LayerConflict", "MergedView", "Node", "SymlinkLoop"]
