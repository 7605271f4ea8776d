"""Reading a host's files under a root (`/`, or a node's filesystem mounted elsewhere).

Symlinks resolve inside the root, as they would on that host: an absolute target starts at the
root, so a mounted node's /boot/config link never reads the collector's own /boot.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO

MAX_HOPS = 40
CHUNK = 64 << 10
MAX_READ = 16 << 20  # /proc and /sys files are small; a config.gz unpacks to a few hundred KiB


class Unreadable(Exception):
    """The file is absent or cannot be read; `reason` says which, for an unknown fact."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HostFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.is_live = root.resolve() == Path("/")

    def resolve(self, path: str) -> Path:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = self.root.joinpath(*done, part)
            if candidate.is_symlink():
                hops += 1
                if hops > MAX_HOPS:
                    raise Unreadable(f"{path}: too many symlinks")
                target = str(candidate.readlink())
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            done.append(part)
        return self.root.joinpath(*done)

    def read_bytes(self, path: str) -> bytes:
        try:
            with self.resolve(path).open("rb", buffering=0) as handle:
                data = _read_limited(handle)
        except FileNotFoundError:
            raise Unreadable(f"{path} does not exist") from None
        except PermissionError:
            raise Unreadable(f"{path} is not readable by this user") from None
        except OSError as exc:
            raise Unreadable(f"{path}: {exc.strerror}") from None
        if len(data) > MAX_READ:
            raise Unreadable(f"{path} is larger than {MAX_READ} bytes")
        return data

    def read_text(self, path: str) -> str:
        data = self.read_bytes(path)
        if path.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise Unreadable(f"{path} is not valid gzip: {exc}") from None
        return data.decode("utf-8", "replace")

    def first(self, *paths: str) -> tuple[str, str]:
        """(text, path) of the first readable file; Unreadable naming every attempt."""
        reasons = []
        for path in paths:
            try:
                return self.read_text(path), path
            except Unreadable as exc:
                reasons.append(exc.reason)
        raise Unreadable("; ".join(reasons))


def _read_limited(handle: BinaryIO) -> bytes:
    """Small reads: procfs answers a single huge read() with ENOMEM on some files."""
    chunks = []
    total = 0
    while chunk := handle.read(CHUNK):
        chunks.append(chunk)
        total += len(chunk)
        if total > MAX_READ:
            break
    return b"".join(chunks)
