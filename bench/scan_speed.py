"""Scan speed against the physical limit, side by side in one run.

    .venv/bin/python bench/scan_speed.py [BASE_LAYOUT[:TAG] [DERIVED_LAYOUT[:TAG]]]

Defaults to the benchmark images of the test fixtures (bookworm + python3 and libraries,
>= 300 MB unpacked; and the same image plus one new layer). Prints:
  - decompression limit: `tar -xzf LAYER -O > /dev/null` over every layer (what reading costs)
  - cold scan: empty cache
  - warm rescan: same image again
  - derived image: base cached, one new layer
Targets (issue #2): cold <= 2x decompression, derived ~ its new bytes; warm <= 2% of cold
(issue #13: a warm rescan is answered by the cached profile, not rebuilt from cached layers).
Scans run in-process (best of N) so interpreter start-up is not counted; the CLI's own
wall-clock is printed beside them for reference.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from portwise.image.scan import ScanOptions, scan

FIXTURES = Path(os.environ.get("PORTWISE_FIXTURES", "/var/cache/portwise-fixtures/images-v1"))
DEFAULT_BASE = f"{FIXTURES}/oci/bench-bookworm-python-amd64:latest"
DEFAULT_DERIVED = f"{FIXTURES}/oci/bench-derived:latest"
REPEAT = 3


def layer_blobs(layout_ref: str) -> list[tuple[Path, int]]:
    """(blob path, stored size) of every layer, via the layout's own index and manifest."""
    root = Path(layout_ref.rsplit(":", 1)[0])
    index = json.loads((root / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    manifest = json.loads((root / "blobs/sha256" / digest[7:]).read_text())
    return [
        (root / "blobs/sha256" / layer["digest"][7:], layer["size"]) for layer in manifest["layers"]
    ]


def best(times: list[float]) -> float:
    return min(times)


def time_tar(blobs: list[tuple[Path, int]]) -> float:
    runs = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        for blob, _size in blobs:
            with open(os.devnull, "wb") as sink:
                subprocess.run(["tar", "-xzf", str(blob), "-O"], stdout=sink, check=True)
        runs.append(time.perf_counter() - started)
    return best(runs)


def time_scan(ref: str, cache: Path, *, fresh: bool, reset_to: Path | None = None) -> float:
    runs = []
    for _ in range(REPEAT):
        if fresh:
            shutil.rmtree(cache, ignore_errors=True)
            if reset_to is not None:
                shutil.copytree(reset_to, cache)
        started = time.perf_counter()
        scan(f"oci:{ref}", ScanOptions(cache_dir=cache))
        runs.append(time.perf_counter() - started)
    return best(runs)


def time_cli(ref: str, cache: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "portwise",
            "scan",
            "--json",
            f"oci:{ref}",
            "--cache-dir",
            str(cache),
        ],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_BASE
    derived = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_DERIVED
    base_blobs = layer_blobs(base)
    derived_blobs = layer_blobs(derived)
    new_blobs = [b for b in derived_blobs if b[0].name not in {p.name for p, _ in base_blobs}]
    stored = sum(size for _, size in base_blobs)
    new_stored = sum(size for _, size in new_blobs)

    with tempfile.TemporaryDirectory(prefix="portwise-bench-") as tmp:
        work = Path(tmp)
        profile = scan(f"oci:{base}", ScanOptions(use_cache=False))[0]
        unpacked = sum(layer.unpacked_size for layer in profile.layers)
        tar_s = time_tar(base_blobs)
        tar_new_s = time_tar(new_blobs)
        cold_s = time_scan(base, work / "cold", fresh=True)
        warm_s = time_scan(base, work / "cold", fresh=False)
        time_scan(base, work / "base-only", fresh=True)
        derived_s = time_scan(derived, work / "derived", fresh=True, reset_to=work / "base-only")
        cli_cold = time_cli(base, work / "cli")
        cli_warm = time_cli(base, work / "cli")

    mb = 1 << 20
    print(f"image            {base}")
    print(
        f"                 {len(base_blobs)} layers, {stored / mb:.0f} MiB stored, "
        f"{unpacked / mb:.0f} MiB unpacked, {len(profile.files)} files, "
        f"{len(profile.packages)} packages"
    )
    print(f"{'measure':<34}{'seconds':>9}  ratio")
    print(f"{'tar -xzf layers -O (limit)':<34}{tar_s:>9.3f}  1.00")
    print(f"{'cold scan':<34}{cold_s:>9.3f}  {cold_s / tar_s:.2f} x tar   (target <= 2)")
    print(
        f"{'warm rescan':<34}{warm_s:>9.3f}  {warm_s / cold_s * 100:.1f} % of cold (target <= 2 %)"
    )
    print(
        f"{'derived: tar -xzf new layer':<34}{tar_new_s:>9.3f}  "
        f"{len(new_blobs)} new layer(s), {new_stored / mb:.1f} MiB stored "
        f"({new_stored / (stored + new_stored) * 100:.1f} % of bytes)"
    )
    print(
        f"{'derived image, base cached':<34}{derived_s:>9.3f}  "
        f"{derived_s / cold_s * 100:.1f} % of cold; {derived_s / tar_new_s:.2f} x tar of new"
    )
    print(
        f"{'CLI wall clock cold / warm':<34}{cli_cold:>9.3f}  / {cli_warm:.3f} "
        f"(includes interpreter start-up)"
    )


if __name__ == "__main__":
    main()
