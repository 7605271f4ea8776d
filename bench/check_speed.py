"""Fleet matrix speed: N image profiles x M host profiles through every mechanism.

    .venv/bin/python bench/check_speed.py [--images 1000] [--hosts 1000]

Images are variants of the real fixture images (tests/fixtures/build_images.sh): each real
profile under many references, some with a binary dropped, as a registry of rebuilt tags looks.
Hosts are variants of the catalog: each reference host as many named nodes, with kernel patch
releases and runc versions varied as a fleet has them. Printed side by side: the time to reduce
each side, to judge, and to read every pair's status; the cost per pair; the number of distinct
interfaces on each side; and how the time grows with each side (the worst case, every host a
distinct interface, is printed too). Target from issue 5: 1,000 x 1,000 within 10 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from portwise.host.catalog import catalog_names, load_catalog_host
from portwise.image.scan import ScanOptions, scan
from portwise.model.host import Fact, HostProfile, Tool
from portwise.model.image import ImageProfile
from portwise.verdict import check

FIXTURES = Path(os.environ.get("PORTWISE_FIXTURES", "/var/cache/portwise-fixtures/images-v1"))
REAL = [
    "debian-bullseye-amd64",
    "debian-bookworm-amd64",
    "debian-trixie-amd64",
    "debian-bookworm-arm64",
    "derived-bookworm-amd64",
    "bench-bookworm-python-amd64",
]
RUNC = ["1.0.0-rc10", "1.0.2", "1.1.12", "1.2.5", None]


def images(count: int, cache: Path) -> list[ImageProfile]:
    real = [scan(f"oci:{FIXTURES}/oci/{n}:latest", ScanOptions(cache_dir=cache))[0] for n in REAL]
    out = []
    for i in range(count):
        base = real[i % len(real)]
        update: dict[str, object] = {"reference": f"{base.reference}#{i}"}
        if i % 7 == 3 and base.binaries:  # a rebuilt tag without one of its programs
            update["binaries"] = base.binaries[1:]
        out.append(base.model_copy(update=update))
    return out


def _variant(host: HostProfile, i: int, distinct: bool) -> HostProfile:
    release = host.kernel.release.value
    kernel = host.kernel
    if release is not None:
        patch = f"{release}.{i}" if distinct else f"{release}.{i % 3}"
        kernel = kernel.model_copy(update={"release": Fact.of(patch, "bench variant")})
    runc = RUNC[i % len(RUNC)]
    runtimes: Fact[list[Tool]] = (
        Fact.of([Tool(name="runc", path="/usr/bin/runc", version=Fact.of(runc, "bench"))], "b")
        if runc
        else Fact.missing("bench: not recorded")
    )
    engines = host.engines.model_copy(update={"runtimes": runtimes})
    return host.model_copy(
        update={"name": f"{host.name}-node{i}", "kernel": kernel, "engines": engines}
    )


def hosts(count: int, *, distinct: bool = False) -> list[HostProfile]:
    catalog = [load_catalog_host(n) for n in catalog_names()]
    return [_variant(catalog[i % len(catalog)], i, distinct) for i in range(count)]


def timed(images_: list[ImageProfile], hosts_: list[HostProfile]) -> dict[str, float]:
    start = time.perf_counter()
    matrix = check(images_, hosts_)
    judged = time.perf_counter()
    statuses = [matrix.status(i, h) for i in range(len(images_)) for h in range(len(hosts_))]
    done = time.perf_counter()
    return {
        "check": judged - start,
        "read": done - judged,
        "pairs": len(statuses),
        "image groups": len(set(matrix.image_group)),
        "host groups": len(set(matrix.host_group)),
        "judged": len(matrix.results),
    }


def row(label: str, r: dict[str, float]) -> None:
    total = r["check"] + r["read"]
    print(
        f"{label:<34} {int(r['pairs']):>9} {int(r['image groups']):>6} {int(r['host groups']):>6}"
        f" {int(r['judged']):>7} {r['check']:>8.2f} {r['read']:>7.2f} {total:>8.2f}"
        f" {total / r['pairs'] * 1e6:>9.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        all_images = images(args.images, Path(tmp))
        print(
            f"scanned {len(REAL)} real images in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
    fleet = hosts(args.hosts)
    print(
        f"{'case':<34} {'pairs':>9} {'img-if':>6} {'host-if':>6} {'judged':>7}"
        f" {'check s':>8} {'read s':>7} {'total s':>8} {'us/pair':>9}"
    )
    for n in sorted({10, 100, args.images}):
        row(f"{n} images x {args.hosts} hosts", timed(all_images[:n], fleet))
    for m in sorted({10, 100}):
        row(f"{args.images} images x {m} hosts", timed(all_images, fleet[:m]))
    row(
        f"{args.images} x {args.hosts}, hosts all distinct",
        timed(all_images, hosts(args.hosts, distinct=True)),
    )
    print("target (issue 5): 1,000 x 1,000 in <= 10 s total")


if __name__ == "__main__":
    main()
