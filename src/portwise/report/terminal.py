"""Readable terminal output (rich) and the scan progress bar."""

from __future__ import annotations

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

from portwise.host.seccomp_table import describe
from portwise.knowledge.seccomp import SeccompDecision
from portwise.model.host import Fact, HostProfile
from portwise.model.image import ImageProfile
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
            description=f"{image}: layer {index + 1}/{count} ({state})",
        )


def render_profile(console: Console, profile: ImageProfile, *, show_files: bool) -> None:
    summary = Table.grid(padding=(0, 2))
    summary.add_row("[bold]image", profile.reference)
    summary.add_row("source", profile.source)
    summary.add_row("platform", str(profile.platform))
    if profile.manifest_digest:
        summary.add_row("manifest", profile.manifest_digest)
    osr = profile.os_release
    summary.add_row("os", f"{osr.pretty_name or osr.id} ({osr.path})" if osr else "[yellow]unknown")
    if profile.libc:
        for lib in profile.libc:
            summary.add_row(
                "libc", f"{lib.family} {lib.version or '(version unknown)'} [dim]{lib.evidence}"
            )
    else:
        summary.add_row("libc", "[yellow]none found (static binaries only, or unknown)")
    managers = Counter(p.manager for p in profile.packages)
    summary.add_row("packages", ", ".join(f"{n} {mgr}" for mgr, n in managers.items()) or "none")
    summary.add_row("files", str(len(profile.files)))
    cfg = profile.config
    if cfg.entrypoint or cfg.cmd:
        summary.add_row("runs", " ".join((cfg.entrypoint or []) + (cfg.cmd or [])))
    if cfg.user:
        summary.add_row("user", cfg.user)
    console.print(summary)
    render_binaries(console, profile)

    layers = Table(title="layers", title_justify="left")
    for column in ("#", "digest", "stored", "unpacked", "files", "cache", "created by"):
        layers.add_column(column, overflow="fold")
    for layer in profile.layers:
        layers.add_row(
            str(layer.index),
            (layer.digest or layer.diff_id or "-")[:19],
            human_size(layer.size),
            human_size(layer.unpacked_size),
            str(layer.file_count),
            "hit" if layer.from_cache else "read",
            (layer.created_by or "")[:60],
        )
    console.print(layers)
    if profile.unknowns:
        console.print(f"[yellow]portwise could not read everything ({len(profile.unknowns)}):")
        for unknown in profile.unknowns[:20]:
            console.print(f"  {unknown.location}: {unknown.message}", highlight=False)
    if show_files:
        for entry in profile.files:
            link = f" -> {entry.link}" if entry.link else ""
            console.print(f"{entry.kind:8} L{entry.layer} {entry.path}{link}", highlight=False)


def render_binaries(console: Console, profile: ImageProfile) -> None:
    facts = profile.binary_summary
    if not facts.elf_files:
        return
    table = Table.grid(padding=(0, 2))
    table.add_row("[bold]binaries", f"{facts.elf_files} ELF files")
    if facts.glibc_needed:
        shipped = facts.glibc_shipped or "none found"
        table.add_row("glibc needed", f"{facts.glibc_needed.value} (image ships {shipped})")
    for need in facts.needs_newer_glibc:
        table.add_row("[red]needs newer glibc", f"{need.value}: {', '.join(need.binaries)}")
    for label, req in (
        ("cpu level", facts.isa_level),
        ("kernel floor", facts.min_kernel),
        ("page alignment", facts.smallest_load_align),
    ):
        if req is not None:
            table.add_row(label, f"{req.value} ({req.count} binaries)")
    if facts.cpu_unknown:
        table.add_row(
            "[yellow]cpu unknown",
            f"{facts.cpu_unknown} x86-64 binaries carry no ISA note (--cpu-scan to disassemble)",
        )
    if facts.isa_level_dispatched:
        table.add_row(
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
    table.add_row("kinds", ", ".join(f"{n} {k}" for n, k in kinds if n) or "all dynamic")
    risky = sorted(
        {n.name for n in facts.syscalls for s in n.sources if s.on_failure == "fallback-on-enosys"}
    )
    table.add_row(
        "syscalls",
        f"{len(facts.syscalls)} reachable; falls back only on ENOSYS: {', '.join(risky) or 'none'}",
    )
    paths = sorted({s.path for n in facts.syscalls for s in n.sources})
    table.add_row("syscall paths", ", ".join(paths) or "none")
    if facts.unresolved_syscall_sites:
        by_path = ", ".join(f"{n} {p}" for p, n in facts.unresolved_syscall_paths.items())
        worst = ", ".join(facts.unresolved_syscall_binaries[:3])
        table.add_row(
            "[yellow]unresolved",
            escape(
                f"{facts.unresolved_syscall_sites} issuing points whose number is unknown"
                f" ({by_path}); most in {worst}"
            ),
        )
    console.print(table)


def _shown(fact: Fact[Any]) -> str:
    if fact.value is None:
        return f"[yellow]unknown[/] [dim]({escape(fact.unknown or '')})"
    return f"{escape(str(fact.value))} [dim]({escape(fact.source or '')})"


def render_host(console: Console, host: HostProfile) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_row("[bold]host", escape(host.name))
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
        table.add_row(label, _shown(fact))
    if cpu.missing_for_next_level:
        table.add_row("next level lacks", ", ".join(cpu.missing_for_next_level))
    security = host.security
    table.add_row("fips", _shown(security.fips))
    table.add_row("selinux", _shown(security.selinux))
    for name, fact in security.sysctls.items():
        if fact.value is not None:
            table.add_row(name, _shown(fact))
    handlers = security.binfmt.value
    table.add_row(
        "binfmt",
        ", ".join(f"{h.name} [{h.flags}]" for h in handlers if h.enabled)
        if handlers
        else _shown(security.binfmt),
    )
    for label, tools in (("engines", host.engines.engines), ("runtimes", host.engines.runtimes)):
        listed = tools.value
        table.add_row(
            label,
            ", ".join(f"{t.name} {t.version.value or '?'}" for t in listed)
            if listed
            else _shown(tools)
            if listed is None
            else "none found",
        )
    engines = host.engines
    table.add_row("libseccomp", _shown(engines.libseccomp))
    if engines.libseccomp_package.value is not None:
        table.add_row("libseccomp package", _shown(engines.libseccomp_package))
    beyond = engines.libseccomp_resolves.value
    if beyond:
        table.add_row("resolves beyond", f"{escape(', '.join(beyond))} [dim](backported)")
    for setup in engines.setups:
        table.add_row(
            f"engine {escape(setup.engine)}",
            f"{escape(setup.version.value or '?')}: runtime "
            f"{escape(str(setup.runtime.value or 'unknown'))}"
            f" {escape(setup.runtime_version.value or '')}, seccomp "
            + (
                escape(str(setup.seccomp_profile.value))
                if setup.seccomp_profile.value
                else f"unknown [dim]({escape(setup.seccomp_profile.unknown or '')})"
            ),
        )
    if engines.kubelet_seccomp_default.value is not None or engines.setups == []:
        table.add_row("kubelet seccompDefault", _shown(engines.kubelet_seccomp_default))
    table.add_row("storage d_type", _shown(host.engines.storage_d_type))
    rules = host.engines.iptables_rules.value
    table.add_row(
        "iptables rules",
        ", ".join(f"{backend} {n}" for backend, n in rules.items())
        if rules is not None
        else _shown(host.engines.iptables_rules),
    )
    options = kernel.config.value or {}
    table.add_row(
        "kernel config", f"{len(options)} relevant options" if options else _shown(kernel.config)
    )
    console.print(table)


def render_seccomp(
    console: Console, host: HostProfile, rows: list[tuple[str, SeccompDecision]] | None
) -> None:
    if rows is None:
        console.print(
            f"[yellow]{escape(host.name)}: seccomp profile or architecture unknown "
            f"({escape(host.engines.seccomp_profile.unknown or '')})"
        )
        return
    table = Table(title=f"{host.name}: {host.engines.seccomp_profile.value}", title_justify="left")
    for column in ("syscall", "answer", "why"):
        table.add_column(column, overflow="fold")
    for name, decision in rows:
        table.add_row(name, describe(decision), escape(decision.reason))
    console.print(table)
