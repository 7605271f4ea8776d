"""A cheap identity for a root directory: stat every entry, read none.

A root filesystem directory has no digest, and hashing its content costs as much as scanning it.
Its signature hashes, for every entry below the root, the relative path, the inode, the mode,
the size, and the modification and change times in nanoseconds (lstat only, symlinks never
followed). Writing a file changes its mtime and ctime; so does replacing it (a new inode too);
`touch -d` or `cp -p` can restore the mtime but not the ctime, which only the kernel sets. The
walk opens directories with O_NOFOLLOW relative to their parent, as the reader does.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
SIGNATURE_VERSION = 1


def tree_signature(root: Path) -> str | None:
    """`tree:<sha256>` of the tree's metadata, or None if any part of it cannot be listed."""
    try:
        fd = os.open(root, DIR_FLAGS)
    except OSError:
        return None
    rows: list[str] = []
    try:
        top = os.fstat(fd)
        rows.append(f"v{SIGNATURE_VERSION}\0{top.st_dev}\0{top.st_ino}\0{top.st_mtime_ns}")
        _walk(fd, "", rows)
    except OSError:
        return None
    finally:
        os.close(fd)
    digest = hashlib.sha256("\n".join(rows).encode("utf-8", "surrogateescape"))
    return f"tree:{digest.hexdigest()}"


def _walk(dir_fd: int, prefix: str, rows: list[str]) -> None:
    with os.scandir(dir_fd) as entries:
        listed = sorted(entries, key=lambda e: e.name)
    for entry in listed:
        info = entry.stat(follow_symlinks=False)
        path = prefix + entry.name
        rows.append(
            f"{path}\0{info.st_ino}\0{info.st_mode}\0{info.st_size}"
            f"\0{info.st_mtime_ns}\0{info.st_ctime_ns}"
        )
        if entry.is_dir(follow_symlinks=False):
            child = os.open(entry.name, DIR_FLAGS, dir_fd=dir_fd)
            try:
                _walk(child, path + "/", rows)
            finally:
                os.close(child)
