"""The verdict table a platform engineer reads: one row per pair, then why and what to do.

Every piece of text taken from a profile or a finding is printed as a rich ``Text``, never as
markup: image references, syscalls and kernel options contain brackets and colons that rich
would otherwise read as markup or emoji codes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from portwise.model.verdict import STATUS_ORDER, CheckReport, Finding, Verdict

SEVERITY_RANK = {"fail": 0, "risk": 1, "info": 2}
STATUS_STYLE = {"PASS": "bold green", "RISK": "bold yellow", "FAIL": "bold red"}
SEVERITY_STYLE = {"fail": "red", "risk": "yellow", "info": "dim"}


def finding_parts(finding: Finding) -> tuple[tuple[str, Sequence[str]], ...]:
    """The labelled lists of a finding in reading order: every renderer prints these."""
    return (
        ("image side", finding.evidence.image),
        ("host side", finding.evidence.host),
        ("fix on host", finding.mitigations_host),
        ("fix in image", finding.mitigations_image),
        ("unknown", finding.unknown),
        ("incidents", finding.incidents),
        ("references", finding.references),
    )


def ranked(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, keeping the mechanisms' order among equals (stable, deterministic)."""
    return sorted(findings, key=lambda f: SEVERITY_RANK[f.severity])


def headline(verdict: Verdict, top: int = 3) -> Text:
    """The titles that decide the status, so the table alone says what to look at first."""
    findings = ranked(verdict.findings)
    if verdict.status != "PASS":
        findings = [f for f in findings if f.severity != "info"]
    text = Text()
    for n, finding in enumerate(findings[:top]):
        if n:
            text.append("\n")
        text.append(finding.title, style=SEVERITY_STYLE[finding.severity])
    if len(findings) > top:
        text.append(f"\n(+{len(findings) - top} more)", style="dim")
    return text


def summary_line(verdicts: Sequence[Verdict]) -> Text:
    counts = Counter(v.status for v in verdicts)
    text = Text(f"{len(verdicts)} pair{'s' if len(verdicts) != 1 else ''}: ")
    for n, status in enumerate(reversed(STATUS_ORDER)):
        if n:
            text.append(", ")
        text.append(
            f"{counts[status]} {status}", style=STATUS_STYLE[status] if counts[status] else ""
        )
    return text


def verdict_table(report: CheckReport) -> Table:
    table = Table(title=f"portwise {report.portwise_version} check", title_justify="left")
    for column in ("image", "platform", "host", "status", "findings"):
        table.add_column(column, overflow="fold")
    for verdict in report.verdicts:
        table.add_row(
            Text(verdict.image),
            Text(verdict.platform),
            Text(verdict.host),
            Text(verdict.status, style=STATUS_STYLE[verdict.status]),
            headline(verdict) if verdict.findings else Text("-", style="dim"),
        )
    return table


def _lines(items: Sequence[str]) -> Text:
    return Text("\n").join(Text(f"- {item}") for item in items)


def finding_detail(finding: Finding) -> RenderableType:
    """One finding as label/value lines; empty parts are left out rather than shown as 'none'."""
    head = Text()
    head.append(f"[{finding.severity}]", style=SEVERITY_STYLE[finding.severity])
    head.append(f" {finding.id}  ", style="bold")
    head.append(finding.title)
    body = Table.grid(padding=(0, 2))
    body.add_column(style="bold", no_wrap=True)
    body.add_column(overflow="fold")
    body.add_row("why", Text(finding.explanation))
    for label, items in finding_parts(finding):
        if items:
            body.add_row(label, _lines(items))
    return Group(head, Padding(body, (0, 0, 1, 4)))


def verdict_details(verdict: Verdict) -> RenderableType:
    head = Text()
    head.append(verdict.status, style=STATUS_STYLE[verdict.status])
    head.append(f"  {verdict.image} ({verdict.platform}) on {verdict.host}", style="bold")
    findings = [finding_detail(f) for f in ranked(verdict.findings)]
    return Group(head, Padding(Group(*findings), (0, 0, 0, 2)))


def render_check(console: Console, report: CheckReport, *, details: bool = True) -> None:
    """The table, a one-line tally, then every non-PASS pair's findings in full."""
    console.print(verdict_table(report))
    console.print(summary_line(report.verdicts))
    if not details:
        return
    for verdict in report.verdicts:
        if verdict.status != "PASS":
            console.print()
            console.print(verdict_details(verdict))
