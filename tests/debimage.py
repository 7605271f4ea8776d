"""Mini images made of real Debian packages: their files, symlinks and dpkg status entries.

`deb_image(tmp, debian_package, ["iptables"])` unpacks each real .deb (the debian_package
fixture), puts its tree in one layer with a dpkg status stanza built from the package's own
control fields, and scans the OCI layout with portwise, so the rules see what a real image
with those packages installed shows. Maintainer scripts do not run: what a postinst would
create (update-alternatives links) is passed as `extra` items, and the test says so.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from imagekit import Item, OciLayout, directory, file, layer_tar, symlink

from portwise.image.scan import ScanOptions, scan
from portwise.model.image import ImageProfile

Unpack = Callable[[str], Path]


def _tree(root: Path) -> list[Item]:
    items: list[Item] = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        rel = base.relative_to(root)
        for name in sorted(dirnames):
            path = base / name
            member = str(rel / name).lstrip("./") if str(rel) != "." else name
            if path.is_symlink():
                items.append(symlink(member, os.readlink(path)))
            else:
                items.append(directory(member))
        for name in sorted(filenames):
            path = base / name
            member = name if str(rel) == "." else f"{rel}/{name}"
            if path.is_symlink():
                items.append(symlink(member, os.readlink(path)))
            else:
                items.append(file(member, path.read_bytes(), mode=path.stat().st_mode & 0o7777))
    return items


def _control(root: Path) -> str:
    deb = root.parent / (root.parent / ".complete").read_text().strip()
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture", "Source"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return fields.rstrip("\n") + "\nStatus: install ok installed\n"


def deb_image(
    tmp: Path,
    unpack: Unpack,
    packages: Sequence[str],
    *,
    extra: Sequence[Item] = (),
    config: dict[str, object] | None = None,
) -> ImageProfile:
    items: list[Item] = []
    stanzas = []
    for name in packages:
        root = unpack(name)
        items += _tree(root)
        stanzas.append(_control(root))
    items += [
        directory("var/lib/dpkg"),
        file("var/lib/dpkg/status", "\n".join(stanzas)),
        file("etc/os-release", 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
        *extra,
    ]
    layout = OciLayout(tmp / "layout")
    extra_config = {"config": config} if config is not None else None
    layout.add_image([layer_tar(_dedupe(items))], config_extra=extra_config)
    (profile,) = scan(f"oci:{tmp / 'layout'}:latest", ScanOptions(cache_dir=tmp / "cache"))
    return profile


def _dedupe(items: list[Item]) -> list[Item]:
    seen: dict[str, Item] = {}
    for item in items:
        seen[item.name.rstrip("/")] = item
    return list(seen.values())
