"""A root filesystem directory, cold against warm, side by side in one run (issue 13).

    .venv/bin/python bench/rootfs_cache.py [ROOTFS_TAR_OR_DIR]

Defaults to the benchmark root filesystem of the test fixtures (bookworm + python3 and
libraries, ~314 MiB), extracted with tar into a temporary directory. Prints:
  - tree signature: the stat-only walk a warm scan pays to know the tree is unchanged
  - cold scan: empty cache (reads every file the analyzers want)
  - warm rescan: same tree again (the signature, then the cached profile)
  - after an edit: one file rewritten (a miss: read again, as it must be)
Scans run in-process (best of N) so interpreter start-up is not counted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from portwise.image.scan import ScanOptions, scan
from portwise.image.treesig import tree_signature

FIXTURES = Path(os.environ.get("PORTWISE_FIXTURES", "/var/cache/portwise-fixtures/images-v1"))
DEFAULT_TREE = FIXTURES / "rootfs" / "bench-bookworm-python-amd64.tar"
REPEAT_COLD = 2
REPEAT = 5


def best_of(runs: int, step: object) -> float:
    assert callable(step)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return min(times)


def tree_facts(root: Path) -> tuple[int, int]:
    entries = size = 0
    for _, dirs, files in os.walk(root):
        entries += len(dirs) + len(files)
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            size += path.stat().st_size
    return entries, size


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TREE
    with tempfile.TemporaryDirectory(prefix="portwise-rootfs-bench-") as tmp:
        work = Path(tmp)
        if source.is_dir():
            root = source
        else:
            root = work / "tree"
            root.mkdir()
            subprocess.run(["tar", "-xf", str(source), "-C", str(root)], check=True)
        ref = f"rootfs:{root}"
        cache = work / "cache"
        entries, size = tree_facts(root)

        def cold() -> None:
            shutil.rmtree(cache, ignore_errors=True)
            scan(ref, ScanOptions(cache_dir=cache))

        uncached_s = best_of(REPEAT_COLD, lambda: scan(ref, ScanOptions(use_cache=False)))
        cold_s = best_of(REPEAT_COLD, cold)
        signature_s = best_of(REPEAT, lambda: tree_signature(root))
        warm_s = best_of(REPEAT, lambda: scan(ref, ScanOptions(cache_dir=cache)))
        (profile,) = scan(ref, ScanOptions(cache_dir=cache))
        assert all(layer.from_cache for layer in profile.layers), "warm scan missed the cache"
        edited = root / "etc" / "os-release"
        edited.write_text(edited.read_text(errors="replace") + "\n")
        started = time.perf_counter()
        (after_edit,) = scan(ref, ScanOptions(cache_dir=cache))
        edit_s = time.perf_counter() - started
        assert not after_edit.layers[0].from_cache, "an edited tree was served from the cache"

    mb = 1 << 20
    print(f"tree             {source}")
    print(f"                 {entries} entries, {size / mb:.0f} MiB in files")
    print(f"{'measure':<34}{'seconds':>9}  ratio")
    print(f"{'scan --no-cache':<34}{uncached_s:>9.3f}")
    print(f"{'cold scan (empty cache)':<34}{cold_s:>9.3f}  1.00")
    print(f"{'tree signature alone':<34}{signature_s:>9.3f}  {signature_s / cold_s * 100:.2f} %")
    print(
        f"{'warm rescan':<34}{warm_s:>9.3f}  {warm_s / cold_s * 100:.2f} % of cold "
        f"({cold_s / warm_s:.0f}x faster)"
    )
    print(f"{'after editing one file (a miss)':<34}{edit_s:>9.3f}  {edit_s / cold_s:.2f} x cold")


if __name__ == "__main__":
    main()
