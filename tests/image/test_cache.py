"""The layer cache shared by concurrent processes, and its state after SIGKILL mid-scan."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from imagekit import OciLayout, file, layer_tar

from portwise.image.scan import ScanOptions, scan


def many_layer_image(root: Path, seed: int, layers: int = 8, file_size: int = 64 << 10) -> str:
    rng = random.Random(seed)
    layout = OciLayout(root)
    blobs = [
        layer_tar(
            [file(f"data/{seed}/{i}/{j}", rng.randbytes(file_size)) for j in range(24)]
            + [file("etc/os-release", f"ID=test\nVERSION_ID={i}\n")]
        )
        for i in range(layers)
    ]
    layout.add_image(blobs, compression="gzip")
    return f"oci:{root}"


def cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "portwise", "scan", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def comparable(profile: dict) -> dict:  # type: ignore[type-arg]
    return {**profile, "layers": [{**layer, "from_cache": None} for layer in profile["layers"]]}


def test_concurrent_processes_share_one_cache(tmp_path: Path) -> None:
    images = [many_layer_image(tmp_path / f"img{i}", seed=i) for i in range(3)]
    cache = tmp_path / "cache"  # does not exist yet: the processes race to create it
    procs = [cli(images[i % 3], "--cache-dir", str(cache)) for i in range(8)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
        assert "locked" not in stderr
    truth = {
        img: scan(img, ScanOptions(use_cache=False))[0].model_dump(mode="json") for img in images
    }
    for i, (stdout, _) in enumerate(outputs):
        assert comparable(json.loads(stdout)) == comparable(truth[images[i % 3]])
    again = scan(images[0], ScanOptions(cache_dir=cache))[0]
    assert all(layer.from_cache for layer in again.layers)


def cached_rows(cache: Path) -> int:
    try:
        with sqlite3.connect(cache / "layers.sqlite", timeout=30) as db:
            return int(db.execute("SELECT count(*) FROM layer_facts").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created yet


def test_sigkill_mid_scan_leaves_cache_consistent(tmp_path: Path) -> None:
    image = many_layer_image(tmp_path / "img", seed=7, layers=12, file_size=512 << 10)
    cache = tmp_path / "cache"
    rng = random.Random(1)
    for round_number in range(4):
        before = cached_rows(cache)
        proc = cli(image, "--cache-dir", str(cache))
        while cached_rows(cache) <= before and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL, (
            f"round {round_number}: scan ended before the kill"
        )
        with sqlite3.connect(cache / "layers.sqlite") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert before < cached_rows(cache) < 12
    resumed = scan(image, ScanOptions(cache_dir=cache))[0]
    fresh = scan(image, ScanOptions(use_cache=False))[0]
    assert comparable(resumed.model_dump(mode="json")) == comparable(fresh.model_dump(mode="json"))
    assert any(layer.from_cache for layer in resumed.layers)
    assert not all(layer.from_cache for layer in resumed.layers)


def test_derived_image_reads_only_new_layers(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "img")
    base = [layer_tar([file("etc/os-release", "ID=base\n"), file("a", "1")])]
    top = layer_tar([file("b", "2")])
    layout.add_image(base, tag="base")
    layout.add_image([*base, top], tag="derived")
    cache = tmp_path / "cache"
    scan(f"oci:{layout.root}:base", ScanOptions(cache_dir=cache))
    derived = scan(f"oci:{layout.root}:derived", ScanOptions(cache_dir=cache))[0]
    assert [layer.from_cache for layer in derived.layers] == [True, False]
    assert {f.path for f in derived.files} == {"/etc/os-release", "/a", "/b"}
    assert [f.layer for f in derived.files if f.path == "/b"] == [1]
