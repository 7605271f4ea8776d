"""Readable terminal output (rich) and the scan progress bar."""

from __future__ import annotations

import re
from collections import Counter
from types import TracebackType
from typing import Any, Self

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from portwise.host.seccomp_table import describe
from portwise.knowledge.seccomp import SeccompDecision
from portwise.model.host import Fact, HostProfile, Tool
from portwise.model.image import ImageProfile
from portwise.report.outside import clean, data, line
from portwise.units import human_size


class TransientProgress:
    """A progress display on stderr that is cleared when done; nothing at all unless enabled
    and stderr is a terminal. Subclasses choose the columns and the first description."""

    def __init__(
        self, console: Console, columns: tuple[ProgressColumn, ...], first: str, enabled: bool
    ) -> None:
        self._progress = Progress(
            *columns,
            console=console,
            transient=True,
            disable=not (enabled and console.is_terminal),
        )
        self._task = self._progress.add_task(first, total=None)

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._progress.stop()


class ScanProgress(TransientProgress):
    """A bar over layers on stderr, shown only when stderr is a terminal."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        super().__init__(console, columns, "scanning", enabled)

    def on_layer(self, image: str, index: int, count: int, cached: bool) -> None:
        state = "cached" if cached else "reading"
        self._progress.update(
            self._task,
            total=count,
            completed=index,
            description=escape(clean(f"{image}: layer {index + 1}/{count} ({state})")),
        )


def render_profile(console: Console, profile: ImageProfile, *, show_files: bool) -> None:
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column(overflow="fold")
    summary.add_row("image", data(profile.reference))
    summary.add_row("source", data(profile.source))
    summary.add_row("platform", data(profile.platform))
    if profile.manifest_digest:
        summary.add_row("manifest", data(profile.manifest_digest))
    osr = profile.os_release
    summary.add_row(
        "os",
        line(osr.pretty_name or osr.id or "", f" ({osr.path})")
        if osr
        else data("unknown", "yellow"),
    )
    if profile.libc:
        for lib in profile.libc:
            summary.add_row(
                "libc",
                line(f"{lib.family} {lib.version or '(version unknown)'} ", (lib.evidence, "dim")),
            )
    else:
        summary.add_row("libc", data("none found (static binaries only, or unknown)", "yellow"))
    managers = Counter(p.manager for p in profile.packages)
    summary.add_row(
        "packages", data(", ".join(f"{n} {mgr}" for mgr, n in managers.items()) or "none")
    )
    summary.add_row("files", data(len(profile.files)))
    cfg = profile.config
    if cfg.entrypoint or cfg.cmd:
        summary.add_row("runs", data(" ".join((cfg.entrypoint or []) + (cfg.cmd or []))))
    if cfg.user:
        summary.add_row("user", data(cfg.user))
    console.print(summary)
    render_binaries(console, profile)

    layers = Table(title="layers", title_justify="left")
    for column in ("#", "digest", "stored", "unpacked", "files", "cache", "created by"):
        layers.add_column(column, overflow="fold")
    for layer in profile.layers:
        layers.add_row(
            str(layer.index),
            data((layer.digest or layer.diff_id or "-")[:19]),
            human_size(layer.size),
            human_size(layer.unpacked_size),
            str(layer.file_count),
            "hit" if layer.from_cache else "read",
            data((layer.created_by or "")[:60]),
        )
    console.print(layers)
    if profile.unknowns:
        console.print(
            data(f"portwise could not read everything ({len(profile.unknowns)}):", "yellow")
        )
        for unknown in profile.unknowns[:20]:
            console.print(line(f"  {unknown.location}: {unknown.message}"))
    if show_files:
        for entry in profile.files:
            link = f" -> {entry.link}" if entry.link else ""
            console.print(line(f"{entry.kind:8} L{entry.layer} {entry.path}{link}"))


def render_binaries(console: Console, profile: ImageProfile) -> None:
    facts = profile.binary_summary
    if not facts.elf_files:
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")

    def row(label: str, value: object, style: str = "") -> None:
        table.add_row(data(label, style), data(value))

    row("binaries", f"{facts.elf_files} ELF files")
    if facts.glibc_needed:
        shipped = facts.glibc_shipped or "none found"
        row("glibc needed", f"{facts.glibc_needed.value} (image ships {shipped})")
    for need in facts.needs_newer_glibc:
        row("needs newer glibc", f"{need.value}: {', '.join(need.binaries)}", "red")
    for label, req in (
        ("cpu level", facts.isa_level),
        ("kernel floor", facts.min_kernel),
        ("page alignment", facts.smallest_load_align),
    ):
        if req is not None:
            row(label, f"{req.value} ({req.count} binaries)")
    if facts.cpu_unknown:
        row(
            "cpu unknown",
            f"{facts.cpu_unknown} x86-64 binaries carry no ISA note (--cpu-scan to disassemble)",
            "yellow",
        )
    if facts.isa_level_dispatched:
        row(
            "cpu optional",
            f"up to {facts.isa_level_dispatched.value} behind run-time"
            f" dispatch ({facts.isa_level_dispatched.count} binaries)",
        )
    kinds = [
        (len(facts.static_binaries), "static"),
        (len(facts.go_binaries), "Go"),
        (len(facts.rust_binaries), "Rust"),
        (len(facts.musl_binaries), "musl"),
    ]
    row("kinds", ", ".join(f"{n} {k}" for n, k in kinds if n) or "all dynamic")
    risky = sorted(
        {n.name for n in facts.syscalls for s in n.sources if s.on_failure == "fallback-on-enosys"}
    )
    row(
        "syscalls",
        f"{len(facts.syscalls)} reachable; falls back only on ENOSYS: {', '.join(risky) or 'none'}",
    )
    paths = sorted({s.path for n in facts.syscalls for s in n.sources})
    row("syscall paths", ", ".join(paths) or "none")
    if facts.unresolved_syscall_sites:
        by_path = ", ".join(f"{n} {p}" for p, n in facts.unresolved_syscall_paths.items())
        worst = ", ".join(facts.unresolved_syscall_binaries[:3])
        row(
            "unresolved",
            f"{facts.unresolved_syscall_sites} issuing points whose number is unknown"
            f" ({by_path}); most in {worst}",
            "yellow",
        )
    console.print(table)


def _shown(fact: Fact[Any]) -> Text:
    if fact.value is None:
        return line(("unknown", "yellow"), " ", (f"({fact.unknown or ''})", "dim"))
    return line(fact.value, " ", (f"({fact.source or ''})", "dim"))


def render_host(console: Console, host: HostProfile) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")

    def row(label: str, value: Text | str) -> None:
        table.add_row(data(label), value if isinstance(value, Text) else data(value))

    row("host", data(host.name, "bold"))
    kernel, cpu = host.kernel, host.cpu
    for label, fact in (
        ("kernel", kernel.release),
        ("architecture", kernel.architecture),
        ("page size", kernel.page_size),
        ("vsyscall", kernel.vsyscall),
        ("cgroups", host.cgroup.version),
        ("cpu", cpu.model),
        ("x86-64 level", cpu.x86_64_level),
    ):
        row(label, _shown(fact))
    if cpu.missing_for_next_level:
        row("next level lacks", ", ".join(cpu.missing_for_next_level))
    security = host.security
    row("fips", _shown(security.fips))
    row("selinux", _shown(security.selinux))
    for name, fact in security.sysctls.items():
        if fact.value is not None:
            row(name, _shown(fact))
    handlers = security.binfmt.value
    row(
        "binfmt",
        ", ".join(f"{h.name} [{h.flags}]" for h in handlers if h.enabled)
        if handlers
        else _shown(security.binfmt),
    )
    for label, tools in (("engines", host.engines.engines), ("runtimes", host.engines.runtimes)):
        listed = tools.value
        row(
            label,
            ", ".join(f"{t.name} {t.version.value or '?'}" for t in listed)
            if listed
            else _shown(tools)
            if listed is None
            else "none found",
        )
    engines = host.engines
    row("libseccomp", _shown(engines.libseccomp))
    if engines.libseccomp_package.value is not None:
        row("libseccomp package", _shown(engines.libseccomp_package))
    beyond = engines.libseccomp_resolves.value
    if beyond:
        row("resolves beyond", line(", ".join(beyond), (" (backported)", "dim")))
    for setup in engines.setups:
        profile = setup.seccomp_profile
        row(
            f"engine {setup.engine}",
            line(
                f"{setup.version.value or '?'}: runtime {setup.runtime.value or 'unknown'}"
                f" {setup.runtime_version.value or ''}, seccomp ",
                str(profile.value) if profile.value else "unknown",
                ("" if profile.value else f" ({profile.unknown or ''})", "dim"),
            ),
        )
    if engines.kubelet_seccomp_default.value is not None or engines.setups == []:
        row("kubelet seccompDefault", _shown(engines.kubelet_seccomp_default))
    row("storage d_type", _shown(host.engines.storage_d_type))
    rules = host.engines.iptables_rules.value
    row(
        "iptables rules",
        ", ".join(f"{backend} {n}" for backend, n in rules.items())
        if rules is not None
        else _shown(host.engines.iptables_rules),
    )
    options = kernel.config.value or {}
    row("kernel config", f"{len(options)} relevant options" if options else _shown(kernel.config))
    console.print(table)


def render_seccomp(
    console: Console, host: HostProfile, rows: list[tuple[str, SeccompDecision]] | None
) -> None:
    if rows is None:
        console.print(
            data(
                f"{host.name}: seccomp profile or architecture unknown "
                f"({host.engines.seccomp_profile.unknown or ''})",
                "yellow",
            )
        )
        return
    table = Table(
        title=data(f"{host.name}: {host.engines.seccomp_profile.value}"), title_justify="left"
    )
    for column in ("syscall", "answer", "why"):
        table.add_column(column, overflow="fold")
    for name, decision in rows:
        table.add_row(data(name), data(describe(decision)), data(decision.reason))
    console.print(table)


def host_rows(hosts: list[HostProfile]) -> list[dict[str, Any]]:
    """One summary per host, as `portwise hosts --json` prints it; None where unknown."""

    def tools(fact: Fact[list[Tool]]) -> list[str] | None:
        if fact.value is None:
            return None
        return [f"{t.name} {t.version.value or '?'}" for t in fact.value]

    return [
        {
            "name": host.name,
            "kernel": host.kernel.release.value,
            "architecture": host.kernel.architecture.value,
            "engines": tools(host.engines.engines),
            "runtimes": tools(host.engines.runtimes),
            "cgroup": host.cgroup.version.value,
            "seccomp_profile": host.engines.seccomp_profile.value,
        }
        for host in hosts
    ]


def _kernel_version(release: str | None) -> str | None:
    """5.14.0-427.13.1.el9_4.x86_64 -> 5.14.0: the version rules compare; `host show` has all."""
    return re.split(r"[-+]", release, maxsplit=1)[0] if release else release


def render_hosts(console: Console, hosts: list[HostProfile]) -> None:
    """The catalog as a table: name, kernel, engines, runtimes, architecture, cgroup; the
    name never cut (it is what --host takes), lists one item a line."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_column(overflow="fold")
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_row(
        *(
            data(title, "bold")
            for title in ("host", "kernel", "engine", "runtime", "arch", "cgroup")
        )
    )

    def cell(value: object) -> Text:
        if value is None:
            return data("?", "yellow")
        if isinstance(value, list):
            return data("\n".join(value) or "none", "" if value else "dim", newlines=True)
        return data(value)

    for row in host_rows(hosts):
        table.add_row(
            cell(row["name"]),
            cell(_kernel_version(row["kernel"])),
            cell(row["engines"]),
            cell(row["runtimes"]),
            cell(row["architecture"]),
            cell(row["cgroup"]),
        )
    console.print(table)
    console.print(data("?: not recorded. `portwise host show NAME` shows every fact.", "dim"))
