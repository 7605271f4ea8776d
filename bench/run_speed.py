"""Per-probe overhead of `portwise test`: the bundle fast path (runc, crun) beside podman.

    .venv/bin/python bench/run_speed.py [--probes 20] [--image oci:PATH:TAG]

Each engine is opened once (bundle unpack, or podman pull into a private store: the one-off
cost), then runs the same trivial probe (`/bin/sh -c true`) N times under a host's emulated
seccomp profile (docker-25.0.3 on debian-12). Printed side by side: the one-off cost, the
median and worst probe, and each engine's median as a multiple of runc's. Target from issue 6:
per-probe overhead <= 0.3 s on the bundle fast path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from portwise.host.catalog import load_catalog_host
from portwise.image.scan import ScanOptions, scan
from portwise.runtime.emulate import plan
from portwise.runtime.run import open_engine

REPO = Path(__file__).resolve().parents[1]
FIXTURE = "tests/fixtures/runtime/build_runtime_images.py"


def default_image() -> str:
    out = subprocess.run(
        [sys.executable, str(REPO / FIXTURE)], capture_output=True, text=True, check=True
    )
    return f"oci:{out.stdout.strip().splitlines()[-1]}/oci/debian-trixie:latest"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--image", default=None)
    args = parser.parse_args()
    ref = args.image or default_image()
    with tempfile.TemporaryDirectory() as tmp:
        (image,) = scan(ref, ScanOptions(cache_dir=Path(tmp)))
    emulation = plan(load_catalog_host("debian-12"), image)
    rules = len(emulation.seccomp["syscalls"]) if emulation.seccomp else 0
    print(f"image {ref}, host debian-12 ({rules} seccomp rule groups), {args.probes} probes")
    print(f"on {os.cpu_count()} cores")
    print(f"{'engine':<8} {'open s':>8} {'median s':>9} {'max s':>7} {'x runc':>7}")
    base = None
    for name, runtime in (("runc", None), ("crun", None), ("podman", "runc")):
        start = time.perf_counter()
        engine = open_engine(name, image, emulation, runtime)  # type: ignore[arg-type]
        opened = time.perf_counter() - start
        try:
            times = []
            for _ in range(args.probes):
                raw = engine.run(("/bin/sh", "-c", "true"), 60)
                if raw.exit_code != 0:
                    print(f"{name}: probe failed: {raw.stderr[-200:]}")
                    break
                times.append(raw.seconds)
        finally:
            engine.close()
        if not times:
            continue
        median = statistics.median(times)
        base = base or median
        print(f"{name:<8} {opened:>8.2f} {median:>9.3f} {max(times):>7.3f} {median / base:>7.1f}")
    print("target (issue 6): per-probe overhead <= 0.3 s on the bundle fast path")


if __name__ == "__main__":
    main()
