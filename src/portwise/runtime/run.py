"""`portwise test`: run an image's probes under a host's constraints and compare with `check`.

A probe that fails under the emulation is run once more without it (no seccomp filter, this
machine's kernel): if it fails there too, it says nothing about the host and is reported as
skipped with that reason. Each probe's outcome is then compared with the verdict's findings on
the syscalls it exercises; a disagreement is a bug in the model or in the emulation.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Literal

from portwise.errors import ToolError, UsageError
from portwise.model.host import HostProfile
from portwise.model.image import ImageProfile
from portwise.model.observation import Agreement, ProbeResult, RunReport
from portwise.model.verdict import Verdict
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


def run_test(image: ImageProfile, host: HostProfile, options: RunOptions) -> RunReport:
    emulation = plan(host, image)
    verdict = check([image], [host]).verdict(0, 0)
    results: list[ProbeResult] = []
    with _interrupts_clean_up():
        engine = open_engine(options.engine, image, emulation, options.podman_runtime)
        control: Engine | None = None
        try:
            for probe in _probes(image, options):
                absent = probe_set.missing(probe, image)
                if absent:
                    results.append(
                        ProbeResult(
                            name=probe.name,
                            command=list(probe.argv),
                            outcome="skipped",
                            why=f"the image has no {', '.join(absent)}",
                            exercises=list(probe.exercises),
                            predicted=predict(probe, verdict, emulation.unreproduced),
                            agreement="inconclusive",
                        )
                    )
                    continue
                result = _result(
                    probe, engine.run(probe.argv, options.timeout), verdict, emulation.unreproduced
                )
                if result.outcome == "fail":
                    if control is None:
                        control = open_engine(
                            options.engine, image, _unconstrained(emulation), options.podman_runtime
                        )
                    again = control.run(probe.argv, options.timeout)
                    if again.exit_code != 0:
                        result = result.model_copy(
                            update={
                                "outcome": "skipped",
                                "agreement": "inconclusive",
                                "why": "fails without the host's constraints too "
                                f"(exit {again.exit_code}): not a portability failure",
                            }
                        )
                    elif options.trace:
                        result = result.model_copy(
                            update={"failed_syscalls": _trace(engine, probe, options)}
                        )
                results.append(result)
        finally:
            engine.close()
            if control is not None:
                control.close()
    return _report(image, host, engine.name, emulation, verdict, results)


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
) -> RunReport:
    disagreements = [
        f"{r.name}: predicted {r.predicted}, observed {r.outcome}"
        + (f" ({r.stderr.strip().splitlines()[-1]})" if r.stderr.strip() else "")
        for r in results
        if r.agreement == "disagree"
    ]
    ran = [r for r in results if r.outcome in ("pass", "fail")]
    status: Literal["PASS", "FAIL", "NOT RUN"] = (
        "FAIL" if any(r.outcome == "fail" for r in ran) else "PASS" if ran else "NOT RUN"
    )
    why = None
    if status == "NOT RUN":
        reasons = dict.fromkeys(f"{r.name}: {r.why or r.outcome}" for r in results)
        why = "no probe ran to an outcome: " + "; ".join(reasons) if reasons else "no probes"
    agreement: Agreement
    if status == "NOT RUN":
        agreement = "inconclusive"
    elif disagreements:
        agreement = "disagree"
    elif verdict.status == status and any(r.agreement == "agree" for r in results):
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
        status=status,
        not_run_why=why,
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
