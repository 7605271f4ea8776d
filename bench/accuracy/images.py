"""Real images for the accuracy bench: Debian releases with Go, Rust, JDK and CPython programs.

Each recipe is a Debian suite and package list given to mmdebstrap (variant minbase, so the
package database is real), plus probes of our own where asked: bench/accuracy/gprobe compiled
with this machine's Debian go 1.19 (/usr/local/bin/gprobe) and with trixie's go 1.24 (built in a
throwaway trixie root: /usr/local/bin/gprobe-go124, whose os/exec uses pidfd), and
bench/accuracy/jprobe compiled with this machine's javac --release 11 (/opt/jprobe). The root
filesystem is written as an OCI layout with umoci into the cache directory, once: a recipe's
digest is stored beside its layout, and a changed recipe (or --rebuild) builds it again.
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
JPROBE_SOURCE = Path(__file__).resolve().parent / "jprobe"
BASE = "xz-utils,python3,openssl,ripgrep,fzf,fio"
FOREIGN = "xz-utils,python3,openssl,ripgrep,fio,rust-coreutils,fd-find,netbase"


@dataclass(frozen=True)
class Recipe:
    name: str
    suite: str
    packages: str
    gprobe: bool = False  # add /usr/local/bin/gprobe (Go 1.19) and gprobe-go124 (Go 1.24)
    jprobe: bool = False  # add /opt/jprobe/Probe.class
    arch: str = "amd64"  # Debian architecture; another one runs here through qemu-user

    @property
    def foreign(self) -> bool:
        return self.arch != "amd64"

    def digest(self) -> str:
        fields: list[object] = [self.suite, self.packages, self.gprobe, self.jprobe, _sources()]
        if self.foreign:  # amd64 recipes keep the digests of their built layouts
            fields.append(self.arch)
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


RECIPES: tuple[Recipe, ...] = (
    Recipe("bullseye", "bullseye", BASE),
    Recipe("bookworm", "bookworm", BASE + ",rust-coreutils,fd-find", gprobe=True),
    Recipe("trixie", "trixie", BASE + ",rust-coreutils,fd-find", gprobe=True),
    Recipe("bookworm-jdk17", "bookworm", "openjdk-17-jre-headless", jprobe=True),
    Recipe("trixie-jdk21", "trixie", "openjdk-21-jre-headless", jprobe=True),
    # foreign: built and run through qemu-user (binfmt_misc handler with the F flag); the
    # same programs without our Go and Java probes
    Recipe("bookworm-arm64", "bookworm", FOREIGN, arch="arm64"),
)
QUICK = ("bookworm", "trixie", "bookworm-arm64")
# the OCI architecture of each Debian architecture
OCI_ARCH = {"amd64": "amd64", "arm64": "arm64", "armhf": "arm"}
# images build_images.sh makes (tests/fixtures): plain minbase Debian releases
FIXTURES = Path("/var/cache/portwise-fixtures/images-v1")
FIXTURE_IMAGES = ("debian-bullseye-amd64", "debian-bookworm-amd64", "debian-trixie-amd64")


def _sources() -> str:
    h = hashlib.sha256()
    for f in sorted([*GPROBE_SOURCE.glob("*"), *JPROBE_SOURCE.glob("*.java")]):
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


def _gprobe_go124(work: Path, log: Path) -> Path:
    """The same probe built by trixie's golang-go (1.24) in a throwaway root (output: null)."""
    out = work / "gprobe-go124"
    build = (
        'chroot "$1" sh -c "cd /tmp/gprobe && sed -i s/^go.1.19/go\\ 1.24/ go.mod && '
        'HOME=/tmp GOCACHE=/tmp/gc CGO_ENABLED=0 go build -trimpath -o /tmp/gprobe-go124 ."'
    )
    command = [
        "mmdebstrap",
        "--variant=apt",
        "--include=golang-go",
        f"--customize-hook=copy-in {GPROBE_SOURCE} /tmp",
        f"--customize-hook={build}",
        f"--customize-hook=copy-out /tmp/gprobe-go124 {work}",
        "trixie",
        "/dev/null",
        mirror(),
    ]
    with log.open("a") as output:
        subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=True)
    return out


def _jprobe(work: Path) -> Path:
    out = work / "jprobe"
    out.mkdir(parents=True, exist_ok=True)
    source = JPROBE_SOURCE / "Probe.java"
    subprocess.run(["javac", "--release", "11", "-d", str(out), str(source)], check=True)
    return out / "Probe.class"


def _build(recipe: Recipe, cache: Path, work: Path, log: Path) -> None:
    rootfs = work / f"{recipe.name}.tar"
    hooks: list[str] = ['--customize-hook=chroot "$1" apt-get clean']
    if recipe.gprobe:
        binary = _gprobe(work / recipe.name)
        newer = _gprobe_go124(work / recipe.name, log.with_suffix(".go124.log"))
        hooks.append(f"--customize-hook=copy-in {binary} {newer} /usr/local/bin")
    if recipe.jprobe:
        probe = _jprobe(work / recipe.name)
        hooks.append('--customize-hook=mkdir -p "$1"/opt/jprobe')
        hooks.append(f"--customize-hook=copy-in {probe} /opt/jprobe")
    hooks.append(
        '--customize-hook=rm -rf "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/locale'
    )
    command = [
        "mmdebstrap",
        "--variant=minbase",
        "--skip=output/dev",
        "--format=tar",
        f"--architectures={recipe.arch}",
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
            f"--architecture={OCI_ARCH[recipe.arch]}",
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
