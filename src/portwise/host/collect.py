"""Collect a HostProfile from a live host or a host filesystem mounted under a root."""

from __future__ import annotations

import socket
from pathlib import Path

from portwise import __version__
from portwise.errors import UsageError
from portwise.host.cgroup import read_cgroup
from portwise.host.cpu import read_cpu
from portwise.host.engines import read_engines
from portwise.host.files import HostFiles
from portwise.host.gpu import read_gpu
from portwise.host.kernel import read_kernel
from portwise.host.security import read_security
from portwise.model.host import HostProfile


def collect_host(root: Path = Path("/"), name: str | None = None) -> HostProfile:
    """Read-only; every reader tolerates missing files, so a fact is known or says why not."""
    if not root.is_dir():
        raise UsageError(f"--root {root} is not a directory")
    files = HostFiles(root)
    kernel = read_kernel(files)
    return HostProfile(
        name=name or (socket.gethostname() if files.is_live else str(root)),
        root=str(root),
        kernel=kernel,
        cpu=read_cpu(files, kernel.architecture.value),
        cgroup=read_cgroup(files),
        security=read_security(files, kernel.config),
        engines=read_engines(files),
        gpu=read_gpu(files),
        portwise_version=__version__,
    )
