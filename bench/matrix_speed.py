"""Matrix speed, phase by phase: the per-image reduction, the per-host reduction, the judging.

    .venv/bin/python bench/matrix_speed.py [--images 1000] [--hosts 1000] [--against REV]

Printed side by side for 1000 x 1000 and 1000 x 10: seconds to reduce every image to what
the mechanisms need (`needs`), every host to what they offer (`offers`), to judge each distinct
pair of interfaces (`judge`), and the whole `verdict.check` (`total`, measured separately, with
the verdicts of every pair read back); the ratio of the total to the 1 s goal of issue 13.
`--against REV` runs the same measurement on that git revision's src/ (exported with `git
archive` to a temporary directory) in a child process and prints it in the same table, so the
old code path stays measurable after it is replaced.

Images: the real fixture images (tests/fixtures/build_images.sh) scanned once, then a fleet of
builds derived from them, each built image named by four references (latest, 1.N, 1.N.0 and a
digest reference: a registry's tags). Each build has its own manifest and config digest;
builds differ realistically: one in 7 lacks one of its programs, one in 13 lacks one syscall
use (a program that issued it was dropped), one in 11 adds a JDK 8u181 by its environment, one
in 17 declares CUDA 11.8, one in 5 carries a bumped package version (an interface no
different). Two fleets: a build's profile read once and named by each reference (one
ImageProfile per reference, sharing its facts' objects, as a store keeping a profile per digest
gives; verdict.check reduces identical objects once), and, marked *, every reference's profile
read anew, sharing no list or model with any other (as separate scans give): the worst case,
where every image is reduced.

Hosts: the reference catalog, each host as many named nodes with kernel patch releases, runc
versions and libseccomp releases varied as a fleet has them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FIXTURES = Path(os.environ.get("PORTWISE_FIXTURES", "/var/cache/portwise-fixtures/images-v1"))
REAL = [
    "debian-bullseye-amd64",
    "debian-bookworm-amd64",
    "debian-trixie-amd64",
    "debian-bookworm-arm64",
    "derived-bookworm-amd64",
    "bench-bookworm-python-amd64",
]
TAGS = 4
RUNC = ["1.0.0-rc10", "1.0.2", "1.1.12", "1.2.5", None]
LIBSECCOMP = [None, "2.5.1", "2.5.4"]  # None: the catalog's own value
GOAL = 1.0


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _build(base: Any, b: int) -> dict[str, Any]:
    """The facts of build b that differ from its scanned base profile."""
    from portwise.model.image import BinarySummary, ImageConfig

    update: dict[str, Any] = {
        "manifest_digest": _digest(f"manifest {b}"),
        "config_digest": _digest(f"config {b}"),
    }
    if b % 7 == 3 and base.binaries:
        update["binaries"] = base.binaries[1:]
    if b % 13 == 6 and base.binary_summary.syscalls:
        summary: BinarySummary = base.binary_summary
        update["binary_summary"] = summary.model_copy(update={"syscalls": summary.syscalls[1:]})
    env = list(base.config.env)
    if b % 11 == 5:
        env.append("JAVA_VERSION=8u181")
    if b % 17 == 8:
        env.append("CUDA_VERSION=11.8.0")
    if env != base.config.env:
        config: ImageConfig = base.config
        update["config"] = config.model_copy(update={"env": env})
    if b % 5 == 1 and base.packages:
        first = base.packages[0]
        bumped = first.model_copy(update={"version": first.version + "+deb1"})
        update["packages"] = [bumped, *base.packages[1:]]
    return update


def _unshared(profile: Any) -> Any:
    """A copy holding no container or model of the original (a profile read anew)."""
    update = {
        k: list(v) if isinstance(v, list) else v.model_copy() if hasattr(v, "model_copy") else v
        for k, v in profile.__dict__.items()
    }
    return profile.model_copy(update=update)


def images(count: int, cache: Path, *, shared: bool = True) -> list[Any]:
    """shared: each build read once and named by its references (a store keeping one profile
    per digest); else every reference read anew, sharing nothing with the others."""
    from portwise.image.scan import ScanOptions, scan

    real = [scan(f"oci:{FIXTURES}/oci/{n}:latest", ScanOptions(cache_dir=cache))[0] for n in REAL]
    out = []
    build = None
    for i in range(count):
        b = i // TAGS
        if i % TAGS == 0:
            base = real[b % len(real)]
            build = base.model_copy(update=_build(base, b))
        assert build is not None
        tag = ["latest", f"1.{b}", f"1.{b}.0", f"@{build.manifest_digest}"][i % TAGS]
        sep = "" if tag.startswith("@") else ":"
        named = build.model_copy(update={"reference": f"registry.example/app{b}{sep}{tag}"})
        out.append(named if shared else _unshared(named))
    return out


def _variant(host: Any, i: int) -> Any:
    from portwise.model.host import Fact, Tool

    release = host.kernel.release.value
    kernel = host.kernel
    if release is not None:
        kernel = kernel.model_copy(update={"release": Fact.of(f"{release}.{i % 3}", "bench")})
    runc = RUNC[i % len(RUNC)]
    runtimes = (
        Fact.of([Tool(name="runc", path="/usr/bin/runc", version=Fact.of(runc, "bench"))], "b")
        if runc
        else Fact.missing("bench: not recorded")
    )
    update: dict[str, Any] = {"runtimes": runtimes}
    libseccomp = LIBSECCOMP[(i // len(RUNC)) % len(LIBSECCOMP)]
    if libseccomp is not None:
        update["libseccomp"] = Fact.of(libseccomp, "bench")
    engines = host.engines.model_copy(update=update)
    return host.model_copy(
        update={"name": f"{host.name}-node{i}", "kernel": kernel, "engines": engines}
    )


def hosts(count: int) -> list[Any]:
    from portwise.host.catalog import catalog_names, load_catalog_host

    catalog = [load_catalog_host(n) for n in catalog_names()]
    return [_variant(catalog[i % len(catalog)], i) for i in range(count)]


def _seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def phases(images_: Sequence[Any], hosts_: Sequence[Any]) -> dict[str, float]:
    """The whole check first (the first case in a fresh process: knowledge memos cold), then
    each phase alone."""
    from portwise import verdict
    from portwise.rules import MECHANISMS

    total_s, matrix = _seconds(lambda: verdict.check(images_, hosts_))
    read_s, statuses = _seconds(
        lambda: [matrix.status(i, h) for i in range(len(images_)) for h in range(len(hosts_))]
    )
    if hasattr(verdict, "reduce_images"):  # the grouped path of issue 13
        needs_s, image_side = _seconds(lambda: verdict.reduce_images(images_, MECHANISMS))
        offers_s, host_side = _seconds(lambda: verdict.reduce_hosts(hosts_, MECHANISMS))
        judge_s, _ = _seconds(lambda: verdict.judge_groups(image_side, host_side, MECHANISMS))
        image_groups, host_groups = len(image_side.keys), len(host_side.keys)
    else:  # older code: the same reductions through _reduce
        reduce = verdict._reduce
        needs_s, ikeys = _seconds(lambda: [reduce(MECHANISMS, "needs", i) for i in images_])
        offers_s, hkeys = _seconds(lambda: [reduce(MECHANISMS, "offers", h) for h in hosts_])
        image_groups, host_groups = len(set(ikeys)), len(set(hkeys))
        judge_s = float("nan")
    if judge_s != judge_s:  # nan: judging is what the whole check adds to the reductions
        judge_s = max(total_s - needs_s - offers_s, 0.0)
    return {
        "needs": needs_s,
        "offers": offers_s,
        "judge": judge_s,
        "total": total_s + read_s,
        "pairs": len(statuses),
        "image groups": image_groups,
        "host groups": host_groups,
        "fail": sum(s == "FAIL" for s in statuses),
        "risk": sum(s == "RISK" for s in statuses),
    }


def measure(n_images: int, n_hosts: int, cache: Path) -> dict[str, dict[str, float]]:
    start = time.perf_counter()
    fleet_images = images(n_images, cache)
    print(f"  scanned and varied images in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    fleet_hosts = hosts(n_hosts)
    out = {
        f"{n_images} x {n_hosts}": phases(fleet_images, fleet_hosts),
        f"{n_images} x 10": phases(fleet_images, fleet_hosts[:10]),
    }
    del fleet_images
    apart = images(n_images, cache, shared=False)
    out[f"{n_images} x {n_hosts} *"] = phases(apart, fleet_hosts)
    out[f"{n_images} x 10 *"] = phases(apart, fleet_hosts[:10])
    return out


def _against(rev: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", rev, "src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": f"{tmp}/src"}
        sizes = ["--images", str(args.images), "--hosts", str(args.hosts)]
        out = subprocess.run(
            [sys.executable, __file__, "--json", *sizes, "--cache", str(args.cache)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    result: dict[str, dict[str, float]] = json.loads(out)
    return result


def table(rows: dict[str, dict[str, dict[str, float]]]) -> None:
    print(
        f"{'code':<10} {'case':<15} {'pairs':>8} {'img-if':>6} {'host-if':>7} {'needs s':>8}"
        f" {'offers s':>8} {'judge s':>8} {'total s':>8} {'/goal':>6} {'FAIL':>7} {'RISK':>7}"
    )
    for code, cases in rows.items():
        for case, r in cases.items():
            print(
                f"{code:<10} {case:<15} {int(r['pairs']):>8} {int(r['image groups']):>6}"
                f" {int(r['host groups']):>7} {r['needs']:>8.2f} {r['offers']:>8.2f}"
                f" {r['judge']:>8.2f} {r['total']:>8.2f} {r['total'] / GOAL:>5.1f}x"
                f" {int(r['fail']):>7} {int(r['risk']):>7}"
            )
    if len(rows) == 2:
        (_, new), (old_label, old) = rows.items()
        for case in new:
            ratio = old[case]["total"] / new[case]["total"]
            same = all(old[case][k] == new[case][k] for k in ("pairs", "fail", "risk"))
            print(
                f"{case}: {ratio:.1f}x faster than {old_label}"
                f" (FAIL/RISK counts {'identical' if same else 'DIFFER'})"
            )
    print("*: every reference read anew (no profile shared between the references of a build)")
    print(f"goal (issue 13): 1,000 x 1,000 in <= {GOAL:.0f} s on 2 cores")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--against", metavar="REV", help="also measure this git revision")
    parser.add_argument("--cache", type=Path, help="layer cache directory (default: temporary)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        args.cache = args.cache or Path(tmp)
        if args.json:
            print(json.dumps(measure(args.images, args.hosts, args.cache)))
            return
        rows = {"this tree": measure(args.images, args.hosts, args.cache)}
        if args.against:
            rows[args.against[:10]] = _against(args.against, args)
    table(rows)


if __name__ == "__main__":
    main()
