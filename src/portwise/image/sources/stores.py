"""Blob stores: an OCI layout on disk, or the members of an archive, opened without extracting.

A directory store opens every component with O_NOFOLLOW relative to the layout's own directory,
so a hostile layout cannot make portwise read a host file through a symlinked blob.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from portwise.errors import ImageError
from portwise.image.sources.base import MAX_JSON_BLOB


class BlobStore(Protocol):
    image: str

    def exists(self, name: str) -> bool: ...

    def open(self, name: str) -> AbstractContextManager[BinaryIO]: ...


def read_bounded(image: str, stream: BinaryIO, name: str, limit: int = MAX_JSON_BLOB) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImageError(image, f"{name} is larger than {limit} bytes")
    return data


class DirectoryStore:
    def __init__(self, image: str, root: Path) -> None:
        self.image = image
        self.root = root

    def _open_fd(self, name: str) -> int:
        parts = [p for p in name.split("/") if p]
        if any(p in (".", "..") for p in parts) or not parts:
            raise ImageError(self.image, f"refusing to open {name!r} outside the layout")
        flags_dir = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in parts[:-1]:
                next_fd = os.open(part, flags_dir, dir_fd=fd)
                os.close(fd)
                fd = next_fd
            file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise ImageError(self.image, f"missing blob or file {name!r}") from None
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise ImageError(
                    self.image, f"{name!r} is a symlink or not a regular path in the layout"
                ) from None
            raise ImageError(self.image, f"cannot open {name!r}: {exc.strerror}") from None
        finally:
            os.close(fd)
        if not _is_regular(file_fd):
            os.close(file_fd)
            raise ImageError(self.image, f"{name!r} is not a regular file")
        return file_fd

    def exists(self, name: str) -> bool:
        try:
            os.close(self._open_fd(name))
        except ImageError:
            return False
        return True

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        with os.fdopen(self._open_fd(name), "rb", buffering=0) as stream:
            yield stream


def _is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


class TarStore:
    """Members of an (uncompressed or gzip) archive, read in place with tarfile's random access."""

    def __init__(self, image: str, archive: tarfile.TarFile) -> None:
        self.image = image
        self.archive = archive
        self.members: dict[str, tarfile.TarInfo] = {}
        for info in archive.getmembers():
            name = "/".join(p for p in info.name.split("/") if p not in ("", "."))
            self.members[name] = info

    def exists(self, name: str) -> bool:
        return name in self.members

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        info = self.members.get(name)
        if info is None:
            raise ImageError(self.image, f"missing blob or file {name!r} in the archive")
        if not (info.isfile() or info.islnk()):
            raise ImageError(self.image, f"{name!r} in the archive is not a regular file")
        try:
            stream = self.archive.extractfile(info)
        except (KeyError, tarfile.TarError) as exc:
            raise ImageError(self.image, f"cannot read {name!r} from the archive: {exc}") from None
        if stream is None:
            raise ImageError(self.image, f"{name!r} in the archive has no data")
        with stream:
            yield cast(BinaryIO, stream)


@contextmanager
def open_archive(image: str, path: Path) -> Iterator[TarStore]:
    try:
        archive = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by the with below)
    except (OSError, tarfile.TarError) as exc:
        raise ImageError(image, f"not a readable tar archive: {exc}") from None
    with archive:
        try:
            store = TarStore(image, archive)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ImageError(image, f"archive is truncated or corrupt: {exc}") from None
        yield store
