"""Accuracy bench: `portwise check` against real runs of real images under historical profiles.

    .venv/bin/python bench/accuracy.py [--quick] [--foreign-only] [--json OUT] [--rebuild]
                                       [--no-trace]

Images: Debian bullseye, bookworm and trixie with Go (fzf, a Go probe), Rust (ripgrep, fd),
JDK 17/21 and CPython programs, built once with mmdebstrap (bench/accuracy/images.py), plus
build_images.sh's plain releases when that build is complete, and foreign images (bookworm
arm64: CPython, xz, OpenSSL, coreutils, ripgrep, fd, uutils) that run here through qemu-user
and this machine's binfmt_misc handler (F flag); --foreign-only runs only those. Hosts: the
catalog's debian-12 with the engine's default profile, the runtime (runc with or without its
ENOSYS stub, crun) and the kernel overridden, and this machine's binfmt_misc handlers
(bench/accuracy/hosts.py). Each profile is enforced by this machine's real runc or crun as the
engine would hand it over (bench/accuracy/enforce.py: not portwise's own model of the profile).
Each probe (bench/accuracy/probes.py) runs for real; what it exercises is measured by strace in
an unconstrained run; a probe that fails unconstrained too says nothing about a host and is not
judged. A foreign image's probes, the unconstrained and traced runs included, run through
qemu-user: the filter then sees qemu's x86-64 calls (its own and those it issues for the
program), and so does strace, so what a probe exercises is measured in the calls the filter
really judges; a static busybox is the container's PID 1 there, so a qemu that dies exits
instead of hanging (bench/accuracy/foreign.py). The verdict's word on a probe is
portwise.runtime.run.predict. Printed: confusion matrices per probe and per image x host pair,
false PASS (must be 0), exact agreement, RISK share, culprit agreement, every disagreement,
figures per host variant and per image architecture (the foreign images' matrices apart), and
a cross-check: each probe also run under portwise test's own filter (the model's answers).

It judges whichever portwise it imports and says which. To judge one commit while others edit
the checkout: git worktree add --detach /tmp/pw HEAD; PYTHONPATH=/tmp/pw/src .venv/bin/python
bench/accuracy.py. A full run takes about 13 minutes on 2 cores; --quick about one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

from accuracy import hosts, images, probes, tally
from accuracy.calls import traced
from accuracy.enforce import oci_filter
from accuracy.foreign import ForeignEngine

import portwise
from portwise.image.binaries import summarize
from portwise.image.langruntimes import reactions_for
from portwise.image.runtimes import resolve
from portwise.image.scan import ScanOptions, scan
from portwise.knowledge.architectures import machine_of
from portwise.model.image import ImageProfile
from portwise.model.verdict import Verdict
from portwise.runtime import binfmt
from portwise.runtime.emulate import Emulation, local_machine, plan
from portwise.runtime.engines import BundleEngine
from portwise.runtime.probes import Probe, missing
from portwise.runtime.run import RunOptions, _trace, predict
from portwise.verdict import check

TIMEOUT = 60.0


def _source() -> str:
    """Which portwise is judged: its source directory and commit (others edit the checkout)."""
    src = Path(portwise.__file__).resolve().parents[1]
    head = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(src), "status", "--porcelain", "--", "."], capture_output=True, text=True
    ).stdout.strip()
    return f"portwise from {src} at {head or '?'}" + (" with uncommitted changes" if dirty else "")


def _exercised(engine: BundleEngine, probe: Probe) -> tuple[set[str], set[str], set[str]]:
    """Every syscall of an unconstrained run under strace -f, and the programs it executed and
    the files it opened (its shared libraries among them)."""
    strace = shutil.which("strace") or "strace"
    with tempfile.TemporaryDirectory(prefix="accuracy-trace-") as tmp:
        out = Path(tmp) / "trace"
        engine.run(probe.argv, TIMEOUT, wrap=[strace, "-f", "-Y", "-qq", "-s", "0", "-o", str(out)])
        text = out.read_text(errors="replace") if out.exists() else ""
    return traced(text, probe.argv[0])


def own_programs(image: ImageProfile, executed: set[str], opened: set[str]) -> ImageProfile:
    """The image reduced to the ELF files a probe ran or loaded, with their syscall uses
    summarised as the scan does: `portwise check` on it judges that probe's programs only."""
    files = {f.path: f for f in image.files}
    paths = {resolve(files, p) for p in executed | opened}
    binaries = [b for b in image.binaries if b.path in paths]
    summary = summarize(binaries, list(image.libc), partial(reactions_for, image))
    return image.model_copy(update={"binaries": binaries, "binary_summary": summary})


def _subjects(probe: Probe, verdict: Verdict) -> list[str]:
    return sorted(
        {
            f"{f.subject} {f.severity}"
            for f in verdict.findings
            if f.severity != "info" and (f.subject == "process" or f.subject in probe.exercises)
        }
    )


def _outcome(exit_code: int | None) -> str:
    return "timeout" if exit_code is None else "pass" if exit_code == 0 else "fail"


def bench_image(
    ref: str,
    image: ImageProfile,
    variants: list[hosts.Variant],
    verdicts: list[Verdict],
    battery: list[Probe],
    trace: bool,
    emulate: bool,
) -> list[tally.Record]:
    name = Path(ref.removeprefix("oci:").rsplit(":", 1)[0]).name
    records: list[tally.Record] = []
    machine = machine_of(image.platform.architecture)
    kind = BundleEngine
    if machine != local_machine():  # through qemu-user: only with a handler (never set up here)
        ready = binfmt.prepare(machine, setup=False)
        if not ready.ready:
            print(f"  {ref}: not run, {ready.why} (fix: {ready.fix})")
            return records
        kind = ForeignEngine  # a static shell as PID 1, so a dying qemu does not hang
    host0 = variants[0].host()
    free = replace(plan(host0, image), seccomp=None, cpu_model=None)
    runtimes = sorted({v.runtime for v in variants})
    engines = {rt: kind(rt, image, free) for rt in runtimes}
    try:
        present = [p for p in battery if not missing(p, image)]
        measured: dict[str, Probe] = {}
        unconstrained: dict[tuple[str, str], int | None] = {}
        own: dict[str, ImageProfile] = {}
        for p in present:
            calls, executed, opened = _exercised(engines[runtimes[-1]], p)  # runc if used
            measured[p.name] = replace(p, exercises=tuple(sorted(calls)))
            own[p.name] = own_programs(image, executed, opened)
            for rt, engine in engines.items():
                unconstrained[rt, p.name] = engine.run(p.argv, TIMEOUT).exit_code
        hosts_all = [v.host() for v in variants]
        names = sorted(own)
        own_matrix = check([own[n] for n in names], hosts_all)
        for h, (variant, verdict) in enumerate(zip(variants, verdicts, strict=True)):
            host = hosts_all[h]
            emulation: Emulation = plan(host, image)
            engine = engines[variant.runtime]
            # portwise test's own filter (from the model), for the cross-check
            modelled = replace(emulation, cpu_model=None)
            enforced = replace(
                emulation,
                seccomp=oci_filter(variant.enforcement()),
                cpu_model=None,
                unreproduced=emulation.unreproduced | {"cpu"},
            )
            engine.emulation = enforced
            for p in battery:
                probe = measured.get(p.name, p)
                rec = tally.Record(
                    name,
                    variant.name,
                    p.name,
                    predict(probe, verdict, engine.emulation.unreproduced),
                    "skipped",
                    verdict.status,
                    subjects=_subjects(probe, verdict),
                    arch=machine,
                )
                if p.name in own:
                    mine = own_matrix.verdict(names.index(p.name), h)
                    rec.predicted_own = predict(probe, mine, engine.emulation.unreproduced)
                records.append(rec)
                if p.name not in measured:
                    rec.why = "program not in the image"
                    continue
                if unconstrained[variant.runtime, p.name] != 0:
                    rec.why = "fails unconstrained too"
                    continue
                raw = engine.run(probe.argv, TIMEOUT)
                rec.exit_code, rec.stderr = raw.exit_code, raw.stderr
                rec.observed = _outcome(raw.exit_code)
                if rec.observed == "fail" and trace:
                    rec.failed_calls = _trace(engine, probe, RunOptions(timeout=TIMEOUT))
                if emulate:
                    engine.emulation = modelled
                    rec.emulated = _outcome(engine.run(probe.argv, TIMEOUT).exit_code)
                    engine.emulation = enforced
    finally:
        for engine in engines.values():
            engine.close()
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset that runs in < 3 minutes")
    parser.add_argument(
        "--foreign-only",
        action="store_true",
        help="only the foreign-architecture images (through qemu-user)",
    )
    parser.add_argument("--json", type=Path, help="write every record and the figures here")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the bench's images")
    parser.add_argument("--no-trace", action="store_true", help="no strace of failed probes")
    parser.add_argument(
        "--no-emulation",
        action="store_true",
        help="do not also run each probe under portwise test's own filter (the cross-check)",
    )
    parser.add_argument("--cache", type=Path, default=images.CACHE)
    args = parser.parse_args()
    start = time.perf_counter()
    print(_source())
    if args.foreign_only:
        recipes = [r for r in images.RECIPES if r.foreign]
    else:
        recipes = [r for r in images.RECIPES if not args.quick or r.name in images.QUICK]
    refs = images.ensure(recipes, args.cache, args.rebuild)
    if not args.quick and not args.foreign_only:
        refs += images.fixture_images()
    variants = [v for v in hosts.VARIANTS if not args.quick or v.name in hosts.QUICK]
    battery = [p for p in probes.BATTERY if not args.quick or p.name in probes.QUICK]
    # a fresh layer cache: the checkout's analyzers change under us, their cache keys may not
    with tempfile.TemporaryDirectory(prefix="accuracy-scan-") as tmp:
        profiles = [scan(ref, ScanOptions(cache_dir=Path(tmp)))[0] for ref in refs]
    print(f"scanned in {time.perf_counter() - start:.0f} s")
    matrix = check(profiles, [v.host() for v in variants])
    print(f"{len(refs)} images x {len(variants)} host variants x {len(battery)} probes")
    records: list[tally.Record] = []
    for i, (ref, image) in enumerate(zip(refs, profiles, strict=True)):
        verdicts = [matrix.verdict(i, h) for h in range(len(variants))]
        done = bench_image(
            ref, image, variants, verdicts, battery, not args.no_trace, not args.no_emulation
        )
        records += done
        judged = sum(r.observed in ("pass", "fail") for r in done)
        print(f"  {ref}: {judged} judged runs ({time.perf_counter() - start:.0f} s)", flush=True)
    lines, figures = tally.summary(records)
    print("\n".join(lines))
    own_lines, own_figures = tally.summary([replace(r, predicted=r.predicted_own) for r in records])
    print("\njudged on the programs each probe ran (check on the image reduced to the ELF files")
    print("it executed or opened, as strace saw them):")
    print("\n".join(line for line in own_lines if not line.lstrip().startswith("pair")))
    figures["own_programs"] = own_figures["probe"]
    print("\n".join(tally.by_variant(records)))
    print("\n".join(tally.by_arch(records)))
    foreign = [r for r in records if r.arch != tally.NATIVE]
    if foreign:
        foreign_lines, foreign_figures = tally.summary(foreign)
        print("\nforeign images only (through qemu-user):")
        print("\n".join(foreign_lines))
        figures["foreign"] = {
            "probe": foreign_figures["probe"],
            "pair": foreign_figures["pair"],
            "by_arch": {
                arch: tally.summary([r for r in foreign if r.arch == arch])[1]["probe"]
                for arch in sorted({r.arch for r in foreign})
            },
        }
    wrong = tally.disagreements(records)
    print(f"\ndisagreements ({len(wrong)}; a RISK prediction counts as one), grouped:")
    print("\n".join(tally.grouped(wrong)))
    print("\nevery disagreement:")
    print("\n".join(tally.table(wrong)))
    if not args.no_emulation:
        print("\n".join(tally.emulation(records)))
    print(f"\n{time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps({"figures": figures, "records": [r.as_dict() for r in records]}, indent=1)
        )


if __name__ == "__main__":
    main()
