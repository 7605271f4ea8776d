"""The suite table's legend explains every column and every value its cells can hold."""

from __future__ import annotations

import io
import typing

from rich.console import Console

from portwise.model.observation import Agreement, RunReport
from portwise.report.suite import render_suite
from portwise.suite.results import RunResult, SuiteReport, Verified


def result(
    name: str, agreement: Agreement, verified: Verified, ok: bool, kind: str = "case"
) -> RunResult:
    report = RunReport(
        image="oci:trixie",
        platform="linux/amd64",
        host="debian-12",
        engine="runc",
        emulated=[],
        not_emulated=[],
        probes=[],
        status="DISAGREE" if agreement == "disagree" else "PASS",
        outcome="PASS",
        predicted="PASS",
        agreement=agreement,
    )
    return RunResult(
        name=name,
        kind="mitigation" if kind == "mitigation" else "case",
        case=name,
        image="trixie",
        host="debian-12",
        expected="fail; threads fail",
        observed="not run; threads skipped; entrypoint absent",
        agreement=agreement,
        known_failures=["clone3-eperm"] if kind == "case" else [],
        mitigates="clone3-eperm" if kind == "mitigation" else None,
        mitigation_verified=verified,
        ok=ok,
        problems=[] if ok else ["expected fail, observed not run"],
        report=report,
    )


def test_every_mark_and_value_shown_is_explained_under_the_table() -> None:
    agreements = typing.get_args(Agreement)
    verified = [v for v in typing.get_args(Verified)]
    rows = [
        result(f"case-{i}", agreements[i % len(agreements)], v, ok=i % 2 == 0)
        for i, v in enumerate(verified)
    ]
    rows.append(result("case-0", "agree", "yes", ok=True, kind="mitigation"))
    report = SuiteReport(suite="all", path="all.yaml", engine="runc", results=rows)
    console = Console(file=io.StringIO(), width=80, record=True)
    render_suite(console, report)
    text = console.export_text()
    table, _, legend = text.partition("first column:")
    legend = " ".join(legend.split())
    lines = table.splitlines()
    header = " ".join(lines[1 : next(i for i, line in enumerate(lines) if "━" in line)])
    for column in ("case", "expected", "observed", "agreement", "known", "mitigation"):
        assert column in header
        assert column in legend
    shown = {"ok", "NO", "mitigated (HOST)", *agreements, "yes", "no", "not verified", "empty"}
    shown |= {"pass", "fail", "not run", "timeout", "skipped", "absent"}
    for value in shown:
        assert value in legend, value
    marks = {line.split()[0] for line in lines if line[:2] in ("ok", "NO")}
    assert marks == {"ok", "NO"}
