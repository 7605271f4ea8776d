"""A foreign image's probes through qemu-user, with a static x86-64 shell as the container's PID 1.

Through binfmt_misc the probe's first program is qemu itself, and when qemu dies it re-raises
the fatal signal on itself: as the container's PID 1 the kernel ignores it and qemu spins on
SIGSEGV until the timeout. That is what a real engine shows without --init (measured here: under
docker 20.10.9's profile qemu's own thread creation gets clone3 EPERM, "qemu: qemu_thread_create:
Operation not permitted", then SIGABRT and the hang), and it would cost the bench a minute per
run. So, as `docker run --init` does, something else is PID 1: this machine's static busybox
(busybox-static, installed by scripts/setup.sh), copied into the bundle once, runs the probe as
its child and reports 128 + the signal that killed it. Its own calls (fork, wait4) pass every
profile; strace sees them after the probe's first execve, a handful among qemu's.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from portwise.model.image import ImageProfile
from portwise.runtime.emulate import Emulation
from portwise.runtime.engines import BundleEngine, Raw

BUSYBOX = Path("/bin/busybox")
IN_CONTAINER = "/.portwise-bench/busybox"


class ForeignEngine(BundleEngine):
    """runc or crun on the bundle, each probe run by a static busybox sh as PID 1."""

    def __init__(self, runtime: str, image: ImageProfile, emulation: Emulation) -> None:
        super().__init__(runtime, image, emulation)
        target = self.bundle / "rootfs" / IN_CONTAINER.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUSYBOX, target)

    def run(self, argv: Sequence[str], timeout: float, wrap: Sequence[str] = ()) -> Raw:
        shell = [IN_CONTAINER, "sh", "-c", '"$@"; exit $?', "portwise-probe"]
        return super().run([*shell, *argv], timeout, wrap)
