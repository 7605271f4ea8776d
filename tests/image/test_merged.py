"""Stacking layers: whiteouts, opaque directories, replacement, symlink resolution in the root."""

from __future__ import annotations

import pytest

from portwise.image.layers import LayerFacts
from portwise.image.merged import LayerConflict, MergedView, SymlinkLoop


def layer(*entries: tuple[str, str, str], whiteouts=(), opaque=()) -> LayerFacts:  # type: ignore[no-untyped-def]
    return LayerFacts(
        entries=[(path, kind, 1, 0o644, link, 0) for path, kind, link in entries],
        whiteouts=list(whiteouts),
        opaque=list(opaque),
    )


BASE = layer(
    ("etc", "dir", ""),
    ("etc/a", "file", ""),
    ("etc/b", "file", ""),
    ("usr", "dir", ""),
    ("usr/lib", "dir", ""),
    ("usr/lib/os-release", "file", ""),
    ("etc/os-release", "symlink", "../usr/lib/os-release"),
    ("bin", "symlink", "usr/bin"),
    ("usr/bin", "dir", ""),
    ("usr/bin/sh", "file", ""),
    ("abs", "symlink", "/usr/lib"),
    ("up", "symlink", "../../../../usr"),
)


def test_whiteout_hides_lower_file_only() -> None:
    view = MergedView.from_layers([BASE, layer(("etc/c", "file", ""), whiteouts=["etc/a"])])
    assert view.get("etc/a") is None
    assert view.get("etc/b") is not None and view.get("etc/c") is not None


def test_whiteout_of_directory_removes_subtree() -> None:
    view = MergedView.from_layers([BASE, layer(whiteouts=["usr"])])
    assert [p for p, _ in view if p.startswith("usr")] == []


def test_opaque_directory_keeps_same_layer_entries() -> None:
    upper = layer(("etc", "dir", ""), ("etc/new", "file", ""), opaque=["etc"])
    view = MergedView.from_layers([BASE, upper])
    assert view.children("etc") == ["etc/new"]
    assert view.get("etc/new").layer == 1  # type: ignore[union-attr]


def test_file_replacing_directory_hides_its_children() -> None:
    view = MergedView.from_layers([BASE, layer(("usr/lib", "file", ""))])
    assert view.get("usr/lib/os-release") is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("etc/os-release", "usr/lib/os-release"),
        ("bin/sh", "usr/bin/sh"),
        ("abs/os-release", "usr/lib/os-release"),
        ("up/lib", "usr/lib"),  # '..' stops at the root
        ("/etc/../../../etc/a", "etc/a"),
    ],
)
def test_resolve_stays_inside_root(path: str, expected: str) -> None:
    assert MergedView.from_layers([BASE]).resolve(path) == expected


def test_symlink_loop_detected() -> None:
    view = MergedView.from_layers([layer(("a", "symlink", "b"), ("b", "symlink", "/a"))])
    with pytest.raises(SymlinkLoop):
        view.resolve("a/x")
    assert view.lookup("a") is None


def test_member_below_symlink_of_lower_layer_is_refused() -> None:
    with pytest.raises(LayerConflict, match="below symlink 'bin'"):
        MergedView.from_layers([BASE, layer(("bin/evil", "file", ""))])


def test_layer_replacing_symlink_with_directory_is_fine() -> None:
    view = MergedView.from_layers([BASE, layer(("bin", "dir", ""), ("bin/tool", "file", ""))])
    assert view.get("bin/tool") is not None
