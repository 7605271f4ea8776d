"""Real images for the accuracy bench: Debian releases with Go, Rust, JDK and CPython programs.

Each recipe is a Debian suite and package list given to mmdebstrap (variant minbase, so the
package database is real), plus the Go probe of bench/accuracy/gprobe compiled with this
machine's Debian `go` where asked. The root filesystem is written as an OCI layout with umoci
into the cache directory, once: a recipe's digest is stored beside its layout, and a changed
recipe (or --rebuild) builds it again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

CACHE = Path("/var/cache/portwise-fixtures/accuracy-v1")
GPROBE_SOURCE = Path(__file__).resolve().parent / "gprobe"
BASE = "xz-utils,python3,openssl,ripgrep,fzf,fio"


@dataclass(frozen=True)
class Recipe:
    name: str
    suite: str
    packages: str
    gprobe: bool = False  # add /usr/local/bin/gprobe (Go 1.19 from this machine)

    def digest(self) -> str:
        text = json.dumps([self.suite, self.packages, self.gprobe, _gprobe_digest()])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


RECIPES: tuple[Recipe, ...] = (
    Recipe("bullseye", "bullseye", BASE),
    Recipe("bookworm", "bookworm", BASE + ",fd-find", gprobe=True),
    Recipe("trixie", "trixie", BASE + ",fd-find", gprobe=True),
    Recipe("bookworm-jdk17", "bookworm", "openjdk-17-jre-headless"),
    Recipe("trixie-jdk21", "trixie", "openjdk-21-jre-headless"),
)
# images build_images.sh makes (tests/fixtures): plain minbase Debian releases
FIXTURES = Path("/var/cache/portwise-fixtures/images-v1")
FIXTURE_IMAGES = ("debian-bullseye-amd64", "debian-bookworm-amd64", "debian-trixie-amd64")


def _gprobe_digest() -> str:
    h = hashlib.sha256()
    for f in sorted(GPROBE_SOURCE.glob("*")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def mirror() -> str:
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    return "http://deb.debian.org/debian"


def reference(cache: Path, name: str) -> str:
    return f"oci:{cache / 'oci' / name}:latest"


def _gprobe(work: Path) -> Path:
    out = work / "gprobe"
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-trimpath", "GOCACHE": str(work / "gc")}
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=GPROBE_SOURCE, env=env, check=True)
    return out


def _build(recipe: Recipe, cache: Path, work: Path, log: Path) -> None:
    rootfs = work / f"{recipe.name}.tar"
    hooks: list[str] = ['--customize-hook=chroot "$1" apt-get clean']
    if recipe.gprobe:
        binary = _gprobe(work / recipe.name)
        hooks.append(f"--customize-hook=copy-in {binary} /usr/local/bin")
    hooks.append(
        '--customize-hook=rm -rf "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/locale'
    )
    command = [
        "mmdebstrap",
        "--variant=minbase",
        "--skip=output/dev",
        "--format=tar",
        "--architectures=amd64",
        "--aptopt=Acquire::Check-Valid-Until false",
        f"--include={recipe.packages}",
        *hooks,
        recipe.suite,
        str(rootfs),
        mirror(),
    ]
    with log.open("w") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=True)
    layout = cache / "oci" / recipe.name
    shutil.rmtree(layout, ignore_errors=True)
    layout.parent.mkdir(parents=True, exist_ok=True)
    image = f"{layout}:latest"
    subprocess.run(["umoci", "init", "--layout", str(layout)], check=True)
    subprocess.run(["umoci", "new", "--image", image], check=True)
    subprocess.run(["umoci", "raw", "add-layer", "--image", image, str(rootfs)], check=True)
    subprocess.run(
        [
            "umoci",
            "config",
            "--image",
            image,
            "--architecture=amd64",
            "--os=linux",
            "--config.cmd=/bin/sh",
            f"--history.created_by=mmdebstrap --variant=minbase --include={recipe.packages}",
        ],
        check=True,
    )
    (cache / "oci" / f"{recipe.name}.recipe").write_text(recipe.digest())


def ensure(recipes: Sequence[Recipe], cache: Path = CACHE, rebuild: bool = False) -> list[str]:
    """Build what is missing or stale (in parallel), return each recipe's OCI reference."""
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "logs").mkdir(exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        todo = [
            r
            for r in recipes
            if rebuild
            or not (cache / "oci" / f"{r.name}.recipe").exists()
            or (cache / "oci" / f"{r.name}.recipe").read_text() != r.digest()
        ]
        if todo:
            print(f"building {len(todo)} image(s) into {cache}: {', '.join(r.name for r in todo)}")
            with (
                tempfile.TemporaryDirectory(prefix="accuracy-", dir=cache) as tmp,
                ThreadPoolExecutor(max_workers=3) as pool,
            ):
                jobs = [
                    pool.submit(_build, r, cache, Path(tmp), cache / "logs" / f"{r.name}.log")
                    for r in todo
                ]
                for job in jobs:
                    job.result()
    return [reference(cache, r.name) for r in recipes]


def fixture_images() -> list[str]:
    """build_images.sh's Debian releases, when that build is complete (never started here)."""
    if not (FIXTURES / ".complete").exists():
        return []
    return [f"oci:{FIXTURES / 'oci' / n}:latest" for n in FIXTURE_IMAGES]
