"""The verdict table a platform engineer reads: one line per pair, then why and what to do.

The table fits 80 columns: each image x host pair is one line with its status and the cause
that decides it (the most severe finding, real causes before unknown facts), image references
shortened to their last path component; everything else follows below the table, for every
pair with findings, PASS pairs included. Every piece of text taken from a profile or a finding
goes through `report.outside`: never markup, emoji codes or terminal controls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from portwise.model.verdict import STATUS_ORDER, CheckReport, Finding, Verdict
from portwise.report.outside import data, line

SEVERITY_RANK = {"fail": 0, "risk": 1, "info": 2}
STATUS_STYLE = {"PASS": "bold green", "RISK": "bold yellow", "FAIL": "bold red"}
SEVERITY_STYLE = {"fail": "red", "risk": "yellow", "info": "dim"}
TRANSPORTS = ("oci:", "oci-archive:", "docker-archive:", "rootfs:", "containers-storage:")


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
    """Most severe first; among equals, causes before findings that only name an unknown fact;
    then the mechanisms' order (stable, deterministic)."""
    return sorted(findings, key=lambda f: (SEVERITY_RANK[f.severity], bool(f.unknown)))


def short_reference(reference: str) -> str:
    """An image reference as the table shows it: its last path component with the tag
    (oci:/long/path/debian-trixie:latest -> debian-trixie:latest; docker://docker.io/library/
    alpine:3.19 -> alpine:3.19); the details below the table give it in full."""
    ref = reference.removeprefix("docker://")
    for transport in TRANSPORTS:
        ref = ref.removeprefix(transport)
    tail = ref.rstrip("/").rsplit("/", 1)[-1]
    return tail or reference


def cause(verdict: Verdict) -> Text:
    """The finding that decides the status, and how many more there are."""
    findings = ranked(verdict.findings)
    if not findings:
        return _one_line(data("-", "dim"))
    first = findings[0]
    text = data(first.title, SEVERITY_STYLE[first.severity])
    if len(findings) > 1:
        text.append(f" (+{len(findings) - 1})", style="dim")
    return _one_line(text)


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


def _image_labels(verdicts: Sequence[Verdict]) -> dict[tuple[str, str], str]:
    """Short names for the table; the full reference where two would look alike, and the
    platform where the report holds more than one."""
    pairs = list(dict.fromkeys((v.image, v.platform) for v in verdicts))
    shorts = {image: short_reference(image) for image, _ in pairs}
    clashing = {s for s, n in Counter(shorts.values()).items() if n > 1}
    platforms = {platform for _, platform in pairs}
    labels = {}
    for image, platform in pairs:
        label = image if shorts[image] in clashing else shorts[image]
        if len(platforms) > 1:
            label += f" ({platform.removeprefix('linux/')})"
        labels[(image, platform)] = label
    return labels


def _widths(natural: tuple[int, int], room: int) -> tuple[int, int]:
    """Widths of the image and host columns in `room` characters: as they are when they fit,
    else the wider one gives way first, neither below 12."""
    image, host = natural
    while image + host > room and max(image, host) > 12:
        if image >= host:
            image -= 1
        else:
            host -= 1
    return image, host


def verdict_table(report: CheckReport, width: int = 80) -> Table:
    """One line per pair in `width` columns: status, image, host, the deciding cause. An image
    or host shared by every pair is named once in the title instead of in a column."""
    labels = _image_labels(report.verdicts)
    images = {labels[(v.image, v.platform)] for v in report.verdicts}
    hosts = {v.host for v in report.verdicts}
    title = Text(f"portwise {report.portwise_version} check")
    if len(images) == 1 and len(report.verdicts) > 1:
        (first, *_) = report.verdicts
        title.append_text(line(f": {first.image} ({first.platform})"))
    if len(hosts) == 1 and len(report.verdicts) > 1:
        title.append_text(line(f" on {next(iter(hosts))}"))
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
    )
    show_image = len(images) > 1 or len(report.verdicts) == 1
    show_host = len(hosts) > 1 or len(report.verdicts) == 1
    natural = (
        max([len("image"), *map(len, images)]) if show_image else 0,
        max([len("host"), *map(len, hosts)]) if show_host else 0,
    )
    status_width, cause_min = 6, 24
    gap = 2  # a space of padding, a space of divider
    gaps = gap * (1 + show_image + show_host)
    image_width, host_width = _widths(natural, width - status_width - gaps - cause_min)
    cause_width = max(cause_min, width - status_width - gaps - image_width - host_width)
    columns = [("status", status_width)]
    if show_image:
        columns.append(("image", image_width))
    if show_host:
        columns.append(("host", host_width))
    columns.append(("cause", cause_width))
    for name, column_width in columns:
        table.add_column(name, overflow="ellipsis", no_wrap=True, width=column_width)
    for verdict in report.verdicts:
        cells = [data(verdict.status, STATUS_STYLE[verdict.status])]
        if show_image:
            cells.append(data(labels[(verdict.image, verdict.platform)]))
        if show_host:
            cells.append(data(verdict.host))
        table.add_row(*cells, cause(verdict))
    return table


def _one_line(text: Text) -> Text:
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _lines(items: Sequence[str]) -> Text:
    return Text("\n").join(line("- ", item) for item in items)


def finding_detail(finding: Finding) -> RenderableType:
    """One finding as label/value lines; empty parts are left out rather than shown as 'none'."""
    head = line(
        (f"[{finding.severity}]", SEVERITY_STYLE[finding.severity]),
        (f" {finding.id}  ", "bold"),
        finding.title,
    )
    body = Table.grid(padding=(0, 2))
    body.add_column(style="bold", no_wrap=True)
    body.add_column(overflow="fold")
    body.add_row("why", data(finding.explanation))
    for label, items in finding_parts(finding):
        if items:
            body.add_row(label, _lines(items))
    return Group(head, Padding(body, (0, 0, 1, 4)))


def verdict_details(verdict: Verdict) -> RenderableType:
    head = line(
        (verdict.status, STATUS_STYLE[verdict.status]),
        (f"  {verdict.image} ({verdict.platform}) on {verdict.host}", "bold"),
    )
    findings = [finding_detail(f) for f in ranked(verdict.findings)]
    return Group(head, Padding(Group(*findings), (0, 0, 0, 2)))


def render_check(console: Console, report: CheckReport, *, details: bool = True) -> None:
    """The table, a one-line tally, then every pair's findings in full (most severe pairs
    first; a PASS pair's informational findings too)."""
    console.print(verdict_table(report, console.width))
    console.print(summary_line(report.verdicts))
    if not details:
        return
    order = {status: n for n, status in enumerate(reversed(STATUS_ORDER))}
    for verdict in sorted(report.verdicts, key=lambda v: order[v.status]):
        if verdict.findings:
            console.print()
            console.print(verdict_details(verdict))
