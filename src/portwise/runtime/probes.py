"""Smoke probes: small commands that exercise what commonly breaks between user space and host.

Each names the syscalls it relies on, so a run can be compared with the static verdict probe by
probe: a predicted clone3 failure must show up in the thread probe, not just anywhere.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from portwise.image.binaries import required_level
from portwise.image.runtimes import resolve
from portwise.lastcall import last_call
from portwise.model.image import FileEntry, ImageProfile


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    argv: tuple[str, ...]
    needs: tuple[str, ...] = ()  # paths that must exist in the image, else the probe is skipped
    exercises: tuple[str, ...] = ()  # syscalls whose failure this probe shows


SMOKE: tuple[Probe, ...] = (
    Probe("shell", ("/bin/sh", "-c", "true"), ("/bin/sh",)),
    Probe(
        "file-status",
        ("/bin/sh", "-c", "ls -l /etc >/dev/null"),
        ("/bin/sh", "/bin/ls"),
        ("statx",),
    ),
    Probe(
        "access-check",
        ("/bin/sh", "-c", "[ -x /bin/sh ]"),
        ("/bin/sh",),
        ("faccessat2",),
    ),
    Probe(
        "threads",
        ("/bin/sh", "-c", "echo portwise | xz -T2 >/dev/null"),
        ("/bin/sh", "/usr/bin/xz"),
        ("clone3",),
    ),
    Probe("spawn", ("/bin/sh", "-c", "/bin/sh -c true && env true"), ("/bin/sh", "/usr/bin/env")),
    Probe("clock", ("/bin/date", "+%s"), ("/bin/date",)),
    Probe("name-lookup", ("/usr/bin/getent", "hosts", "localhost"), ("/usr/bin/getent",)),
)


def entrypoint(image: ImageProfile, args: list[str] | None = None) -> Probe | None:
    """The image's own entrypoint and command (the suite's arguments replace the command)."""
    argv = list(image.config.entrypoint or []) + (
        args if args is not None else list(image.config.cmd or [])
    )
    return Probe("entrypoint", tuple(argv)) if argv else None


def custom(command: str, index: int, image: ImageProfile, declared: tuple[str, ...] = ()) -> Probe:
    """A --probe: run by the image's shell, or directly when it names an absolute program.

    `declared`: what the user says it exercises (a suite's `exercises:`). A direct program
    also exercises what the image profile knows of it: glibc's own kernel check
    when it is statically linked ("static-glibc"), and its x86-64 level ("isa:x86-64-v3").
    """
    argv = tuple(shlex.split(command))
    if not argv or not argv[0].startswith("/"):
        return Probe(f"probe-{index}", ("/bin/sh", "-c", command), ("/bin/sh",), declared)
    exercises: list[str] = []
    for b in image.binaries:
        if b.path == argv[0]:
            if b.linkage != "dynamic" and b.libc == "glibc":
                exercises.append("static-glibc")
            level = required_level(b)
            if level is not None:
                exercises.append(f"isa:{level}")
    return Probe(f"probe-{index}", argv, (argv[0],), (*declared, *exercises))


@last_call
def _by_path(image: ImageProfile) -> dict[str, FileEntry]:
    return {f.path: f for f in image.files}


def missing(probe: Probe, image: ImageProfile) -> list[str]:
    """Paths the probe needs that the image does not have, following its symlinks."""
    files = _by_path(image)
    return [path for path in probe.needs if resolve(files, path) is None]
