"""Shared fixtures: the real image set, and a guard that records every file the process touches."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from buildkit import built_fixture
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

# CI must not pass or fail by luck: the fuzz tests draw the same examples on every run
# (set HYPOTHESIS_PROFILE=explore to search afresh while developing).
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
FIXTURES = Path(os.environ.get("PORTWISE_FIXTURES", "/var/cache/portwise-fixtures/images-v1"))

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
MUTATING_EVENTS = {
    "os.mkdir",
    "os.rename",
    "os.remove",
    "os.rmdir",
    "os.symlink",
    "os.link",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.utime",
    "shutil.rmtree",
    "shutil.copyfile",
    "shutil.move",
}


@dataclass
class FileGuard:
    """Records (event, path, writing) for file-system audit events while active."""

    active: bool = False
    events: list[tuple[str, str, bool]] = field(default_factory=list)

    @contextmanager
    def watch(self) -> Iterator[None]:
        self.events.clear()
        self.active = True
        try:
            yield
        finally:
            self.active = False

    def hook(self, event: str, args: tuple[object, ...]) -> None:
        if not self.active:
            return
        if event == "open" and args:
            path, mode, flags = [*args, None, None][:3]
            if isinstance(path, int) or path is None:
                return
            writing = bool(
                (isinstance(mode, str) and any(c in mode for c in "wax+"))
                or (isinstance(flags, int) and flags & WRITE_FLAGS)
            )
            self.events.append(("open", os.fsdecode(path), writing))
        elif event in MUTATING_EVENTS and args:
            self.events.append(
                (
                    event,
                    os.fsdecode(args[0]) if not isinstance(args[0], int) else str(args[0]),
                    True,
                )
            )
        elif event == "sqlite3.connect" and args:
            self.events.append(("sqlite3.connect", os.fsdecode(args[0]), True))

    def outside(self, allowed_reads: list[Path], allowed_writes: list[Path]) -> list[str]:
        """Events that touched a path not under the allowed roots (Python's own files aside)."""
        system = [Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}]
        bad = []
        for event, raw, writing in self.events:
            path = Path(raw)
            if not path.is_absolute():
                # only the directory-fd walk opens relative names: one component, no '..'
                if "/" in raw or raw in ("..", "."):
                    bad.append(f"{event} relative {raw}")
                continue
            resolved = path.resolve()
            roots = allowed_writes if writing else allowed_reads + allowed_writes + system
            if not any(resolved.is_relative_to(r.resolve()) for r in roots):
                bad.append(f"{event} {'write' if writing else 'read'} {raw}")
        return bad


_GUARD = FileGuard()
sys.addaudithook(_GUARD.hook)


@pytest.fixture
def file_guard() -> FileGuard:
    """Wrap the code under test in `with file_guard.watch():`, then check `outside(...)`."""
    return _GUARD


@pytest.fixture(scope="session")
def real_images() -> Path:
    """The real image set, built once per machine by tests/fixtures/build_images.sh."""
    if not (FIXTURES / ".complete").exists():
        subprocess.run(
            ["bash", str(REPO / "tests" / "fixtures" / "build_images.sh"), str(FIXTURES)],
            check=True,
        )
    return FIXTURES


DEBS = Path(os.environ.get("PORTWISE_DEBS", "/var/cache/portwise-fixtures/debs"))


@pytest.fixture(scope="session")
def debian_package() -> object:
    """Unpack a real Debian package from the mirror (cached per machine); returns its root."""

    def unpack(name: str) -> Path:
        root = DEBS / name
        root.mkdir(parents=True, exist_ok=True)
        # xdist workers may ask for the same package at once: one unpacks, the others wait.
        with (DEBS / f".{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (root / ".complete").exists():
                subprocess.run(
                    ["apt-get", "download", "-q", name], cwd=root, check=True, capture_output=True
                )
                deb = next(root.glob(f"{name}_*.deb"))
                subprocess.run(["dpkg-deb", "-x", str(deb), str(root / "root")], check=True)
                (root / ".complete").write_text(deb.name)
        return root / "root"

    return unpack


@pytest.fixture(scope="session")
def rpm_fixtures() -> Path:
    """Real rpm databases made by Debian's rpm and Berkeley DB tools."""
    return built_fixture("tests/fixtures/rpm/build_rpm_fixtures.py")


@pytest.fixture(scope="session")
def isa_bins() -> Path:
    """Programs compiled with Debian's gcc at each x86-64 level, with and without dispatch."""
    return built_fixture("tests/fixtures/isa/build_isa_fixtures.py", timeout=600)
