"""A real run beside its prediction: probes, what was emulated, and any disagreement, loudly."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from portwise.model.observation import RunReport
from portwise.report.outside import clean, data, line
from portwise.report.terminal import TransientProgress

STYLE = {"pass": "green", "fail": "bold red", "timeout": "red", "skipped": "dim"}
STATUS_STYLE = {
    "PASS": "green",
    "FAIL": "bold red",
    "NOT RUN": "bold yellow",
    "DISAGREE": "bold magenta",
}
AGREE = {"agree": "green", "disagree": "bold red", "inconclusive": "yellow"}


class RunProgress(TransientProgress):
    """What `portwise test` is doing (scanning, unpacking, probe 3/7...) as a spinner line on
    stderr, cleared when done; nothing at all unless enabled (stderr a terminal, no --quiet)."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        super().__init__(console, columns, "starting", enabled)

    def say(self, text: str) -> None:
        """Show this step now (every step is drawn, however short)."""
        self._progress.update(self._task, description=escape(clean(text)), refresh=True)


def render_run(console: Console, report: RunReport) -> None:
    observed = f" (observed {report.outcome})" if report.status != report.outcome else ""
    console.print(
        line(
            (report.image, "bold"),
            f" ({report.platform}) under ",
            (report.host, "bold"),
            f" on {report.engine}: ",
            (report.status, STATUS_STYLE[report.status]),
            f"{observed}, predicted {report.predicted}, ",
            (report.agreement, AGREE[report.agreement]),
        )
    )
    table = Table(show_edge=False, pad_edge=False)
    for column in ("probe", "outcome", "predicted", "agreement", "seconds", "detail"):
        table.add_column(column, overflow="fold")
    for p in report.probes:
        detail = p.why or (p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "")
        if p.failed_syscalls:
            detail += ("; " if detail else "") + "failed: " + ", ".join(p.failed_syscalls[:8])
        table.add_row(
            data(p.name),
            data(p.outcome, STYLE[p.outcome]),
            data(p.predicted),
            data(p.agreement, AGREE[p.agreement]),
            f"{p.seconds:.2f}",
            data(detail),
        )
    console.print(table)
    for label, items in (
        ("emulated", report.emulated),
        ("not emulated", report.not_emulated),
        ("changed this machine", report.host_changes),
    ):
        for item in items:
            console.print(line("  ", (f"{label}:", "bold"), " ", item))
    for item in report.disagreements:
        console.print(
            line(
                ("DISAGREEMENT with portwise check:", "bold red"),
                " ",
                item,
                " (a bug in the model or the emulation)",
            )
        )
