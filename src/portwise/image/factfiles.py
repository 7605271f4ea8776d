"""The files facts are read from (os-release, package databases), found through the image's own
symlinks, and a second look at those that a symlink leads somewhere no analyzer asked for.

A layer is read before the image is merged, so an analyzer chooses files by the path they have
in the layer. `/var/lib/dpkg -> /usr/share/dpkg-db` or `/etc/os-release -> /opt/os-release`
only shows after the merge: the file then sits at a path nobody wanted, and its layer is read
once more for it alone, under the path the fact is known by.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from portwise.image.analyzer import Analyzer
from portwise.image.analyzers.osrelease import PATHS as OS_RELEASE_PATHS
from portwise.image.layers import LayerFacts
from portwise.image.merged import MergedView, SymlinkLoop
from portwise.image.packages import apk, dpkg, rpm

REGULAR = ("file", "hardlink")


def status_d_paths(view: MergedView) -> list[str]:
    """dpkg status.d stanza files, by the path dpkg knows them (the directory may be a link)."""
    try:
        real = view.resolve(dpkg.STATUS_DIR)
    except SymlinkLoop:
        return []
    names = (child.rpartition("/")[2] for child in view.children(real))
    return sorted(f"{dpkg.STATUS_DIR}/{n}" for n in names if not n.endswith(".md5sums"))


def fact_paths(view: MergedView) -> Iterator[tuple[str, str]]:
    """(analyzer, path) of every file a fact is read from, as the distribution names it."""
    for path in OS_RELEASE_PATHS:
        yield "os-release", path
    yield "dpkg", dpkg.STATUS_PATH
    for path in status_d_paths(view):
        yield "dpkg", path
    for path in rpm.DATABASE_PATHS:
        yield "rpm", path
    yield "apk", apk.INSTALLED_PATH


class Alias:
    """Runs `analyzer` on the file at `real` as though it were at `logical` (the analyzer may
    choose its parser by path: rpm's formats). A hardlink's bytes are its target's."""

    def __init__(
        self, analyzer: Analyzer, real: str, logical: str, target: str | None = None
    ) -> None:
        self.analyzer = analyzer
        self.name = analyzer.name
        self.version = analyzer.version
        self.max_bytes: int | None = getattr(analyzer, "max_bytes", None)
        self.real = real
        self.logical = logical
        self.target = target

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path in (self.real, self.target)

    def analyze(self, path: str, content: bytes) -> Any:
        return self.analyzer.analyze(self.logical, content)


def unread(
    view: MergedView, layers: Sequence[LayerFacts], analyzers: Sequence[Analyzer]
) -> dict[int, list[Alias]]:
    """Per layer, the fact files a symlink leads to that no analyzer read there."""
    by_name = {a.name: a for a in analyzers}
    wanted: dict[int, list[Alias]] = {}
    for name, logical in fact_paths(view):
        analyzer = by_name.get(name)
        found = view.lookup(logical)
        if analyzer is None or found is None:
            continue
        real, node = found
        if real == logical or node.kind not in REGULAR:
            continue  # read where it lies, or not a file: the profile notes it
        facts = layers[node.layer]
        if real in facts.analyses.get(name, {}) or analyzer.wants(real, node.size, node.mode):
            continue  # read already (a None result or a problem is an answer too)
        target = (node.link or "").lstrip("/") if node.kind == "hardlink" else None
        wanted.setdefault(node.layer, []).append(Alias(analyzer, real, logical, target))
    return wanted


def merge(facts: LayerFacts, aliases: Sequence[Alias], extra: LayerFacts) -> None:
    """Add a second look's results (and problems) at the aliased paths to the layer's facts."""
    for alias in aliases:
        value = extra.analyses.get(alias.name, {}).get(alias.real)
        if value is not None:
            facts.analyses.setdefault(alias.name, {})[alias.real] = value
    facts.problems.extend(p for p in extra.problems if p not in facts.problems)


__all__ = ["Alias", "fact_paths", "merge", "status_d_paths", "unread"]
