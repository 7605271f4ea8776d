"""`portwise test`: run an image's probes under a host's constraints and compare with `check`.

A probe that fails under the emulation is run once more without it (no seccomp filter, this
machine's kernel): if it fails there too, it says nothing about the host and is reported as
skipped with that reason; so is a probe the kernel refused with "exec format error". A foreign
image runs through qemu-user only when a binfmt_misc handler is ready for it (runtime/binfmt.py
may register one); without one nothing runs and the report says why and what would fix it.
Each probe's outcome is then compared with the verdict's findings on
the syscalls it exercises; a disagreement is a bug in the model or in the emulation, and the
run's status is DISAGREE whatever it observed.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Literal

from portwise.errors import ToolError, UsageError
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.observation import Agreement, Observed, ProbeResult, RunReport
from portwise.model.verdict import Verdict
from portwise.runtime import binfmt
from portwise.runtime import probes as probe_set
from portwise.runtime.emulate import Emulation, plan
from portwise.runtime.engines import BundleEngine, Engine, PodmanEngine, Raw
from portwise.runtime.trace import failed_calls
from portwise.verdict import check

EngineName = Literal["runc", "crun", "podman"]


@dataclass(frozen=True)
class RunOptions:
    engine: EngineName = "runc"
    commands: list[str] = field(default_factory=list)  # --probe; none: smoke + entrypoint
    exercises: tuple[tuple[str, ...], ...] = ()  # per command: finding subjects it exercises
    entrypoint_args: list[str] | None = None
    timeout: float = 30.0
    trace: bool = False
    podman_runtime: str | None = None
    binfmt_setup: bool = True  # may register a binfmt_misc handler for a foreign image (root)


def open_engine(
    name: EngineName, image: ImageProfile, emulation: Emulation, runtime: str | None
) -> Engine:
    if name == "podman":
        return PodmanEngine(image, emulation, runtime)
    if name in ("runc", "crun"):
        return BundleEngine(name, image, emulation)
    raise UsageError(f"unknown engine {name!r}; use runc, crun or podman")


@contextmanager
def _interrupts_clean_up() -> Iterator[None]:
    """SIGTERM and SIGHUP become KeyboardInterrupt, so every `finally` removes what it made."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _probes(image: ImageProfile, options: RunOptions) -> list[probe_set.Probe]:
    if options.commands:
        extra = list(options.exercises) + [()] * len(options.commands)
        return [probe_set.custom(c, i + 1, image, extra[i]) for i, c in enumerate(options.commands)]
    chosen = list(probe_set.SMOKE)
    entry = probe_set.entrypoint(image, options.entrypoint_args)
    if entry is not None:
        chosen.append(entry)
    return chosen


def predict(
    probe: probe_set.Probe, verdict: Verdict, unreproduced: frozenset[str] = frozenset()
) -> Literal["pass", "fail", "risk"]:
    """The verdict's word on this probe: findings on what it exercises, or on every process.

    A failing finding whose cause the run cannot reproduce (its mechanism or id is in
    `unreproduced`) only makes the prediction a risk: the run cannot confirm or refute it.
    """
    relevant = [
        f
        for f in verdict.findings
        if f.subject == "process" or (f.subject is not None and f.subject in probe.exercises)
    ]
    reproducible = [f for f in relevant if not {f.mechanism, f.id} & unreproduced]
    if any(f.severity == "fail" for f in reproducible):
        return "fail"
    if any(f.severity in ("fail", "risk") for f in relevant):
        return "risk"
    return "pass"


def _agreement(predicted: str, outcome: str) -> Agreement:
    if outcome in ("skipped", "timeout") or predicted == "risk":
        return "inconclusive"
    return "agree" if predicted == outcome else "disagree"


def _result(
    probe: probe_set.Probe, raw: Raw, verdict: Verdict, unreproduced: frozenset[str]
) -> ProbeResult:
    outcome = "timeout" if raw.exit_code is None else "pass" if raw.exit_code == 0 else "fail"
    predicted = predict(probe, verdict, unreproduced)
    return ProbeResult(
        name=probe.name,
        command=list(probe.argv),
        outcome=outcome,
        exit_code=raw.exit_code,
        seconds=raw.seconds,
        stdout=raw.stdout,
        stderr=raw.stderr,
        exercises=list(probe.exercises),
        predicted=predicted,
        agreement=_agreement(predicted, outcome),
    )


Progress = Callable[[str], None]  # told what the run is doing, before it does it


def run_test(
    image: ImageProfile,
    host: HostProfile,
    options: RunOptions,
    progress: Progress | None = None,
) -> RunReport:
    say = progress or (lambda _: None)
    emulation = plan(host, image)
    verdict = check([image], [host]).verdict(0, 0)
    ready: binfmt.Readiness | None = None
    if emulation.foreign is not None:
        say(f"looking for a binfmt_misc handler for {emulation.foreign}")
        ready = binfmt.prepare(emulation.foreign, setup=options.binfmt_setup)
        emulation = _with_binfmt(emulation, ready)
        if not ready.ready:
            why = f"no usable binfmt_misc handler for {ready.machine} code"
            skipped = [_skipped(p, why, verdict, emulation) for p in _probes(image, options)]
            return _report(image, host, options.engine, emulation, verdict, skipped, ready)
    results: list[ProbeResult] = []
    chosen = _probes(image, options)
    with _interrupts_clean_up():
        say(
            "importing the image into a private podman store"
            if options.engine == "podman"
            else f"unpacking the image into a bundle for {options.engine} (umoci)"
        )
        engine = open_engine(options.engine, image, emulation, options.podman_runtime)
        control: Engine | None = None
        try:
            for index, probe in enumerate(chosen, 1):
                absent = probe_set.missing(probe, image)
                if absent:
                    why = f"the image has no {', '.join(absent)}"
                    results.append(_skipped(probe, why, verdict, emulation))
                    continue
                step = f"probe {index}/{len(chosen)}: {probe.name} ({shlex.join(probe.argv)})"
                say(step)
                result = _result(
                    probe, engine.run(probe.argv, options.timeout), verdict, emulation.unreproduced
                )
                if result.outcome == "fail" and _exec_format_error(result.stderr):
                    result = _not_run(result, f"exec format error: {_last_line(result.stderr)}")
                elif result.outcome == "fail":
                    if control is None:
                        control = open_engine(
                            options.engine, image, _unconstrained(emulation), options.podman_runtime
                        )
                    say(f"{step}: failed; again without the host's constraints")
                    again = control.run(probe.argv, options.timeout)
                    if again.exit_code != 0:
                        result = _not_run(
                            result,
                            "fails without the host's constraints too "
                            f"(exit {again.exit_code}): not a portability failure",
                        )
                    elif options.trace:
                        say(f"{step}: failed; again under strace")
                        result = result.model_copy(
                            update={"failed_syscalls": _trace(engine, probe, options)}
                        )
                results.append(result)
        finally:
            engine.close()
            if control is not None:
                control.close()
    return _report(image, host, engine.name, emulation, verdict, results, ready)


def _skipped(
    probe: probe_set.Probe, why: str, verdict: Verdict, emulation: Emulation
) -> ProbeResult:
    return ProbeResult(
        name=probe.name,
        command=list(probe.argv),
        outcome="skipped",
        why=why,
        exercises=list(probe.exercises),
        predicted=predict(probe, verdict, emulation.unreproduced),
        agreement="inconclusive",
    )


def _not_run(result: ProbeResult, why: str) -> ProbeResult:
    return result.model_copy(update={"outcome": "skipped", "agreement": "inconclusive", "why": why})


def _exec_format_error(stderr: str) -> bool:
    """The kernel refused the program (ENOEXEC): a foreign binary with no binfmt handler, or
    not a program at all. It says nothing about the host's constraints: never a FAIL."""
    return "exec format error" in stderr.lower()


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _with_binfmt(emulation: Emulation, ready: binfmt.Readiness) -> Emulation:
    """Say which handler runs the foreign code, or that none does."""
    line = next((e for e in emulation.emulated if "through qemu-user" in e), None)
    emulated = [e for e in emulation.emulated if e != line]
    if ready.handler is not None:
        h = ready.handler
        emulated.append(
            f"{line or ready.machine} (binfmt_misc handler {h.name}, flags {h.flags}, "
            f"interpreter {h.interpreter})"
        )
        return replace(emulation, emulated=emulated)
    return replace(
        emulation,
        emulated=emulated,
        not_emulated=[
            *emulation.not_emulated,
            f"{ready.machine} code: no usable binfmt_misc handler on this machine",
        ],
    )


def _trace(engine: Engine, probe: probe_set.Probe, options: RunOptions) -> list[str]:
    """Run the probe once more under strace -f and keep the probe's failed calls."""
    strace = shutil.which("strace")
    if strace is None:
        raise ToolError("strace is not installed", hint="bash scripts/setup.sh installs it")
    with tempfile.TemporaryDirectory(prefix="portwise-trace-") as tmp:
        out = Path(tmp) / "trace"
        engine.run(
            probe.argv,
            options.timeout,
            wrap=[strace, "-f", "-Y", "-qq", "-s", "64", "-o", str(out)],
        )
        text = out.read_text(errors="replace") if out.exists() else ""
    return failed_calls(text, probe.argv[0])


def _unconstrained(emulation: Emulation) -> Emulation:
    return replace(emulation, seccomp=None, uname26=False, cpu_model=None)


def _report(
    image: ImageProfile,
    host: HostProfile,
    engine: str,
    emulation: Emulation,
    verdict: Verdict,
    results: list[ProbeResult],
    ready: binfmt.Readiness | None = None,
) -> RunReport:
    disagreements = [
        f"{r.name}: predicted {r.predicted}, observed {r.outcome}"
        + (f" ({r.stderr.strip().splitlines()[-1]})" if r.stderr.strip() else "")
        for r in results
        if r.agreement == "disagree"
    ]
    ran = [r for r in results if r.outcome in ("pass", "fail")]
    outcome: Observed = (
        "FAIL" if any(r.outcome == "fail" for r in ran) else "PASS" if ran else "NOT RUN"
    )
    why = hint = None
    if ready is not None and not ready.ready:
        why, hint = f"this machine cannot run {ready.machine} code: {ready.why}", ready.fix
    elif outcome == "NOT RUN":
        reasons = dict.fromkeys(f"{r.name}: {r.why or r.outcome}" for r in results)
        why = "no probe ran to an outcome: " + "; ".join(reasons) if reasons else "no probes"
    agreement: Agreement
    if outcome == "NOT RUN":
        agreement = "inconclusive"
    elif disagreements:
        agreement = "disagree"
    elif verdict.status == outcome and any(r.agreement == "agree" for r in results):
        agreement = "agree"
    else:
        agreement = "inconclusive"
    return RunReport(
        image=image.reference,
        platform=str(image.platform),
        host=host.name,
        engine=engine,
        emulated=emulation.emulated,
        not_emulated=emulation.not_emulated,
        probes=results,
        status="DISAGREE" if agreement == "disagree" else outcome,
        outcome=outcome,
        not_run_why=why,
        not_run_hint=hint,
        host_changes=list(ready.changes) if ready is not None else [],
        predicted=verdict.status,
        agreement=agreement,
        disagreements=disagreements,
    )


DISAGREEMENTS = "disagreements.jsonl"


def record_disagreement(report: RunReport, directory: Path) -> Path | None:
    """Append a disagreeing run to a journal beside the cache: each one is a bug to fix."""
    if report.agreement != "disagree":
        return None
    directory.mkdir(parents=True, exist_ok=True)
    journal = directory / DISAGREEMENTS
    with journal.open("a", encoding="utf-8") as handle:
        handle.write(report.model_dump_json() + "\n")
    return journal
