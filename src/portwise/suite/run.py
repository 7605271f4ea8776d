"""Run a suite: scan its images once, run every case and mitigation, judge each outcome.

A run is as expected when its overall outcome and every probe the suite names match, and it
does not disagree with `portwise check` (unless the case allows it: a disagreement is a bug in
the model or the emulation, and a regression suite is where it must show up). A mitigation run
is as expected when the known failure's probe (or, with no probe named, the whole run) passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from portwise.check import load_images
from portwise.image.scan import ScanOptions
from portwise.model.image import ImageProfile
from portwise.model.observation import RunReport
from portwise.runtime.run import EngineName, RunOptions, record_disagreement, run_test
from portwise.suite.load import Run, Suite
from portwise.suite.results import RunResult, SuiteReport, Verified


@dataclass(frozen=True)
class SuiteOptions:
    engine: EngineName = "runc"
    podman_runtime: str | None = None
    cache_dir: Path | None = None
    journal_dir: Path | None = None  # where disagreements are recorded; None: not recorded
    binfmt_setup: bool = True  # a foreign image may register a binfmt_misc handler (root)


Progress = Callable[[Run, int, int], None]  # (run, index, total), before each run


def run_suite(suite: Suite, options: SuiteOptions, progress: Progress | None = None) -> SuiteReport:
    profiles = _scan(suite, options)
    results: list[RunResult] = []
    for index, run in enumerate(suite.runs):
        if progress is not None:
            progress(run, index, len(suite.runs))
        report = run_test(
            profiles[run.image],
            run.host_profile,
            RunOptions(
                engine=options.engine,
                commands=list(run.commands),
                exercises=run.exercises,
                entrypoint_args=list(run.entrypoint_args)
                if run.entrypoint_args is not None
                else None,
                timeout=run.timeout,
                podman_runtime=options.podman_runtime,
                binfmt_setup=options.binfmt_setup,
            ),
        )
        report = _named(report, run)
        if options.journal_dir is not None:
            record_disagreement(report, options.journal_dir)
        results.append(_judge(run, report))
    return SuiteReport(
        suite=suite.name,
        path=str(suite.path),
        engine=options.engine,
        results=_verified(results),
    )


def _scan(suite: Suite, options: SuiteOptions) -> dict[str, ImageProfile]:
    """Every image a run uses, scanned before anything runs (a bad reference stops it all)."""
    wanted = dict.fromkeys(run.image for run in suite.runs)
    scan_options = ScanOptions(cache_dir=options.cache_dir)
    return {name: load_images([suite.images[name]], scan_options)[0] for name in wanted}


_CUSTOM = re.compile(r"probe-(\d+)\Z")


def _named(report: RunReport, run: Run) -> RunReport:
    """Custom probes run as probe-1, probe-2...; give them the names the suite chose."""
    if not run.commands:
        return report
    names = dict(
        zip((f"probe-{i + 1}" for i in range(len(run.commands))), run.probe_names, strict=True)
    )
    probes = [p.model_copy(update={"name": names.get(p.name, p.name)}) for p in report.probes]
    disagreements = []
    for line in report.disagreements:
        head, sep, rest = line.partition(": ")
        disagreements.append(f"{names.get(head, head)}{sep}{rest}")
    return report.model_copy(update={"probes": probes, "disagreements": disagreements})


def _judge(run: Run, report: RunReport) -> RunResult:
    problems: list[str] = []
    observed = report.outcome.lower()  # DISAGREE is judged below, apart from the outcome
    if run.expect is not None and observed != run.expect:
        problems.append(f"expected {run.expect}, observed {observed}")
    by_name = {p.name: p for p in report.probes}
    seen: list[str] = [observed] if run.expect is not None else []
    for probe, want in run.expect_probes.items():
        result = by_name.get(probe)
        if result is None:
            problems.append(f"probe {probe} did not run (the image has no entrypoint?)")
            seen.append(f"{probe} absent")
            continue
        seen.append(f"{probe} {result.outcome}")
        if result.outcome != want:
            detail = result.why or _last_line(result.stderr)
            problems.append(
                f"probe {probe}: expected {want}, observed {result.outcome}"
                + (f" ({detail})" if detail else "")
            )
    if report.agreement == "disagree" and not run.allow_disagreement:
        problems.extend(f"disagrees with portwise check: {d}" for d in report.disagreements)
    expected = [run.expect] if run.expect is not None else []
    expected.extend(f"{probe} {want}" for probe, want in run.expect_probes.items())
    return RunResult(
        name=run.name,
        kind="mitigation" if run.kind == "mitigation" else "case",
        case=run.case,
        image=run.image,
        host=run.host,
        expected="; ".join(expected),
        observed="; ".join(seen),
        agreement=report.agreement,
        known_failures=list(run.known_failures),
        mitigates=run.mitigates,
        mitigation_verified="not verified"
        if run.mitigations and not any(verify for _, verify in run.mitigations)
        else "",
        ok=not problems,
        problems=problems,
        report=report,
    )


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _verified(results: list[RunResult]) -> list[RunResult]:
    """Each case row says whether its mitigations were verified: yes, no, or not verified."""
    out = []
    for result in results:
        if result.kind == "mitigation":
            result = result.model_copy(update={"mitigation_verified": "yes" if result.ok else "no"})
        else:
            checks = [r.ok for r in results if r.kind == "mitigation" and r.case == result.case]
            if checks:
                verified: Verified = "yes" if all(checks) else "no"
                result = result.model_copy(update={"mitigation_verified": verified})
        out.append(result)
    return out
