"""A suite run as a summary table: case, expected, observed, agreement, known failure, mitigation,
and a legend under it that explains every column and every value a cell can hold.

Every run that was not as expected is listed under the table with what differed, and every
disagreement with `portwise check` is printed loudly, as `portwise test` does.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from portwise.report.outside import data, line
from portwise.report.run import AGREE
from portwise.suite.results import SuiteReport

VERIFIED = {"yes": "green", "no": "bold red", "not verified": "yellow", "": ""}
# every column and every value a cell can hold (tests/report/test_suite_legend.py checks it)
LEGEND = (
    "first column: ok = every outcome as expected; NO = not (what differed is listed below)",
    "case: the case's name; a 'mitigated (HOST)' row reruns it with a known failure's mitigation",
    "expected, observed: the run's outcome (pass, fail, not run: nothing ran to an outcome),"
    " then each probe the suite names (pass, fail, timeout, skipped, absent: no such probe)",
    "agreement with portwise check: agree; disagree = a bug in the model or the emulation"
    " (status DISAGREE); inconclusive = nothing to compare (check said RISK, or nothing ran)",
    "known failure: the case's known failures; on a mitigated row, the one it mitigates",
    "mitigation verified: yes = every mitigation run passed; no = one did not; not verified ="
    " mitigations without verify: true; empty = no mitigation",
)


def render_suite(console: Console, report: SuiteReport) -> None:
    passed = sum(r.ok for r in report.results)
    total = len(report.results)
    console.print(
        line(
            "suite ",
            (report.suite, "bold"),
            f" ({report.path}) on {report.engine}: {passed}/{total} runs as expected",
            ("" if report.ok else ", ", ""),
            ("" if report.ok else "UNEXPECTED OUTCOMES", "bold red"),
        )
    )
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("", no_wrap=True)
    for column in ("case", "expected", "observed"):
        table.add_column(column, overflow="fold", ratio=2)
    for column in ("agreement", "known failure", "mitigation verified"):
        table.add_column(column, overflow="fold", ratio=1)
    for r in report.results:
        name = r.name if r.kind == "case" else f"  mitigated ({r.host})"
        known = ", ".join(r.known_failures) if r.kind == "case" else (r.mitigates or "")
        verified = r.mitigation_verified
        table.add_row(
            data("ok", "green") if r.ok else data("NO", "bold red"),
            data(name),
            data(r.expected),
            data(r.observed),
            data(r.agreement, AGREE[r.agreement]),
            data(known),
            data(verified, VERIFIED[verified]),
        )
    console.print(table)
    for text in LEGEND:
        console.print(data(text, "dim"))
    for r in report.results:
        for problem in r.problems:
            style = "bold red" if problem.startswith("disagrees") else "red"
            console.print(line((f"{r.name}:", style), " ", problem))
