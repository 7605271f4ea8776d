"""The cache heals itself (issue 13): real SQLite files damaged in the test, a real full tmpfs,
real locks held by another process, a real read-only file, real edits of cached entries and of
root filesystem trees. Nothing is mocked."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from imagekit import OciLayout, file, layer_tar

from portwise.image import cache as cache_module
from portwise.image.analyzers import DEFAULT_ANALYZERS
from portwise.image.cache import CACHE_SCHEMA, LayerCache
from portwise.image.scan import ScanOptions, scan
from portwise.image.treesig import tree_signature

DB = "layers.sqlite"


def portwise(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "portwise", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def comparable(profile: dict[str, Any]) -> dict[str, Any]:
    return {**profile, "layers": [{**layer, "from_cache": None} for layer in profile["layers"]]}


def image(root: Path, files: int = 300, seed: int = 1) -> str:
    """Two layers; the first lists many files so its cached facts span several pages."""
    rng = random.Random(seed)
    layout = OciLayout(root)
    names = [f"usr/share/data/{rng.randbytes(8).hex()}/{i}" for i in range(files)]
    layout.add_image(
        [
            layer_tar(
                [file(name, f"{i}\n") for i, name in enumerate(names)]
                + [file("etc/os-release", "ID=debian\nVERSION_ID=12\n")]
            ),
            layer_tar([file("opt/app", "#!/bin/sh\n")]),
        ]
    )
    return f"oci:{root}"


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, Any]]:
    """An image, a cache holding it (closed, its WAL checkpointed), and its uncached profile."""
    root = tmp_path_factory.mktemp("warm")
    ref = image(root / "img")
    scan(ref, ScanOptions(cache_dir=root / "cache"))
    truth = scan(ref, ScanOptions(use_cache=False))[0].model_dump(mode="json")
    assert sorted(os.listdir(root / "cache")) == [DB]
    return ref, root / "cache", truth


def truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def truncate_to_one_page(path: Path) -> None:
    os.truncate(path, 4096)


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(2).randbytes(path.stat().st_size))


def random_pages(path: Path) -> None:
    """Keep the header page, overwrite every other page: SQLite's own checks must catch it."""
    data = path.read_bytes()
    path.write_bytes(data[:4096] + random.Random(3).randbytes(len(data) - 4096))


def foreign_schema(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('not a cache')")
    db.close()


def wrong_columns(path: Path) -> None:
    """Our schema number and table names, other columns: still not ours."""
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE layer_facts (key TEXT, facts BLOB)")
        db.execute("CREATE TABLE image_profiles (key TEXT)")
        db.execute(f"PRAGMA user_version = {CACHE_SCHEMA}")
    db.close()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated-half": truncate_half,
    "truncated-one-page": truncate_to_one_page,
    "random-bytes": random_bytes,
    "random-pages": random_pages,
    "foreign-schema": foreign_schema,
    "wrong-columns": wrong_columns,
}


def damaged_copy(warm_cache: Path, tmp_path: Path, damage: str) -> Path:
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    DAMAGE[damage](cache / DB)
    return cache


def set_aside(cache: Path) -> list[Path]:
    """The databases moved aside (their WAL files go with them, under the same new name)."""
    return sorted(p for p in cache.glob(f"{DB}.damaged-*") if not p.name.endswith(("-wal", "-shm")))


def assert_healthy(cache: Path) -> None:
    with sqlite3.connect(cache / DB) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA user_version").fetchone() == (CACHE_SCHEMA,)
    db.close()


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_database_is_set_aside_and_the_scan_completes(
    warm: tuple[str, Path, dict[str, Any]], tmp_path: Path, damage: str
) -> None:
    ref, warm_cache, truth = warm
    cache = damaged_copy(warm_cache, tmp_path, damage)
    before = (cache / DB).read_bytes()
    done = portwise("scan", "--json", ref, "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    assert comparable(json.loads(done.stdout)) == comparable(truth)
    (moved,) = set_aside(cache)
    assert moved.read_bytes() == before  # kept as it was, for whoever wants to look
    assert f"warning: the layer cache {cache / DB}" in done.stderr.replace("\n", "")
    assert f"moved it to {moved}" in done.stderr.replace("\n", "")
    assert_healthy(cache)
    again = scan(ref, ScanOptions(cache_dir=cache))[0]  # the fresh database holds the image
    assert all(layer.from_cache for layer in again.layers)


@pytest.mark.parametrize("damage", DAMAGE)
def test_cache_info_and_clear_never_crash_on_a_damaged_cache(
    warm: tuple[str, Path, dict[str, Any]], tmp_path: Path, damage: str
) -> None:
    _, warm_cache, _ = warm
    cache = damaged_copy(warm_cache, tmp_path, damage)
    info = portwise("cache", "info", "--cache-dir", str(cache))
    assert info.returncode == 0, info.stderr
    (moved,) = set_aside(cache)
    assert f"moved it to {moved}" in info.stderr.replace("\n", "")
    assert "0 cached layers" in info.stdout and f"damaged, set aside: {moved}" in info.stdout
    assert_healthy(cache)

    DAMAGE[damage](cache / DB)  # damaged again: clear heals too, and deletes the copies
    cleared = portwise("cache", "clear", "--cache-dir", str(cache))
    assert cleared.returncode == 0, cleared.stderr
    assert "removed 0 cached layers" in cleared.stdout
    assert "2 damaged copies set aside" in cleared.stdout
    assert set_aside(cache) == []
    assert_healthy(cache)


def test_info_finds_damage_a_count_does_not_read(
    warm: tuple[str, Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Overflow pages of a cached entry overwritten: count(*) never reads them, quick_check
    does, so `cache info` reports the damage before a scan meets it."""
    _, warm_cache, _ = warm
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    data = bytearray((cache / DB).read_bytes())
    last = len(data) - 4096  # the highest page: part of an entry, not of the table's b-tree
    data[last:] = random.Random(4).randbytes(4096)
    (cache / DB).write_bytes(bytes(data))
    info = portwise("cache", "info", "--cache-dir", str(cache))
    assert info.returncode == 0, info.stderr
    assert len(set_aside(cache)) == 1, info.stdout + info.stderr


def test_old_schema_is_upgraded_in_place_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The cache of the previous portwise (schema 1, no checksums) is not damage."""
    cache = tmp_path / "cache"
    cache.mkdir()
    with sqlite3.connect(cache / DB) as db:
        db.execute(
            "CREATE TABLE layer_facts (key TEXT PRIMARY KEY, facts BLOB NOT NULL,"
            " created REAL NOT NULL, last_used REAL NOT NULL)"
        )
        db.execute("INSERT INTO layer_facts VALUES ('v1|sha256:x|a', x'00', 0, 0)")
    db.close()
    with caplog.at_level(logging.WARNING):
        opened = LayerCache(cache)
        assert opened.count() == 0
        opened.close()
    assert caplog.records == []
    assert set_aside(cache) == []
    assert_healthy(cache)


HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(120)
"""


def test_a_lock_held_past_the_busy_timeout_is_set_aside(
    warm: tuple[str, Path, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another process holds the write lock and never lets go (a stopped or hung portwise).
    The busy timeout is shortened so the test waits 1 s instead of 120 s; the lock is real."""
    _, warm_cache, _ = warm
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    monkeypatch.setattr(cache_module, "BUSY_TIMEOUT_S", 1.0)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(cache / DB)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        other = image(tmp_path / "other", files=20, seed=9)  # not cached: the scan must write
        with caplog.at_level(logging.WARNING):
            (profile,) = scan(other, ScanOptions(cache_dir=cache))
    finally:
        holder.kill()
        holder.wait()
    assert not any(layer.from_cache for layer in profile.layers)
    (moved,) = set_aside(cache)
    (record,) = caplog.records
    assert "locked for over 1 s" in record.getMessage() and str(moved) in record.getMessage()
    assert_healthy(cache)
    assert LayerCache(cache).count() == 2  # the fresh database took the two layers


# root ignores file permissions; without CAP_DAC_OVERRIDE it obeys them like anyone else
WITHOUT_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_a_read_only_database_is_set_aside(
    warm: tuple[str, Path, dict[str, Any]], tmp_path: Path
) -> None:
    """layers.sqlite left read-only (e.g. written once by `sudo portwise`): the directory is
    still ours, so the file is moved aside and a fresh one written."""
    ref, warm_cache, truth = warm
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    (cache / DB).chmod(0o444)
    done = portwise("scan", "--json", ref, "--cache-dir", str(cache), prefix=WITHOUT_DAC)
    assert done.returncode == 0 and done.stderr == "", done.stderr  # reading it is fine
    assert comparable(json.loads(done.stdout)) == comparable(truth)
    assert set_aside(cache) == []
    other = image(tmp_path / "other", files=20, seed=9)  # not cached: the scan must write
    done = portwise("scan", "--json", other, "--cache-dir", str(cache), prefix=WITHOUT_DAC)
    assert done.returncode == 0, done.stderr
    (moved,) = set_aside(cache)
    assert "not writable" in done.stderr and str(moved) in done.stderr.replace("\n", "")
    assert_healthy(cache)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_a_read_only_cache_directory_means_uncached(
    warm: tuple[str, Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Nothing can be moved or created: the scan goes on uncached and says so; the cache is
    left exactly as it was."""
    ref, warm_cache, truth = warm
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    random_bytes(cache / DB)
    before = (cache / DB).read_bytes()
    (cache / DB).chmod(0o444)
    cache.chmod(0o555)
    try:
        done = portwise("scan", "--json", ref, "--cache-dir", str(cache), prefix=WITHOUT_DAC)
        info = portwise("cache", "info", "--cache-dir", str(cache), prefix=WITHOUT_DAC)
    finally:
        cache.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert comparable(json.loads(done.stdout)) == comparable(truth)
    assert "not used for this run" in done.stderr
    assert info.returncode == 0 and "not usable" in info.stdout, info.stdout + info.stderr
    assert sorted(os.listdir(cache)) == [DB] and (cache / DB).read_bytes() == before


# ---- a full disk: a real tmpfs, mounted by the test -------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """mount(size) -> a fresh tmpfs of that many bytes; every mount is undone at teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
            check=True,
        )
        mounted.append(point)
        return point

    try:
        yield mount
    finally:
        for point in mounted:
            subprocess.run(["umount", str(point)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Take every free byte but `leave`, with a real file."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with (disk / "filler").open("wb") as out:
        out.write(b"\0" * max(0, free - leave))
        out.flush()
        os.fsync(out.fileno())


@pytest.mark.parametrize(
    ("room", "layers_cached"),
    [(0, 0), (96 << 10, 0), (128 << 10, 2)],
    ids=["full-before-the-database", "full-at-the-first-write", "full-after-the-layers"],
)
def test_full_disk_finishes_uncached_with_a_warning(
    small_disk: Callable[[int], Path], tmp_path: Path, room: int, layers_cached: int
) -> None:
    ref = image(tmp_path / "img", files=3000, seed=5)  # ~200 KiB of cached facts
    truth = scan(ref, ScanOptions(use_cache=False))[0].model_dump(mode="json")
    disk = small_disk(1 << 20)
    fill(disk, room)
    cache = disk / "cache"
    done = portwise("scan", "--json", ref, "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    assert comparable(json.loads(done.stdout)) == comparable(truth)
    assert "full" in done.stderr and str(cache / DB) in done.stderr.replace("\n", "")
    assert "Traceback" not in done.stderr
    assert set_aside(cache) == []  # a full disk is not damage: nothing moved
    assert LayerCache(cache).count() == layers_cached
    again = portwise("scan", "--json", ref, "--cache-dir", str(cache))  # still full: same
    assert again.returncode == 0, again.stderr
    assert comparable(json.loads(again.stdout)) == comparable(truth)
    info = portwise("cache", "info", "--cache-dir", str(cache))
    assert info.returncode == 0, info.stderr
    (disk / "filler").unlink()  # room again: the cache works, and what it holds is sound
    scan(ref, ScanOptions(cache_dir=cache))
    (hit,) = scan(ref, ScanOptions(cache_dir=cache))
    assert all(layer.from_cache for layer in hit.layers)
    assert comparable(hit.model_dump(mode="json")) == comparable(truth)


# ---- tampered entries: edited in the database, their checksum fails ---------------------------


def edit_entries(cache: Path, table: str, change: Callable[[Any], Any]) -> int:
    """Rewrite every entry of `table` through `change`, leaving its checksum as it was."""
    with sqlite3.connect(cache / DB) as db:
        rows = db.execute(f"SELECT key, value FROM {table}").fetchall()
        for key, value in rows:
            edited = json.dumps(change(json.loads(zlib.decompress(value)))).encode()
            db.execute(
                f"UPDATE {table} SET value = ? WHERE key = ?",
                (zlib.compress(edited), key),
            )
    db.close()
    return len(rows)


def test_a_tampered_layer_entry_is_a_miss_never_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ref = image(tmp_path / "img", files=5)
    cache = tmp_path / "cache"
    truth = scan(ref, ScanOptions(cache_dir=cache))[0].model_dump(mode="json")

    def plant(facts: dict[str, Any]) -> dict[str, Any]:
        facts["entries"].append(["usr/bin/planted", "file", 1, 0o755, "", 0])
        return facts

    assert edit_entries(cache, "layer_facts", plant) == 2
    edit_entries(cache, "image_profiles", lambda p: {**p, "reference": "planted"})
    with caplog.at_level(logging.WARNING):
        (profile,) = scan(ref, ScanOptions(cache_dir=cache))
    assert comparable(profile.model_dump(mode="json")) == comparable(truth)
    assert "/usr/bin/planted" not in {f.path for f in profile.files}
    assert [layer.from_cache for layer in profile.layers] == [False, False]  # read again
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3 and all("failed its checksum" in m for m in messages)
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the entries were replaced with sound ones
        (again,) = scan(ref, ScanOptions(cache_dir=cache))
    assert caplog.records == [] and all(layer.from_cache for layer in again.layers)


def test_a_tampered_profile_is_rebuilt_from_the_layers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ref = image(tmp_path / "img", files=5)
    cache = tmp_path / "cache"
    truth = scan(ref, ScanOptions(cache_dir=cache))[0].model_dump(mode="json")
    edit_entries(
        cache, "image_profiles", lambda p: {**p, "os_release": {**p["os_release"], "id": "x"}}
    )
    with caplog.at_level(logging.WARNING):
        (profile,) = scan(ref, ScanOptions(cache_dir=cache))
    assert profile.os_release is not None and profile.os_release.id == "debian"
    assert comparable(profile.model_dump(mode="json")) == comparable(truth)
    assert all(layer.from_cache for layer in profile.layers)  # the layer entries were sound
    (record,) = caplog.records
    assert "failed its checksum" in record.getMessage() and "profile" in record.getMessage()


def test_a_cached_profile_is_the_profile_built_from_layers(tmp_path: Path) -> None:
    """The whole-image entry answers a warm rescan; it must equal what the layers give."""
    ref = image(tmp_path / "img", files=50)
    cache = tmp_path / "cache"
    cold = scan(ref, ScanOptions(cache_dir=cache))[0]
    warm_profile = scan(ref, ScanOptions(cache_dir=cache))[0]
    with sqlite3.connect(cache / DB) as db:
        db.execute("DELETE FROM image_profiles")
    db.close()
    from_layers = scan(ref, ScanOptions(cache_dir=cache))[0]
    assert [layer.from_cache for layer in cold.layers] == [False, False]
    assert warm_profile == from_layers
    assert comparable(cold.model_dump(mode="json")) == comparable(from_layers.model_dump())


# ---- root filesystem directories, cached by their tree signature ------------------------------


def rootfs_tree(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=debian\nVERSION_ID=12\n")
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(
        "Package: hello\nStatus: install ok installed\nVersion: 2.10-3\nArchitecture: amd64\n\n"
    )
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy(shutil.which("true") or "/bin/true", root / "usr/bin/true")
    (root / "usr/bin/sh").symlink_to("true")
    return root


def test_rootfs_directory_is_cached_and_an_edit_is_seen(tmp_path: Path) -> None:
    root = rootfs_tree(tmp_path / "tree")
    cache = tmp_path / "cache"
    ref = f"rootfs:{root}"
    (cold,) = scan(ref, ScanOptions(cache_dir=cache))
    (warm_profile,) = scan(ref, ScanOptions(cache_dir=cache))
    assert not cold.layers[0].from_cache and warm_profile.layers[0].from_cache
    assert comparable(cold.model_dump(mode="json")) == comparable(
        warm_profile.model_dump(mode="json")
    )
    # the same number of bytes, the old mtime put back: the change time still tells
    status = root / "var/lib/dpkg/status"
    stamp = status.stat()
    status.write_text(status.read_text().replace("2.10-3", "2.10-4"))
    os.utime(status, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (edited,) = scan(ref, ScanOptions(cache_dir=cache))
    assert not edited.layers[0].from_cache
    assert [p.version for p in edited.packages] == ["2.10-4"]
    (root / "etc/new").write_text("x")
    (added,) = scan(ref, ScanOptions(cache_dir=cache))
    assert not added.layers[0].from_cache and "/etc/new" in {f.path for f in added.files}
    (uncached,) = scan(ref, ScanOptions(use_cache=False))
    assert comparable(added.model_dump(mode="json")) == comparable(uncached.model_dump())


def test_tree_signature_reads_metadata_only(tmp_path: Path) -> None:
    root = rootfs_tree(tmp_path / "tree")
    first = tree_signature(root)
    assert first is not None and first == tree_signature(root)
    target = root / "usr/bin/true"
    target.chmod(0o700)
    assert tree_signature(root) != first
    second = tree_signature(root)
    (root / "usr/bin/sh").unlink()
    (root / "usr/bin/sh").symlink_to("/etc/os-release")  # not followed: only its own metadata
    assert tree_signature(root) not in (first, second)
    assert tree_signature(tmp_path / "missing") is None


class TreeToucher:
    """A real analyzer that edits the tree while the scan reads it, as another process might."""

    name = "toucher"
    version = 1

    def __init__(self, root: Path) -> None:
        self.root = root

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path == "etc/os-release"

    def analyze(self, path: str, content: bytes) -> Any:
        (self.root / "etc/late").write_text(str(time.time_ns()))
        return None


def test_a_tree_changed_while_read_is_not_cached(tmp_path: Path) -> None:
    root = rootfs_tree(tmp_path / "tree")
    cache = tmp_path / "cache"
    options = ScanOptions(cache_dir=cache, analyzers=(*DEFAULT_ANALYZERS, TreeToucher(root)))
    scan(f"rootfs:{root}", options)
    assert LayerCache(cache).count() == 0
    (again,) = scan(f"rootfs:{root}", options)  # changed again while read: still not cached
    assert not again.layers[0].from_cache


def test_concurrent_processes_heal_a_damaged_cache_once(
    warm: tuple[str, Path, dict[str, Any]], tmp_path: Path
) -> None:
    ref, warm_cache, truth = warm
    cache = damaged_copy(warm_cache, tmp_path, "random-bytes")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "portwise", "scan", "--json", ref, "--cache-dir", str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        assert comparable(json.loads(stdout)) == comparable(truth)
    assert len(set_aside(cache)) == 1
    assert_healthy(cache)


def test_a_newer_portwise_cache_is_left_alone(
    warm: tuple[str, Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Two portwise versions may share a cache directory: the older one must not destroy the
    newer one's database, so it scans uncached and says why."""
    ref, warm_cache, truth = warm
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    with sqlite3.connect(cache / DB) as db:
        db.execute(f"PRAGMA user_version = {CACHE_SCHEMA + 1}")
    db.close()
    before = (cache / DB).read_bytes()
    done = portwise("scan", "--json", ref, "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    assert comparable(json.loads(done.stdout)) == comparable(truth)
    assert "written by a newer portwise" in done.stderr
    assert set_aside(cache) == [] and (cache / DB).read_bytes() == before
